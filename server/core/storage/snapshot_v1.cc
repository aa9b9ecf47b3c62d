#include "server/core/storage/snapshot_v1.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "server/core/storage/record_codec.h"
#include "server/core/storage/wal.h"

namespace related::storage {
namespace {

constexpr char kMagic[] = "RELSNAP1";  // 8 bytes
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;
constexpr uint32_t kTrailerMarker = 0xFFFFFFFFu;
constexpr size_t kTrailerBytes = 4 + 8 + 4;
constexpr size_t kFlushBytes = 1 << 20;

}  // namespace

std::string SnapshotName(uint64_t segment) {
  return absl::StrFormat("snapshot-%020d.snap", segment);
}

uint64_t ParseSnapshotName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "snapshot-") ||
      !absl::ConsumeSuffix(&name, ".snap") || name.size() != 20) {
    return 0;
  }
  uint64_t segment = 0;
  return absl::SimpleAtoi(name, &segment) ? segment : 0;
}

absl::StatusOr<SnapshotWriter> SnapshotWriter::Start(const std::string& dir,
                                                     uint64_t segment,
                                                     int dimension) {
  const std::string final_path = absl::StrCat(dir, "/", SnapshotName(segment));
  const std::string tmp_path = final_path + ".tmp";
  auto file = File::Create(tmp_path);
  if (!file.ok()) return file.status();
  SnapshotWriter writer(dir, tmp_path, final_path, *std::move(file));
  Encoder header;
  header.buffer().append(kMagic, 8);
  header.U32(kFormatVersion);
  header.U32(static_cast<uint32_t>(dimension));
  header.U64(segment);
  writer.buffer_ = std::move(header.buffer());
  return writer;
}

SnapshotWriter::~SnapshotWriter() {
  if (!finished_ && !tmp_path_.empty()) RemoveFile(tmp_path_).IgnoreError();
}

absl::Status SnapshotWriter::Flush() {
  crc_ = Crc32(buffer_, crc_);
  absl::Status s = file_.Write(buffer_);
  buffer_.clear();
  return s;
}

absl::Status SnapshotWriter::Add(const Article& article) {
  Encoder record;
  record.ArticleRecord(article);
  Encoder length;
  length.U32(static_cast<uint32_t>(record.buffer().size()));
  buffer_ += length.buffer();
  buffer_ += record.buffer();
  ++count_;
  return buffer_.size() >= kFlushBytes ? Flush() : absl::OkStatus();
}

absl::Status SnapshotWriter::Finish() {
  Encoder marker;
  marker.U32(kTrailerMarker);
  marker.U64(count_);
  buffer_ += marker.buffer();
  if (absl::Status s = Flush(); !s.ok()) return s;
  Encoder crc;
  crc.U32(crc_);
  if (absl::Status s = file_.Write(crc.buffer()); !s.ok()) return s;
  if (absl::Status s = file_.Sync(); !s.ok()) return s;
  if (absl::Status s = RenameFile(tmp_path_, final_path_); !s.ok()) return s;
  finished_ = true;
  return SyncDir(dir_);
}

namespace {

// A snapshot file's frame checked: its header, checksum and trailer.
struct SnapshotFrame {
  SnapshotInfo info;
  absl::string_view body;  // the article records
};

absl::StatusOr<SnapshotFrame> CheckFrame(const std::string& path,
                                         absl::string_view all) {
  if (all.size() < kHeaderBytes + kTrailerBytes ||
      all.substr(0, 8) != absl::string_view(kMagic, 8)) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a snapshot, or cut short"));
  }
  Decoder header(all.substr(8, kHeaderBytes - 8));
  SnapshotFrame frame;
  const uint32_t version = *header.U32();
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": format version ", version,
                     ", this build reads version ", kFormatVersion));
  }
  frame.info.dimension = static_cast<int>(*header.U32());
  frame.info.segment = *header.U64();
  const absl::string_view covered = all.substr(0, all.size() - 4);
  Decoder crc_field(all.substr(all.size() - 4));
  if (Crc32(covered) != *crc_field.U32()) {
    return absl::DataLossError(absl::StrCat(path, ": checksum mismatch"));
  }
  Decoder trailer(all.substr(all.size() - kTrailerBytes, 12));
  if (*trailer.U32() != kTrailerMarker) {
    return absl::DataLossError(absl::StrCat(path, ": trailer missing"));
  }
  frame.info.articles = *trailer.U64();
  frame.body =
      all.substr(kHeaderBytes, all.size() - kHeaderBytes - kTrailerBytes);
  return frame;
}

// Decodes every article record of `frame`, handing each to `apply` if set.
absl::Status DecodeRecords(const std::string& path, const SnapshotFrame& frame,
                           const std::function<absl::Status(Article)>* apply) {
  Decoder records(frame.body);
  uint64_t count = 0;
  while (records.remaining() > 0) {
    auto blob = records.Bytes();
    if (!blob.ok()) {
      return absl::DataLossError(
          absl::StrCat(path, ": ", blob.status().message()));
    }
    Decoder record(*blob);
    auto article = record.ArticleRecord();
    if (!article.ok() || record.remaining() != 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": article record ", count + 1, " is malformed"));
    }
    if (frame.info.dimension != 0 &&
        static_cast<int>(article->embedding.size()) != frame.info.dimension) {
      return absl::DataLossError(absl::StrCat(
          path, ": article record ", count + 1, " has the wrong dimension"));
    }
    ++count;
    if (apply != nullptr) {
      if (absl::Status s = (*apply)(*std::move(article)); !s.ok()) return s;
    }
  }
  if (count != frame.info.articles) {
    return absl::DataLossError(absl::StrCat(path, ": trailer counts ",
                                            frame.info.articles,
                                            " articles, found ", count));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SnapshotInfo> ReadSnapshot(
    const std::string& path,
    const std::function<absl::Status(Article)>& apply) {
  auto data = ReadWholeFile(path);
  if (!data.ok()) return data.status();
  auto frame = CheckFrame(path, *data);
  if (!frame.ok()) return frame.status();
  // Two passes: the first checks every record (so a structurally broken
  // snapshot applies nothing), the second applies them, without holding a
  // second copy of every article in memory.
  if (absl::Status s = DecodeRecords(path, *frame, nullptr); !s.ok()) return s;
  if (absl::Status s = DecodeRecords(path, *frame, &apply); !s.ok()) return s;
  return frame->info;
}

}  // namespace related::storage
