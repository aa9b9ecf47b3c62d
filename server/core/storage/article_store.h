// ArticleStore: the data directory behind an ArticleIndex. It recovers the
// index at start (newest valid snapshot, then the write-ahead log after it),
// journals every write (write-ahead log, fsync with group commit or
// periodic), and takes snapshots (periodic, and on graceful shutdown).
// docs/durability.md states what is durable when.
#ifndef RELATED_SERVER_CORE_STORAGE_ARTICLE_STORE_H_
#define RELATED_SERVER_CORE_STORAGE_ARTICLE_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/core/article_index.h"
#include "server/core/held_texts.h"
#include "server/core/journal.h"
#include "server/core/storage/file.h"
#include "server/core/storage/wal.h"

namespace related::storage {

class Replayer;

enum class Durability {
  // A write's RPC returns after its log record is on disk (fdatasync);
  // concurrent writers share one sync.
  kFsync,
  // A write's RPC returns once its record is written to the OS; a
  // background sync runs every fsync_interval. A machine crash can lose
  // the writes of the last interval (a process crash loses nothing).
  kPeriodic,
};

struct RecoveryReport;

// What the store reports as it works, for the service layer to export as
// metrics (the core knows nothing of Prometheus). Called from the store's
// and the writers' threads; implementations must be thread-safe.
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  virtual void Recovered(const RecoveryReport& report) = 0;
  // A snapshot was written (`size` bytes, in `duration`), or failed.
  virtual void SnapshotTaken(int64_t size, absl::Duration duration) = 0;
  virtual void SnapshotFailed() = 0;
  // One fdatasync of the log.
  virtual void LogSynced(absl::Duration latency) = 0;
  // Bytes the log holds that the newest snapshot does not.
  virtual void LogBytesSinceSnapshot(int64_t bytes) = 0;
  // A write could not be made durable; `cause` is the status code
  // (RESOURCE_EXHAUSTED: disk full; UNAVAILABLE: read-only or I/O error).
  virtual void WriteFailed(absl::StatusCode cause) = 0;
};

struct StoreOptions {
  std::string data_dir;
  Durability durability = Durability::kFsync;
  absl::Duration fsync_interval = absl::Seconds(1);
  // A snapshot is taken when either is reached (0 disables that trigger).
  absl::Duration snapshot_interval = absl::Minutes(10);
  int64_t snapshot_wal_bytes = int64_t{256} << 20;
  // Where recovery and snapshots report progress (one line per call).
  std::function<void(const std::string&)> log = [](const std::string&) {};
  // Not owned; may be null.
  StoreObserver* observer = nullptr;
  // A bulk load (an import stream) of at least this many articles is
  // followed by a snapshot in the background, so that the next restart
  // loads it instead of replaying the import from the log (0: never).
  int64_t snapshot_after_import = 10000;
  // Set in replicated mode, where a replicated stream, not this store,
  // records the writes (server/replication/). The store then writes no log
  // of its own and is not the index's journal; each snapshot records
  // log_position() (the last stream sequence applied), read at the cut
  // with writers held off, and a snapshot is due when it moved.
  std::function<uint64_t()> log_position;
  // Where recovery puts the text-only articles held for the first text
  // model (server/core/text_bootstrap.h); null: a log holding some cannot
  // be recovered. Not owned. Held articles live only in the log, so no
  // snapshot is taken while any is held: the log since the newest snapshot
  // keeps them all.
  HeldTexts* held = nullptr;
};

struct RecoveryReport {
  uint64_t snapshot_segment = 0;  // 0: none used
  // 2: the snapshot held the graph and lists; 1: the articles only, so
  // everything derived from them was rebuilt.
  int snapshot_format = 0;
  int64_t snapshot_articles = 0;
  int64_t snapshot_bytes = 0;
  // What the restart loaded from the snapshot rather than rebuilt.
  bool graph_loaded = false;
  bool lists_loaded = false;
  int64_t wal_segments = 0;
  int64_t wal_records = 0;
  int64_t torn_tail_bytes = 0;  // cut off the last segment
  // Replicated mode: the last stream sequence the loaded snapshot holds
  // (0: none loaded); the replica goes on from the next one.
  uint64_t log_position = 0;
  int corrupt_snapshots_skipped = 0;
  int64_t held_texts = 0;  // text-only articles still waiting for a model
  absl::Duration duration;  // the whole recovery
};

