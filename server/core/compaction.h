// Compaction: HNSW cannot take a node out of its graph, so a replaced or
// deleted article leaves its slot behind as a tombstone, holding its vector,
// its graph node and its list's memory. Under edits that grows without
// bound. Once tombstones hold more than options.compaction_threshold of the
// slots, the index is rebuilt without them, in the background:
//
//  1. From the start on, every write the index applies is also recorded
//     here (ArticleIndex calls Record under its writers' lock).
//  2. The live articles are copied out a chunk at a time under the shared
//     lock: reads and writes go on between chunks.
//  3. A new index is built from them as an import builds one (the graph in
//     parallel, every list at once, the cards laid out), holding no lock
//     of the live index.
//  4. The recorded writes are applied to the new index, round after round
//     outside the writers' lock, until few are left.
//  5. Under the writers' lock the last recorded writes are applied, then
//     the new parts are swapped in under the exclusive lock: readers wait
//     only for the swap. The old parts are freed after it.
//
// A copy that saw some recorded write already is no problem: each write
// sets an article or deletes it, so applying the writes again, in order,
// ends at the live state. Nothing here is durable, and nothing needs to
// be: the write-ahead log and the snapshots never depend on it, so a crash
// at any point loses no write.
#ifndef RELATED_SERVER_CORE_COMPACTION_H_
#define RELATED_SERVER_CORE_COMPACTION_H_

#include <atomic>
#include <thread>
#include <variant>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/core/article.h"

namespace related {

class ArticleIndex;

class Compaction {
 public:
  // Starts rebuilding `index` in the background. The caller holds the
  // index's writers' lock.
  explicit Compaction(ArticleIndex& index);
  // Stops the rebuild if it still runs (the live index stays as it is) and
  // waits for its thread. The caller must not hold the index's locks.
  ~Compaction();

  Compaction(const Compaction&) = delete;
  Compaction& operator=(const Compaction&) = delete;

  // A write the live index applies; the writers' lock is held. Ignored
  // once the new parts are swapped in.
  void Record(const std::vector<Article>& upserts);
  void Record(const std::vector<ArticleId>& deletes);

  // Whether the run is over (swapped in, or stopped): its thread needs no
  // lock any more.
  bool finished() const { return finished_.load(); }
  // Asks the run to end early (the live index stays as it is).
  void Stop() { stop_.store(true); }
  // Blocks until finished().
  void AwaitFinished() const { done_.WaitForNotification(); }

 private:
  using Write = std::variant<std::vector<Article>, std::vector<ArticleId>>;

  void Run();
  // Builds `fresh` from the live articles; false if stopped.
  bool Copy(ArticleIndex& fresh);
  // Applies the recorded writes to `fresh` until few are left; then, with
  // the writers' lock held, the rest, and swaps.
  bool CatchUpAndSwap(ArticleIndex& fresh);
  // The writes recorded so far (the writers' lock is held).
  std::vector<Write> TakeRecorded();

  ArticleIndex& index_;
  // Guarded by the index's writers' lock.
  std::vector<Write> recorded_;
  bool recording_ = true;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  absl::Notification done_;
  std::thread thread_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_COMPACTION_H_
