// ArticleIndex: the articles a server holds and the related lookups over
// them. It knows nothing of gRPC; the service layer translates to and from
// it.
//
// This class is the concurrency shell: it owns the locks, the journal calls,
// the chunking of writes, bulk loads and the stats, and hands every other
// job to a part that takes no lock of its own:
//   request_limits.h       every request checked whole, before anything else
//   article_table.h        which article is at which slot, and its card
//   vector_index.h         the vectors (FAISS)
//   related_lookup.h       a lookup: precomputed box, or related_search.h
//   related_list_builder.h keeping the precomputed boxes fresh
//   card_layout.h          where the cards sit in memory
// Two locks: writers are serialised by the writers' lock; readers share the
// index lock, which a writer holds exclusively only for short memory
// updates (one chunk of a batch, one phase of a list update).
#ifndef RELATED_SERVER_CORE_ARTICLE_INDEX_H_
#define RELATED_SERVER_CORE_ARTICLE_INDEX_H_

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/article.h"
#include "server/core/article_table.h"
#include "server/core/article_writes.h"
#include "server/core/box_source.h"
#include "server/core/compaction.h"
#include "server/core/index_options.h"
#include "server/core/journal.h"
#include "server/core/related_list_builder.h"
#include "server/core/related_lists.h"
#include "server/core/related_lookup.h"
#include "server/core/related_query.h"
#include "server/core/request_limits.h"
#include "server/core/vector_index.h"

namespace related {

struct IndexStats {
  int64_t article_count = 0;
  int dimension = 0;
  IndexKind index_kind = IndexKind::kHnsw;
  int64_t index_memory_bytes = 0;
  // Slots held by replaced or deleted articles (HNSW keeps them until a
  // compaction), and all slots.
  int64_t tombstones = 0;
  int64_t slots = 0;
  // Related lists: whether they are kept, their memory, and how many boxes
  // wait to be ranked again (0 whenever no write is in progress).
  bool related_lists_precomputed = false;
  int64_t related_lists_memory_bytes = 0;
  int64_t related_lists_stale = 0;
  // The articles' cards (what a box shows of each), and after they were
  // last laid out in box order, how many distinct 4 KB pages the cards of
  // one stored box spanned on average (0 before the first layout).
  int64_t cards_memory_bytes = 0;
  double card_pages_per_box = 0;
  // The last layout: how long it took (writers wait that long), and how
  // long of it readers were held off (the exclusive swap).
  double card_layout_seconds = 0;
  double card_layout_pause_seconds = 0;
  // Compactions (compaction.h): how many swapped in, how long the last
  // took, and whether one runs now.
  int64_t compactions = 0;
  double compaction_seconds = 0;
  bool compacting = false;
};

// The index's parts as a snapshot saves them (see Checkpoint).
struct IndexParts {
  const VectorIndex* vectors = nullptr;  // null until the first write
  const ArticleTable* articles = nullptr;
  const RelatedLists* lists = nullptr;  // null when no lists are kept
};

// A snapshot's parts, for Restore.
struct RestoredParts {
  std::unique_ptr<VectorIndex> vectors;  // null: nothing was stored
  ArticleTable articles;
  std::unique_ptr<RelatedLists> lists;  // null: build them
};

class ArticleIndex {
 public:
  // Fails (INVALID_ARGUMENT) on options that cannot work, e.g. limits < 1.
  static absl::StatusOr<std::unique_ptr<ArticleIndex>> Create(
      const ArticleIndexOptions& options);
  // Stops a compaction that still runs.
  ~ArticleIndex();

  const ArticleIndexOptions& options() const { return options_; }
  // 0 until the first write or --dim fixes it.
  int dimension() const { return dimension_.load(); }

  // Inserts or replaces `articles` by ID. The batch is validated first and
  // applied only if every article is valid (INVALID_ARGUMENT naming
  // "articles[i].field" otherwise; INVALID_ARGUMENT too if larger than
  // max_batch_size). The first write fixes the dimension if it was 0.
  // Visible to every read that starts after this returns. `bulk`: see
  // BulkLoad.
  class BulkLoad;
  absl::Status Upsert(std::vector<Article> articles, BulkLoad* bulk = nullptr);

