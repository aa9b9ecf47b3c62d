#include "server/core/storage/wal.h"

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/core/storage/record_codec.h"

namespace related::storage {
namespace {

constexpr char kMagic[] = "RELWAL01";  // 8 bytes
constexpr size_t kHeaderBytes = 8 + 4 + 8;
constexpr size_t kRecordHeaderBytes = 8;
// Larger records than this cannot have been written (requests are limited
// far below it), so a length field above it is corruption.
constexpr uint32_t kMaxRecordBytes = 1u << 30;

std::string Header(uint64_t segment) {
  Encoder e;
  e.buffer().append(kMagic, 8);
  e.U32(kFormatVersion);
  e.U64(segment);
  return std::move(e.buffer());
}

// A segment appears under its name only with its whole header on disk: it
// is written as a temporary file and renamed. A crash while starting a
// segment (SIGKILL between open and write) then leaves a `.tmp` file, which
// recovery removes, never a segment without a header.
absl::StatusOr<File> StartSegmentFile(const std::string& dir,
                                      uint64_t segment) {
  const std::string path = absl::StrCat(dir, "/", WalSegmentName(segment));
  const std::string tmp_path = path + ".tmp";
  auto file = File::Create(tmp_path);
  if (!file.ok()) return file.status();
  if (absl::Status s = file->Write(Header(segment)); !s.ok()) return s;
  if (absl::Status s = file->Sync(); !s.ok()) return s;
  if (absl::Status s = RenameFile(tmp_path, path); !s.ok()) return s;
  if (absl::Status s = SyncDir(dir); !s.ok()) return s;
  return file;
}

}  // namespace

std::string WalSegmentName(uint64_t segment) {
  return absl::StrFormat("wal-%020d.log", segment);
}

uint64_t ParseWalSegmentName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "wal-") ||
      !absl::ConsumeSuffix(&name, ".log") || name.size() != 20) {
    return 0;
  }
  uint64_t segment = 0;
  return absl::SimpleAtoi(name, &segment) ? segment : 0;
}

absl::StatusOr<std::unique_ptr<WalWriter>> WalWriter::Create(
    const std::string& dir, uint64_t segment) {
  auto file = StartSegmentFile(dir, segment);
  if (!file.ok()) return file.status();
  return std::unique_ptr<WalWriter>(new WalWriter(
      dir, segment, *std::move(file), static_cast<int64_t>(kHeaderBytes)));
}

absl::StatusOr<uint64_t> WalWriter::Append(absl::string_view payload) {
  Encoder e;
  e.U32(static_cast<uint32_t>(payload.size()));
  e.U32(Crc32(payload));
  e.buffer().append(payload.data(), payload.size());
  absl::MutexLock lock(&mu_);
  if (needs_truncate_) {
    // A previous append failed part-way and could not cut its bytes off.
    if (absl::Status s = file_.Truncate(size_); !s.ok()) return s;
    needs_truncate_ = false;
  }
  if (absl::Status s = file_.Write(e.buffer()); !s.ok()) {
    // Never leave half a record followed by whole ones.
    needs_truncate_ = !file_.Truncate(size_).ok();
    return s;
  }
  size_ += static_cast<int64_t>(e.buffer().size());
  return ++appended_;
}

absl::Status WalWriter::SyncUpTo(uint64_t sequence) {
  absl::MutexLock lock(&mu_);
  while (synced_ < sequence) {
    if (syncing_) {
      // Another writer's fdatasync is in flight; it may cover us.
      synced_cv_.Wait(&mu_);
      continue;
    }
    syncing_ = true;
    const uint64_t target = appended_;
    absl::Status s;
    {
      mu_.Unlock();
      const absl::Time start = absl::Now();
      s = file_.Sync();  // fd stays valid: Rotate waits for !syncing_
      if (sync_timer_) sync_timer_(absl::Now() - start);
      mu_.Lock();
    }
    syncing_ = false;
    synced_cv_.SignalAll();
    if (!s.ok()) return s;
    synced_ = std::max(synced_, target);
  }
  return absl::OkStatus();
}

absl::Status WalWriter::SyncAll() {
  uint64_t last;
  {
    absl::MutexLock lock(&mu_);
    last = appended_;
  }
  return SyncUpTo(last);
}

