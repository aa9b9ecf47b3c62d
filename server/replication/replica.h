// Replica: applies the replicated stream to this server's index, entry by
// entry in sequence order, through the index's normal write path (so the
// related lists and cards stay fresh as with local writes). Every replica
// applies the same entries in the same order and so reaches the same state.
//
// One thread reads and applies. Writers that published an entry wait here
// until it is applied (read-your-writes) and get its outcome.
#ifndef RELATED_SERVER_REPLICATION_REPLICA_H_
#define RELATED_SERVER_REPLICATION_REPLICA_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/core/article_index.h"
#include "server/replication/nats_stream.h"
#include "server/replication/position_journal.h"

namespace related::replication {

// What the replication layer reports, for the service layer to export as
// metrics. Called from the applier's and the writers' threads.
class ReplicationObserver {
 public:
  virtual ~ReplicationObserver() = default;
  // Entry `sequence` was applied, `apply` after it arrived and `lag` after
  // JetStream stored it; the stream's head was `head` when it was read.
  virtual void Applied(uint64_t sequence, uint64_t head, absl::Duration lag,
                       absl::Duration apply) = 0;
  // One publish, acknowledged or not.
  virtual void Published(absl::Duration latency, bool acknowledged) = 0;
  virtual void Connected(bool connected) = 0;
  // At start, before any entry is applied: where recovery left off and
  // where the stream's head was.
  virtual void Started(uint64_t applied, uint64_t head) = 0;
};

class Replica {
 public:
  // What applying one entry did.
  struct Outcome {
    absl::Status status;
    int deleted = 0;
  };

  // Starts applying `stream` into `index` after entry `applied` (where the
  // loaded snapshot left off; 0: from the start). `journal` is attached to
  // the index. FAILED_PRECONDITION if the stream no longer holds the entries
  // that follow `applied` (trimmed), or holds fewer than `applied` (another
  // stream than the snapshot's).
  static absl::StatusOr<std::unique_ptr<Replica>> Start(
      NatsStream& stream, ArticleIndex& index, PositionJournal& journal,
      uint64_t applied, ReplicationObserver* observer,
      std::function<void(const std::string&)> log);
  ~Replica();  // stops applying

  // Blocks until every entry the stream held at Start is applied (and the
  // lists of the imports among them are built), reporting progress through
  // `log`. The server serves after this.
  absl::Status CatchUp();

  // Waits until entry `sequence` is applied and returns its outcome (for
  // entries this server published). DEADLINE_EXCEEDED at `deadline`.
  absl::StatusOr<Outcome> Await(uint64_t sequence, absl::Time deadline);

  // This server's name in the entries it publishes.
  const std::string& origin() const { return origin_; }
  uint64_t applied() const;

 private:
  Replica(NatsStream& stream, ArticleIndex& index, PositionJournal& journal,
          uint64_t applied, uint64_t head, ReplicationObserver* observer,
          std::function<void(const std::string&)> log);
  void Run();
  // After a read failure: reads again from the entry after the last
  // applied, retrying until it can (or the replica stops).
  void Reopen();
  // Applies one entry and returns what it did.
  Outcome Apply(const LogEntry& entry);
  Outcome ApplyImportEnd(const LogEntry& entry);
  // Builds an import's lists on a thread of its own; the import's end entry
  // (`sequence`, 0 for none) counts as applied once they are built.
  void FinishInBackground(std::unique_ptr<ArticleIndex::BulkLoad> bulk,
                          uint64_t sequence);
  // An import whose end never came (its writer died) has its lists built
  // once the stream has been quiet for a while.
  void FinishAbandonedImports();
  void Published(const LogEntry& entry, Outcome outcome, absl::Time arrived);

  NatsStream& stream_;
  ArticleIndex& index_;
  PositionJournal& journal_;
  ReplicationObserver* const observer_;
  const std::function<void(const std::string&)> log_;
  const std::string origin_;
  // The stream's last entry when the replica started: CatchUp's goal.
  const uint64_t head_at_start_;
  std::unique_ptr<StreamReader> reader_;

  mutable absl::Mutex mu_;
  uint64_t applied_ ABSL_GUARDED_BY(mu_);
  // Outcomes of this server's own entries, until their writer takes them.
  std::map<uint64_t, Outcome> outcomes_ ABSL_GUARDED_BY(mu_);
  // Import ends whose lists are being built.
  absl::flat_hash_set<uint64_t> building_ ABSL_GUARDED_BY(mu_);

  // The applier's own: open imports by ID, with the time of their last batch.
  struct OpenImport {
    std::unique_ptr<ArticleIndex::BulkLoad> bulk;
    absl::Time last_batch;
  };
  absl::flat_hash_map<std::string, OpenImport> imports_;
  // Threads building imports' lists. Finished ones are joined when the
  // next starts, the rest when the replica stops.
  struct Finisher {
    std::thread thread;
    std::shared_ptr<absl::Notification> done;
  };
  std::vector<Finisher> finishers_;

  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace related::replication

#endif  // RELATED_SERVER_REPLICATION_REPLICA_H_