  // Many upserts in a row that readers need not see ranked until they are
  // all in: an import stream, a recovery. Pass one to Upsert and the new
  // articles' related lists wait; FinishBulkLoad then builds them all at
  // once, which at a million articles takes a fraction of keeping them
  // fresh write by write (no search reaching 100 neighbours and no offers
  // per article). Until then a lookup of such an article searches, and
  // older articles' boxes do not show them yet. Replacements and deletes
  // inside a bulk load still reach the lists at once.
  //
  // A load nobody reads meanwhile (Readers::kNone: a recovery replaying its
  // log before it serves) goes faster: each batch is placed in one chunk,
  // and a box changed by many of its writes is ranked once, at the end.
  class BulkLoad {
   public:
    enum class Readers { kServed, kNone };
    explicit BulkLoad(Readers readers = Readers::kServed)
        : readers_(readers == Readers::kServed) {}
    BulkLoad(const BulkLoad&) = delete;
    BulkLoad& operator=(const BulkLoad&) = delete;

   private:
    friend class ArticleIndex;
    const bool readers_;
    std::vector<Slot> added_;  // slots whose lists wait
    // Without readers: articles that joined the lists as they came, from
    // the neighbours their placement in the graph met (DeferRelatedLists).
    int64_t joined_ = 0;
    // Without readers: boxes a replacement changed, ranked at the end.
    absl::flat_hash_set<Slot> stale_;
  };

  // Builds the related lists `bulk` left waiting; returns once every one is
  // ranked. When the load added most of the articles (a first import, a
  // recovery), every list is built afresh from its own search; otherwise
  // the new articles join the others' lists as single writes would.
  // Writers are held off one chunk at a time, so they can interleave.
  void FinishBulkLoad(BulkLoad& bulk);

  // Deletes the articles that exist among `ids`; returns how many did.
  absl::StatusOr<int> Delete(const std::vector<ArticleId>& ids);

  // NOT_FOUND if absent. The embedding is the stored unit vector.
  absl::StatusOr<Article> Get(const ArticleId& id) const;

  // The related box for a stored article under `query.policy`: filters
  // decide who is eligible; among the most similar eligible articles,
  // near-duplicates are dropped and recency and diversity re-rank. Never
  // includes the query article or `exclude_ids`. Returns `limit` articles
  // whenever at least that many eligible, non-duplicate articles exist (the
  // candidate search widens as needed). NOT_FOUND if the query article is
  // absent; INVALID_ARGUMENT for a bad limit, ID or policy field.
  absl::StatusOr<RelatedList> Related(const RelatedQuery& query) const;

  // Related() that hands the card of each article of the box to `visit`,
  // best first, while the index's read lock is held, and returns how the
  // box was ranked. Nothing is copied: the cheapest way to write a box out
  // (the server encodes its response this way). `visit` must be quick and
  // must not call into this index.
  // With `source`, also says what the box was read from (box_source.h).
  using RelatedVisitor = related::RelatedVisitor;
  absl::StatusOr<RankingDebug> VisitRelated(const RelatedQuery& query,
                                            RelatedVisitor visit,
                                            BoxSource* source = nullptr) const;

  // If a precomputed box read from `source` would read the same now, the
  // state generation (below) it is current for; nullopt otherwise. Cheaper
  // than reading the box: a few version reads under the shared lock.
  std::optional<uint64_t> BoxStillCurrent(const BoxSource& source) const;

  // A number that changes whenever anything readers see may change: each
  // exclusive hold of the index lock starts a new one, before it changes
  // anything. Read inside a visitor of VisitRelated, it names the state the
  // box was read from; read again later, the same number means that state
  // is still the current one. (The server's BoxCache relies on it.)
  uint64_t state_generation() const {
    return state_generation_.load(std::memory_order_acquire);
  }

  // The same for a vector that is not stored (validated and normalised like
  // an upsert's embedding; INVALID_ARGUMENT naming "embedding" otherwise).
  absl::StatusOr<RelatedList> RelatedToVector(VectorQuery query) const;

  // Related() for each of `article_ids` with one shared limit, exclusion
  // list and policy. Fails as a whole only on a malformed request, or with
  // CANCELLED once `cancelled` says the caller gave up (asked between
  // items, so an abandoned large batch stops early); per-item errors
  // (NOT_FOUND) are in the results, which follow the request order.
  absl::StatusOr<std::vector<RelatedResult>> BatchRelated(
      const std::vector<ArticleId>& article_ids, int limit,
      const std::vector<ArticleId>& exclude_ids, const RankingPolicy& policy,
      absl::FunctionRef<bool()> cancelled = [] { return false; }) const;

