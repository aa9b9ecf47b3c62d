// The write-ahead log: every acknowledged upsert and delete is a record
// here before its RPC returns.
//
// The log is a series of segment files, wal-<segment>.log, each starting
// with a header (magic, format version, segment number) followed by
// records: u32 payload length, u32 CRC-32 of the payload, payload. A new
// segment starts at each snapshot, so a snapshot names the first segment
// that holds writes it does not contain.
#ifndef RELATED_SERVER_CORE_STORAGE_WAL_H_
#define RELATED_SERVER_CORE_STORAGE_WAL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/storage/file.h"

namespace related::storage {

inline constexpr uint32_t kFormatVersion = 1;

std::string WalSegmentName(uint64_t segment);  // "wal-00000000000000000007.log"
// The segment number of a file name, or 0 if it is not a WAL segment.
uint64_t ParseWalSegmentName(absl::string_view name);

class WalWriter {
 public:
  // Called with the time each fdatasync of the log took.
  using SyncTimer = std::function<void(absl::Duration)>;
  void set_sync_timer(SyncTimer timer) { sync_timer_ = std::move(timer); }

  // Starts segment `segment` in `dir` (a new, empty file).
  static absl::StatusOr<std::unique_ptr<WalWriter>> Create(
      const std::string& dir, uint64_t segment);

  // Appends one record and returns its sequence number (1, 2, ...). Not
  // durable until SyncUpTo. Callers serialise Append and Rotate. If the
  // write fails (disk full, read-only file system), the segment is cut back
  // to its last whole record, so the log stays readable and a later append
  // can succeed once the condition clears.
  absl::StatusOr<uint64_t> Append(absl::string_view payload);

  // Returns once every record up to `sequence` is on disk. Concurrent
  // callers share one fdatasync (group commit).
  absl::Status SyncUpTo(uint64_t sequence);
  // Makes everything appended so far durable.
  absl::Status SyncAll();

  // Syncs the current segment and starts segment `next` (> current).
  absl::Status Rotate(uint64_t next);

  uint64_t segment() const;
  // Bytes in the current segment, header included.
  int64_t segment_bytes() const;

 private:
  WalWriter(std::string dir, uint64_t segment, File file, int64_t size)
      : dir_(std::move(dir)),
        segment_(segment),
        file_(std::move(file)),
        size_(size) {}

  const std::string dir_;
  mutable absl::Mutex mu_;
  absl::CondVar synced_cv_;
  uint64_t segment_ ABSL_GUARDED_BY(mu_);
  File file_ ABSL_GUARDED_BY(mu_);
  int64_t size_ ABSL_GUARDED_BY(mu_);  // bytes of whole records
  bool needs_truncate_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;  // last sequence appended
  uint64_t synced_ ABSL_GUARDED_BY(mu_) = 0;    // last sequence on disk
  bool syncing_ ABSL_GUARDED_BY(mu_) = false;
  SyncTimer sync_timer_;
};

// What reading a segment found.
struct WalSegmentReport {
  int64_t records = 0;
  int64_t valid_bytes = 0;      // header plus whole, checksummed records
  int64_t discarded_bytes = 0;  // a torn or corrupt tail after them
  std::string tail_problem;     // why the tail was discarded, if it was
  // The file is empty or holds only part of its header: a crash while the
  // segment was being started. It holds no records.
  bool header_torn = false;
};

// Reads segment `path` (named as WalSegmentName says), calling `apply` with
// each record's payload in order. Stops at the first torn or corrupt record and
// reports the tail; fails (DATA_LOSS / FAILED_PRECONDITION) only if the header
// is unusable or `apply` fails.
absl::StatusOr<WalSegmentReport> ReadWalSegment(
    const std::string& path,
    const std::function<absl::Status(absl::string_view payload)>& apply);

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_WAL_H_
