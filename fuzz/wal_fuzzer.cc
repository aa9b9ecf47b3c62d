// Fuzzes the write-ahead log reader on arbitrary segment files: whatever the
// bytes, ReadWalSegment and the record decoder must return (an error is
// fine) without crashing, hanging or allocating without bound.
#include <cstddef>
#include <cstdint>

#include "fuzz/scratch_file.h"
#include "server/core/storage/record_codec.h"
#include "server/core/storage/wal.h"

// Records carry CRC-32s, so almost every random mutation of a payload would
// stop at the checksum. Most of the time, re-seal each record that fits after
// mutating, so that the decoder behind the checksum sees mutated payloads too.
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size,
                                          size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 8 == 0) return size;      // leave some checksums broken
  constexpr size_t kHeaderBytes = 20;  // magic, version, segment
  size_t at = kHeaderBytes;
  while (at + 8 <= size) {
    const uint32_t length = uint32_t{data[at]} | uint32_t{data[at + 1]} << 8 |
                            uint32_t{data[at + 2]} << 16 |
                            uint32_t{data[at + 3]} << 24;
    if (length > size - at - 8) break;
    const uint32_t crc = related::storage::Crc32(absl::string_view(
        reinterpret_cast<const char*>(data + at + 8), length));
    for (int i = 0; i < 4; ++i) data[at + 4 + i] = uint8_t(crc >> (8 * i));
    at += 8 + length;
  }
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* const file = new related::fuzz::ScratchFile(
      related::storage::WalSegmentName(1));  // leaked: outlives every input
  const std::string& path = file->Write(data, size);
  auto report =
      related::storage::ReadWalSegment(path, [](absl::string_view payload) {
        // The reader stops at a record the decoder refuses, as recovery does.
        return related::storage::DecodeWriteRecord(payload).status();
      });
  if (report.ok() && report->valid_bytes + report->discarded_bytes !=
                         static_cast<int64_t>(size)) {
    __builtin_trap();  // every byte is either valid or discarded
  }
  return 0;
}