  // The index's figures. Summing the related lists' heap bytes walks every
  // list (O(articles)); the gauges refreshed after each write do not need
  // it, so kWithoutListMemory skips it (related_lists_memory_bytes is 0).
  enum class StatsScope { kAll, kWithoutListMemory };
  IndexStats Stats(StatsScope scope = StatsScope::kAll) const;

  // Blocks until a compaction that runs now has finished (tests, benches).
  void AwaitCompaction() const;

  // From now on, every write is recorded in `journal` before it is applied
  // and committed before Upsert/Delete return. Attach after recovery (which
  // replays through Upsert/Delete with no journal). Not owned.
  void AttachJournal(Journal* journal);

  // A write to state kept beside the index (the texts held for the first
  // text model, server/core/text_bootstrap.h): `record` journals it (if
  // there is a journal) and then `apply` applies it, both under the
  // writers' lock, so that a snapshot's cut (Checkpoint) falls wholly
  // before or after it. Committed before it returns.
  absl::Status WriteBeside(
      absl::FunctionRef<absl::StatusOr<uint64_t>(Journal&)> record,
      absl::FunctionRef<void()> apply);

  // A consistent cut for a snapshot: holds writers off, calls `cut` (e.g.
  // to start a new log segment), then `save` with the parts as they stand.
  // Readers are never blocked: writers wait on the writers' lock, not on
  // the index lock the readers share.
  absl::Status Checkpoint(
      absl::FunctionRef<absl::Status()> cut,
      absl::FunctionRef<absl::Status(const IndexParts&)> save) const;

  // Recovery: puts a snapshot's parts in place of this empty index's, then,
  // if the lists are kept but `parts` has none, builds them (as a bulk load
  // does). FAILED_PRECONDITION if the index is not empty, or the parts are
  // of another index kind than the options'.
  absl::Status Restore(RestoredParts parts);

 private:
  friend class Compaction;  // copies the articles, swaps in the new parts

