#include "server/core/storage/snapshot_sections.h"

#include "absl/strings/str_cat.h"
#include "server/core/storage/record_codec.h"

namespace related::storage {
namespace {

constexpr size_t kFlushBytes = size_t{1} << 20;

std::string SectionHeader(SectionKind kind, uint64_t length, uint32_t crc) {
  Encoder header;
  header.U32(static_cast<uint32_t>(kind));
  header.U64(length);
  header.U32(crc);
  header.U32(Crc32(header.buffer()));
  return header.buffer();
}

}  // namespace

SectionWriter::SectionWriter(File& file, int64_t& offset, SectionKind kind)
    : file_(file), offset_(offset), kind_(kind), header_at_(offset) {
  // Room for the header, filled in by Finish.
  buffer_.assign(kSectionHeaderBytes, '\0');
}

absl::Status SectionWriter::Write(const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  crc_ = Crc32(absl::string_view(bytes, size), crc_);
  length_ += size;
  if (size >= kFlushBytes) {  // large: no copy through the buffer
    if (absl::Status s = Flush(); !s.ok()) return s;
    offset_ += static_cast<int64_t>(size);
    return file_.Write(absl::string_view(bytes, size));
  }
  buffer_.append(bytes, size);
  return buffer_.size() >= kFlushBytes ? Flush() : absl::OkStatus();
}

absl::Status SectionWriter::Flush() {
  if (buffer_.empty()) return absl::OkStatus();
  offset_ += static_cast<int64_t>(buffer_.size());
  absl::Status s = file_.Write(buffer_);
  buffer_.clear();
  return s;
}

absl::Status SectionWriter::Finish() {
  if (!status().ok()) return status();
  if (absl::Status s = Flush(); !s.ok()) return s;
  return file_.WriteAt(header_at_, SectionHeader(kind_, length_, crc_));
}

absl::Status SectionReader::Read(void* data, size_t size) {
  if (absl::Status s = file_.Read(data, size); !s.ok()) return s;
  computed_ =
      Crc32(absl::string_view(static_cast<char*>(data), size), computed_);
  read_ += size;
  return absl::OkStatus();
}

absl::Status SectionReader::Finish() const {
  if (!status().ok()) return status();
  if (remaining() != 0) {
    return absl::DataLossError(
        absl::StrCat(remaining(), " bytes its part did not read"));
  }
  if (computed_ != crc_) return absl::DataLossError("checksum mismatch");
  return absl::OkStatus();
}

absl::Status SectionReader::SkipRest() {
  const uint64_t rest = remaining();
  read_ = length_;
  return file_.Skip(rest);
}

absl::StatusOr<SectionReader> OpenSection(FileReader& file, SectionKind kind) {
  char bytes[kSectionHeaderBytes];
  if (absl::Status s = file.Read(bytes, sizeof bytes); !s.ok()) return s;
  Decoder header(absl::string_view(bytes, sizeof bytes));
  const uint32_t got = *header.U32();
  const uint64_t length = *header.U64();
  const uint32_t crc = *header.U32();
  const uint32_t header_crc = *header.U32();
  if (Crc32(absl::string_view(bytes, kSectionHeaderBytes - 4)) != header_crc) {
    return absl::DataLossError("a section header is damaged");
  }
  if (got != static_cast<uint32_t>(kind)) {
    return absl::DataLossError(absl::StrCat("section ", got, " where section ",
                                            static_cast<uint32_t>(kind),
                                            " should be"));
  }
  if (length > file.remaining()) {
    return absl::DataLossError("a section runs past the end of the file");
  }
  return SectionReader(file, length, crc);
}

}  // namespace related::storage
