// Snapshots (format 2): what a restart needs to serve at once, not only the
// articles. One consistent cut of the index (ArticleIndex::Checkpoint), in
// snapshot-<segment>.snap, where <segment> is the first write-ahead log
// segment holding writes the snapshot does not contain. After the magic
// "RELSNAP2" come sections, each framed as
//   kind (u32), payload length (u64), payload CRC-32 (u32), header CRC-32
// and written by the part it belongs to (server/core/state_io.h):
//   header    format version, dimension, index kind, slots and articles
//   articles  the article table: each slot's card, and the cards (IDs and
//             metadata) as they were laid out
//   vectors   every slot's vector, once: the graph refers to them by slot
//   graph     HNSW only: levels and neighbour lists
//   lists     the related lists and boxes, with the defaults they were
//             ranked under
//   end
// A snapshot is written to a temporary file, synced, and renamed into
// place, so a crash leaves either the old set of snapshots or the new one.
//
// Loading streams the file section by section straight into the parts'
// memory. The header, articles and vectors are the data: if one is bad the
// snapshot is unusable (DATA_LOSS; recovery falls back to the previous
// snapshot). The graph and lists are derived: if one is bad, missing or
// made under other settings, it is built again from the data, and the load
// says so.
#ifndef RELATED_SERVER_CORE_STORAGE_SNAPSHOT_H_
#define RELATED_SERVER_CORE_STORAGE_SNAPSHOT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/article_index.h"

namespace related::storage {

// The first 8 bytes of a snapshot of this format.
inline constexpr absl::string_view kSnapshotMagic = "RELSNAP2";

struct SnapshotReport {
  uint64_t segment = 0;
  int64_t articles = 0;
  int64_t bytes = 0;  // the file's size
  absl::Duration duration;
};

// Where a snapshot's cut lies: the first write-ahead log segment it does
// not hold, and in replicated mode the last stream sequence it holds (0:
// none; the header carries it only when set).
struct SnapshotCut {
  uint64_t segment = 0;
  uint64_t log_position = 0;
};

// Writes the snapshot of `parts` (taken at `cut`) into `dir`. `options`
// are the index's (the lists record their defaults).
absl::StatusOr<SnapshotReport> WriteSnapshot(
    const std::string& dir, const SnapshotCut& cut, const IndexParts& parts,
    const ArticleIndexOptions& options);

struct LoadedSnapshot {
  RestoredParts parts;
  int64_t articles = 0;
  int64_t bytes = 0;
  uint64_t log_position = 0;  // see SnapshotCut
  // A derived part that was bad or made under other settings: the graph was
  // built again from the vectors (here), the lists are left to the index
  // (parts.lists is null).
  bool graph_rebuilt = false;
  bool lists_rebuilt = false;
  // Why, for the log; empty if nothing was rebuilt.
  std::string problems;
};

// Loads the snapshot at `path` into parts of the snapshot's own index kind
// (`options` give the HNSW settings and the lists' defaults), building the
// graph on `threads` threads if it must. DATA_LOSS naming the section if a
// data section is bad; FAILED_PRECONDITION for another format version.
absl::StatusOr<LoadedSnapshot> LoadSnapshot(const std::string& path,
                                            const ArticleIndexOptions& options,
                                            int threads);

// The format of the snapshot at `path`: 1 or 2 (by its magic); DATA_LOSS if
// it is neither.
absl::StatusOr<int> SnapshotFormat(const std::string& path);

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_SNAPSHOT_H_
