// The first snapshot format (RELSNAP1): every stored article (ID, vector,
// metadata) and nothing derived from them, so that a restart from it
// rebuilds the graph, the related lists and the cards. Servers now write
// the second format (snapshot.h); this one is still read, so that a data
// directory of an older server starts, and written only by tests and the
// fuzzers' seeds.
//
// Layout: header (magic, format version, dimension, segment), then one
// length-prefixed article record each, then a trailer (marker, article
// count, CRC-32 of everything before the trailer). A snapshot is written to
// a temporary file, synced, and renamed into place, so a crash leaves either
// the old set of snapshots or the new one.
#ifndef RELATED_SERVER_CORE_STORAGE_SNAPSHOT_V1_H_
#define RELATED_SERVER_CORE_STORAGE_SNAPSHOT_V1_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/article.h"
#include "server/core/storage/file.h"

namespace related::storage {

std::string SnapshotName(
    uint64_t segment);  // "snapshot-00000000000000000007.snap"
uint64_t ParseSnapshotName(absl::string_view name);  // 0 if not a snapshot

// The first 8 bytes of a snapshot of this format.
inline constexpr absl::string_view kSnapshotV1Magic = "RELSNAP1";

class SnapshotWriter {
 public:
  // Starts writing the snapshot for `segment` to a temporary file in `dir`.
  static absl::StatusOr<SnapshotWriter> Start(const std::string& dir,
                                              uint64_t segment, int dimension);
  absl::Status Add(const Article& article);
  // Writes the trailer, syncs, and renames the file into place.
  absl::Status Finish();

  SnapshotWriter(SnapshotWriter&&) = default;
  ~SnapshotWriter();  // removes the temporary file if Finish did not succeed

 private:
  SnapshotWriter(std::string dir, std::string tmp_path, std::string final_path,
                 File file)
      : dir_(std::move(dir)),
        tmp_path_(std::move(tmp_path)),
        final_path_(std::move(final_path)),
        file_(std::move(file)) {}
  absl::Status Flush();

  std::string dir_;
  std::string tmp_path_;
  std::string final_path_;
  File file_;
  std::string buffer_;
  uint32_t crc_ = 0;
  uint64_t count_ = 0;
  bool finished_ = false;
};

struct SnapshotInfo {
  int dimension = 0;
  uint64_t segment = 0;
  uint64_t articles = 0;
};

// Verifies the whole snapshot (header, every record, count, checksum) and
// only then calls `apply` with each article. DATA_LOSS names what is wrong;
// FAILED_PRECONDITION for another format version.
absl::StatusOr<SnapshotInfo> ReadSnapshot(
    const std::string& path, const std::function<absl::Status(Article)>& apply);

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_SNAPSHOT_V1_H_