class ArticleStore : public Journal {
 public:
  // Recovers `data_dir` into `index` (which must be empty), then journals
  // the index's writes. Fails with a one-line reason when the data cannot
  // be trusted: every snapshot corrupt and the log not reaching back to the
  // start, a log segment missing or corrupt before the last one, another
  // format version, embeddings of another dimension than the index's;
  // FAILED_PRECONDITION if another process holds the directory's lock.
  static absl::StatusOr<std::unique_ptr<ArticleStore>> Open(
      const StoreOptions& options, ArticleIndex& index, RecoveryReport* report);
  ~ArticleStore() override;  // stops the background thread; no snapshot

  // Writes a snapshot now and drops log segments and snapshots it makes
  // unnecessary (the previous snapshot and the log after it are kept, as
  // the fallback should the newest snapshot ever be unreadable). While
  // text-only articles are held (StoreOptions::held), writes none and
  // says so in the log: they live only in the log.
  absl::Status Snapshot();
  // For graceful shutdown: stops the background thread, syncs the log and
  // takes a final snapshot. The index must receive no more writes.
  absl::Status Close();

  // Journal:
  absl::StatusOr<uint64_t> RecordUpsert(
      const std::vector<Article>& articles) override;
  absl::StatusOr<uint64_t> RecordDelete(
      const std::vector<ArticleId>& ids) override;
  absl::StatusOr<uint64_t> RecordHold(
      const std::vector<Article>& articles) override;
  absl::Status Commit(uint64_t ticket) override;
  void BulkLoadFinished(int64_t articles) override;

 private:
  ArticleStore(const StoreOptions& options, ArticleIndex& index,
               DirectoryLock lock)
      : options_(options), index_(index), lock_(std::move(lock)) {}
  // Recovery: the newest readable snapshot, then the log after it.
  absl::Status Recover(RecoveryReport& report);
  // Reports an append to the observer.
  absl::StatusOr<uint64_t> Appended(absl::StatusOr<uint64_t> ticket);
  absl::Status LoadNewestSnapshot(const std::vector<uint64_t>& snapshots,
                                  Replayer& replayer, RecoveryReport& report);
  // Replays the segments from `replay_from` on, which must follow each
  // other; returns the last one that holds records (or replay_from - 1).
  absl::StatusOr<uint64_t> ReplayLog(const std::vector<uint64_t>& segments,
                                     uint64_t replay_from, Replayer& replayer,
                                     RecoveryReport& report);
  // Replays one segment. A torn tail (a crash mid-append) is cut off, and a
  // torn header (a crash while the segment was started) removes it
  // (returns false); either is refused unless it is the last segment.
  absl::StatusOr<bool> ReplaySegment(uint64_t segment, bool is_last,
                                     Replayer& replayer,
                                     RecoveryReport& report);
  // One snapshot of each format. `applied` says whether the index was
  // touched (a failure after that cannot fall back to an older snapshot).
  absl::Status LoadSnapshotV1(const std::string& path, Replayer& replayer,
                              RecoveryReport& report, bool& applied);
  absl::Status LoadSnapshotV2(const std::string& path, Replayer& replayer,
                              RecoveryReport& report, bool& applied);
  void BackgroundLoop();
  // Whether the writes since the last snapshot make one due by time.
  bool SnapshotDueByTime(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(snapshot_mu_);
  void RemoveObsoleteFiles(uint64_t newest_snapshot);
  bool HoldsTexts() const {
    return options_.held != nullptr && options_.held->size() > 0;
  }

  const StoreOptions options_;
  ArticleIndex& index_;
  // This server's claim on the data directory, for the store's life.
  DirectoryLock lock_;
  std::unique_ptr<WalWriter> wal_;
  // Serialises snapshots (background thread vs shutdown).
  absl::Mutex snapshot_mu_;
  absl::Time last_snapshot_ ABSL_GUARDED_BY(snapshot_mu_) = absl::Now();
  // Replicated mode: the log position of the newest snapshot.
  uint64_t snapshot_position_ ABSL_GUARDED_BY(snapshot_mu_) = 0;
  absl::Notification stop_;
  // Set after a large import; the background thread takes the snapshot.
  std::atomic<bool> snapshot_requested_{false};
  std::thread background_;
};

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_ARTICLE_STORE_H_
