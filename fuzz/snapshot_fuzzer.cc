// Fuzzes the snapshot reader on arbitrary files: whatever the bytes,
// ReadSnapshot must return (an error is fine) without crashing, hanging or
// allocating without bound, and what it applies must match what it reports.
#include <cstddef>
#include <cstdint>

#include "fuzz/scratch_file.h"
#include "server/core/storage/record_codec.h"
#include "server/core/storage/snapshot.h"
#include "server/core/storage/snapshot_v1.h"

// A snapshot ends with a CRC-32 of everything before it, so almost every
// random mutation would stop at the checksum. Most of the time, re-seal the
// file after mutating, so that the record parsing behind it is fuzzed too.
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size,
                                          size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 8 == 0 || size < 4) return size;  // leave some broken
  const uint32_t crc = related::storage::Crc32(
      absl::string_view(reinterpret_cast<const char*>(data), size - 4));
  for (int i = 0; i < 4; ++i) data[size - 4 + i] = uint8_t(crc >> (8 * i));
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* const file = new related::fuzz::ScratchFile(
      related::storage::SnapshotName(1));  // leaked: outlives every input
  const std::string& path = file->Write(data, size);
  uint64_t applied = 0;
  int dimension = -1;
  auto info =
      related::storage::ReadSnapshot(path, [&](related::Article article) {
        dimension = static_cast<int>(article.embedding.size());
        ++applied;
        return absl::OkStatus();
      });
  if (info.ok()) {
    // A snapshot that reads applies exactly the articles its trailer counts,
    // all of its header's dimension (when that is fixed).
    if (applied != info->articles) __builtin_trap();
    if (info->dimension != 0 && applied > 0 && dimension != info->dimension)
      __builtin_trap();
  } else if (applied != 0) {
    __builtin_trap();  // a broken snapshot must apply nothing
  }
  // The second format, on the same bytes (its sections have checksums of
  // their own; section_fuzzer fuzzes what is behind them).
  static const related::ArticleIndexOptions options = [] {
    related::ArticleIndexOptions o;
    o.dimension = 4;
    return o;
  }();
  auto loaded = related::storage::LoadSnapshot(path, options, 1);
  if (loaded.ok() && loaded->articles != loaded->parts.articles.size()) {
    __builtin_trap();
  }
  return 0;
}