  explicit ArticleIndex(const ArticleIndexOptions& options);
  // Starts a compaction when tombstones cross the threshold.
  void MaybeCompact() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Exchanges the parts with `fresh`'s (a compaction's new index).
  void SwapParts(ArticleIndex& fresh) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // --- Writes; the writers' lock is held.
  // A write in the journal (if there is one), to commit once the writers'
  // lock is released, so that concurrent writers share one disk sync.
  struct Recorded {
    Journal* journal = nullptr;
    uint64_t ticket = 0;
    absl::Status Commit() const {
      return journal != nullptr ? journal->Commit(ticket) : absl::OkStatus();
    }
  };
  absl::StatusOr<Recorded> Record(
      absl::FunctionRef<absl::StatusOr<uint64_t>(Journal&)> record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Creates the vectors (and the lists, if kept) once the dimension is
  // known.
  void CreateVectors(int dimension) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Applies one chunk of an upsert (article_writes.h), then updates the
  // related lists, or leaves the new articles' lists to `bulk`.
  absl::Status ApplyChunk(absl::Span<const Article> chunk, BulkLoad* bulk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The IDs among `ids` that are stored.
  std::vector<ArticleId> Stored(const std::vector<ArticleId>& ids) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Brings the related lists up to date after `added` slots were filled and
  // `removed` emptied (see RelatedListBuilder). `neighbors`, if not empty,
  // are the added articles' nearest as their placement met them (else they
  // are searched for).
  void UpdateRelatedLists(
      const std::vector<Slot>& added, const std::vector<Slot>& removed,
      const std::vector<std::vector<Neighbor>>& neighbors = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Ranks the boxes of `stale` slots under the shared lock, then stores
  // them under the exclusive one.
  void RankAndPublish(const std::vector<Slot>& stale)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // FinishBulkLoad's work: the lists `bulk` left waiting.
  void BuildBulkLoadLists(BulkLoad& bulk) ABSL_LOCKS_EXCLUDED(write_mu_);
  // Marks the added slots as waiting for `bulk` (without readers, the
  // removed ones leave the lists too), or, without readers, while the load
  // is small against the index, joins them to the lists at once and leaves
  // only the ranking to the end. False if no lists are kept.
  bool DeferRelatedLists(const SlotChanges& changes, BulkLoad& bulk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Whether the next chunk of `articles` of `bulk`, a load without readers,
  // joins the lists at once rather than waiting: while what it joined stays
  // small against the index (see DeferRelatedLists).
  bool JoinsAtOnce(const BulkLoad& bulk, int64_t articles) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // A load that added few of the articles: its `waiting` lists join the
  // others as single writes would (see BulkLoad for one without readers).
  void JoinExistingLists(const std::vector<Slot>& waiting, BulkLoad& bulk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The live slots whose lists `bulk` left waiting; empty if FinishBulkLoad
  // has nothing to build. Sets `mostly_new` when the load added most of the
  // articles.
  std::vector<Slot> WaitingLists(BulkLoad& bulk, bool& mostly_new)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Builds every list of `slots` (ascending) afresh: own search, offers,
  // neighbours of neighbours, ranking; a chunk at a time under the writers'
  // lock.
  void RebuildRelatedLists(const std::vector<Slot>& slots)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // Its phases for one chunk: each list from the article's own search; each
  // list merged with its members' lists, then ranked.
  void SearchOwn(const std::vector<Slot>& chunk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void Refine(const std::vector<Slot>& chunk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Lays every card out again in box order (card_layout.h), and reclaims
  // retired cards.
  void RelayOutCards() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void RelayOutCardsIfWasteful() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // --- Reads.
  // Related() for a validated query.
  absl::StatusOr<RelatedList> RelatedChecked(const RelatedQuery& query) const;
  // The box of a validated lookup, handed to `use` under the shared lock;
  // with `source`, what it was read from.
  absl::StatusOr<RankingDebug> LookUp(const RelatedQuery& query,
                                      RelatedLookup::BoxUse use,
                                      BoxSource* source = nullptr) const;
  // The parts, over the state the index lock guards.
  RelatedLookup Reader() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return RelatedLookup(*vectors_, articles_, lists_.get(), options_);
  }
  RelatedListBuilder Builder() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return RelatedListBuilder(*vectors_, articles_, *lists_, options_);
  }

  // Runs `fn` under the index lock, shared or exclusive, and returns what
  // it returns: each phase of a write says in one line which lock it holds.
  template <typename Fn>
  auto Shared(Fn&& fn) const {
    absl::ReaderMutexLock lock(&mu_);
    return fn();
  }
  template <typename Fn>
  auto Exclusive(Fn&& fn) {
    ExclusiveHold hold(*this);
    return fn();
  }
  // The only way this class holds mu_ exclusively: the lock, then a new
  // state generation, so that no change escapes state_generation().
  struct ABSL_SCOPED_LOCKABLE ExclusiveHold {
    explicit ExclusiveHold(ArticleIndex& index)
        ABSL_EXCLUSIVE_LOCK_FUNCTION(index.mu_)
        : lock(&index.mu_) {
      index.state_generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    ~ExclusiveHold() ABSL_UNLOCK_FUNCTION() = default;
    absl::WriterMutexLock lock;
  };

  const ArticleIndexOptions options_;
  const RequestLimits limits_;

  // Serialises writers with each other (so a batch's chunks are applied in
  // order and the dimension is fixed once); readers never take it.
  mutable absl::Mutex write_mu_;
  Journal* journal_ ABSL_GUARDED_BY(write_mu_) = nullptr;
  // The running (or finished, not yet reaped) compaction, if any.
  // (Shared: AwaitCompaction keeps it alive while it waits.)
  std::shared_ptr<Compaction> compaction_ ABSL_GUARDED_BY(write_mu_);
  std::atomic<int64_t> compactions_ = 0;
  std::atomic<double> compaction_seconds_ = 0;
  std::atomic<bool> compacting_ = false;
  // Guards the three views of the articles by slot: readers share it, a
  // writer holds it exclusively for one memory update at a time. The
  // vectors and lists exist once the dimension is known; the lists only if
  // kept (ArticleIndexOptions::precompute_related).
  mutable absl::Mutex mu_;
  std::atomic<uint64_t> state_generation_ = 0;  // see state_generation()
  // Starts anew whenever the parts are replaced whole or their cards laid
  // out again: the versions a BoxSource names are then void.
  uint64_t parts_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<VectorIndex> vectors_ ABSL_GUARDED_BY(mu_);
  ArticleTable articles_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<RelatedLists> lists_ ABSL_GUARDED_BY(mu_);
  // Read without mu_ by validation; written only under write_mu_ and mu_.
  std::atomic<int> dimension_;
  // Measured at each card layout (pages per box under the shared lock, so
  // readers are not held up by the count).
  std::atomic<double> card_pages_per_box_ = 0;
  std::atomic<double> card_layout_seconds_ = 0;
  std::atomic<double> card_layout_pause_seconds_ = 0;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_ARTICLE_INDEX_H_