absl::Status WalWriter::Rotate(uint64_t next) {
  absl::MutexLock lock(&mu_);
  while (syncing_) synced_cv_.Wait(&mu_);
  if (absl::Status s = file_.Sync(); !s.ok()) return s;
  synced_ = appended_;
  auto file = StartSegmentFile(dir_, next);
  if (!file.ok()) return file.status();
  file_ = *std::move(file);
  segment_ = next;
  size_ = static_cast<int64_t>(kHeaderBytes);
  needs_truncate_ = false;
  return absl::OkStatus();
}

uint64_t WalWriter::segment() const {
  absl::MutexLock lock(&mu_);
  return segment_;
}

int64_t WalWriter::segment_bytes() const {
  absl::MutexLock lock(&mu_);
  return size_;
}

namespace {

// Checks a segment's header. Returns false with `report` filled if the
// header itself was cut short by a crash (the segment holds no records).
absl::StatusOr<bool> CheckSegmentHeader(const std::string& path,
                                        absl::string_view data,
                                        WalSegmentReport& report) {
  const uint64_t segment = ParseWalSegmentName(
      absl::string_view(path).substr(path.find_last_of('/') + 1));
  if (data.size() < kHeaderBytes && absl::StartsWith(Header(segment), data)) {
    // Older builds created a segment in place; a crash before its header was
    // written leaves it empty or with part of the header, and no records.
    report.header_torn = true;
    report.discarded_bytes = static_cast<int64_t>(data.size());
    report.tail_problem = "the segment's header is cut short";
    return false;
  }
  if (data.size() < kHeaderBytes ||
      data.substr(0, 8) != absl::string_view(kMagic, 8)) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a write-ahead log segment"));
  }
  Decoder header(data.substr(8, kHeaderBytes - 8));
  const uint32_t version = *header.U32();
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": format version ", version,
                     ", this build reads version ", kFormatVersion));
  }
  return true;
}

// Reads the next record's payload into `payload`; false with `problem` set
// where the valid records end (a crash mid-append: cut short or failing
// its checksum).
absl::StatusOr<bool> NextRecord(FileReader& file, std::string& payload,
                                std::string& problem) {
  if (file.remaining() < kRecordHeaderBytes) {
    problem = "a record header is cut short";
    return false;
  }
  char header[kRecordHeaderBytes];
  if (absl::Status s = file.Read(header, sizeof header); !s.ok()) return s;
  Decoder d(absl::string_view(header, sizeof header));
  const uint32_t length = *d.U32();
  const uint32_t crc = *d.U32();
  if (length > kMaxRecordBytes || length > file.remaining()) {
    problem = "a record is cut short";
    return false;
  }
  payload.resize(length);
  if (absl::Status s = file.Read(payload.data(), length); !s.ok()) return s;
  if (Crc32(payload) != crc) {
    problem = "a record fails its checksum";
    return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<WalSegmentReport> ReadWalSegment(
    const std::string& path,
    const std::function<absl::Status(absl::string_view payload)>& apply) {
  // Streamed record by record: a segment is never held whole in memory.
  auto file = FileReader::Open(path);
  if (!file.ok()) return file.status();
  const int64_t size = static_cast<int64_t>(file->remaining());
  std::string header(std::min<uint64_t>(kHeaderBytes, file->remaining()),
                     '\0');
  if (absl::Status s = file->Read(header.data(), header.size()); !s.ok()) {
    return s;
  }
  WalSegmentReport report;
  auto whole_header = CheckSegmentHeader(path, header, report);
  if (!whole_header.ok()) return whole_header.status();
  if (!*whole_header) return report;
  report.valid_bytes = kHeaderBytes;
  std::string payload;
  while (file->remaining() > 0) {
    auto next = NextRecord(*file, payload, report.tail_problem);
    if (!next.ok()) return next.status();
    if (!*next) break;
    if (absl::Status s = apply(payload); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(path, ": record ", report.records + 1, ": ",
                                 s.message()));
    }
    ++report.records;
    report.valid_bytes += static_cast<int64_t>(kRecordHeaderBytes + payload.size());
  }
  report.discarded_bytes = size - report.valid_bytes;
  return report;
}

}  // namespace related::storage
