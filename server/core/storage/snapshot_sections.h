// The framing of a snapshot's sections (see snapshot.h): a writer that
// streams one section's payload to the file and then fills in its header,
// and a reader that hands a section's payload to its part and then checks
// it was read whole and its checksum holds.
#ifndef RELATED_SERVER_CORE_STORAGE_SNAPSHOT_SECTIONS_H_
#define RELATED_SERVER_CORE_STORAGE_SNAPSHOT_SECTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/state_io.h"
#include "server/core/storage/file.h"

namespace related::storage {

enum class SectionKind : uint32_t {
  kHeader = 1,
  kArticles = 2,
  kVectors = 3,
  kGraph = 4,
  kLists = 5,
  kEnd = 6,
};

// Section header: kind, payload length, payload CRC, header CRC.
inline constexpr size_t kSectionHeaderBytes = 4 + 8 + 4 + 4;

// Streams one section into `file`, whose next byte is at `offset` (advanced
// as it writes).
class SectionWriter final : public StateWriter {
 public:
  SectionWriter(File& file, int64_t& offset, SectionKind kind);
  // Writes what is buffered, then the header in front of the payload.
  absl::Status Finish();

 protected:
  absl::Status Write(const void* data, size_t size) override;

 private:
  absl::Status Flush();

  File& file_;
  int64_t& offset_;
  const SectionKind kind_;
  const int64_t header_at_;
  uint64_t length_ = 0;
  uint32_t crc_ = 0;
  std::string buffer_;
};

// Reads one section's payload from `file` (its header already read).
class SectionReader final : public StateReader {
 public:
  SectionReader(FileReader& file, uint64_t length, uint32_t crc)
      : file_(file), length_(length), crc_(crc) {}

  uint64_t remaining() const override { return length_ - read_; }
  // After the part read it: DATA_LOSS if bytes are left or the checksum
  // does not match.
  absl::Status Finish() const;
  // After a part failed: moves the file to the section's end.
  absl::Status SkipRest();

 protected:
  absl::Status Read(void* data, size_t size) override;

 private:
  FileReader& file_;
  const uint64_t length_;
  const uint32_t crc_;
  uint64_t read_ = 0;
  uint32_t computed_ = 0;
};

// Reads the next section header; DATA_LOSS if it is damaged, is not of
// `kind`, or claims more bytes than the file has.
absl::StatusOr<SectionReader> OpenSection(FileReader& file, SectionKind kind);

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_SNAPSHOT_SECTIONS_H_
