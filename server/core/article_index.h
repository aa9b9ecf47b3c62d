// ArticleIndex: the articles a server holds and the related lookups over them.
// This is where writes are applied and where related lists are computed.
// It knows nothing of gRPC; the service layer translates to and from it.
#ifndef RELATED_SERVER_CORE_ARTICLE_INDEX_H_
#define RELATED_SERVER_CORE_ARTICLE_INDEX_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/core/article.h"
#include "server/core/article_cards.h"
#include "server/core/journal.h"
#include "server/core/ranking_policy.h"
#include "server/core/related_lists.h"
#include "server/core/stored_article.h"
#include "server/core/vector_index.h"

namespace related {

struct ArticleIndexOptions {
  IndexKind index_kind = IndexKind::kHnsw;
  // Embedding dimension; 0 means "set by the first write".
  int dimension = 0;
  HnswOptions hnsw;
  int default_limit = 10;
  int max_limit = 100;
  // Most articles per upsert / IDs per delete or batch lookup.
  int max_batch_size = 1000;
  int max_id_bytes = 256;
  // Largest metadata per article (title, URL, section, language and
  // attribute keys and values together): it is returned with every result.
  int max_metadata_bytes = 64 << 10;
  // Writes are applied in chunks of this many articles, each under a short
  // exclusive lock, so a large batch never stalls readers for long.
  int write_chunk_size = 32;
  // Threads a write uses to place new articles in the graph and to rank the
  // related lists it changes (0: one per core).
  int write_threads = 0;
  // Keep every article's related box under the default policy ready, so a
  // lookup with that policy needs no search. Takes effect with the HNSW
  // index (stable slots) and a default policy that does not depend on the
  // clock or on metadata filters (RankingIsPrecomputable).
  bool precompute_related = true;
  // The editorial policy a request gets for every control it does not set.
  RankingPolicy default_policy;
};

// A related lookup for a stored article.
struct RelatedQuery {
  ArticleId article_id;
  int limit = 0;  // 0: the default limit
  std::vector<ArticleId> exclude_ids;
  // Complete: request settings already layered over default_policy.
  RankingPolicy policy;
};

// A related lookup for a vector that is not stored (a draft being written).
struct VectorQuery {
  std::vector<float> embedding;  // any length-positive vector; normalised here
  int limit = 0;
  std::vector<ArticleId> exclude_ids;
  RankingPolicy policy;
};

// The box, best first, and how the policy shaped it.
struct RelatedList {
  std::vector<RelatedArticle> articles;
  RankingDebug debug;
};

// The outcome of one item of a batch lookup.
struct RelatedResult {
  ArticleId article_id;
  absl::Status status;
  RelatedList related;
};

struct IndexStats {
  int64_t article_count = 0;
  int dimension = 0;
  IndexKind index_kind = IndexKind::kHnsw;
  int64_t index_memory_bytes = 0;
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
};

class ArticleIndex {
 public:
  // Fails (INVALID_ARGUMENT) on options that cannot work, e.g. limits < 1.
  static absl::StatusOr<std::unique_ptr<ArticleIndex>> Create(
      const ArticleIndexOptions& options);

  const ArticleIndexOptions& options() const { return options_; }

  // Inserts or replaces `articles` by ID. The batch is validated first and
  // applied only if every article is valid (INVALID_ARGUMENT naming
  // "articles[i].field" otherwise; INVALID_ARGUMENT too if larger than
  // max_batch_size). The first write fixes the dimension if it was 0.
  // Visible to every read that starts after this returns.
  absl::Status Upsert(std::vector<Article> articles);

  // Many upserts in a row that readers need not see ranked until they are
  // all in: an import stream, a recovery. Pass one to Upsert and the new
  // articles' related lists wait; FinishBulkLoad then builds them all at
  // once, which at a million articles takes a fraction of keeping them
  // fresh write by write (no search reaching 100 neighbours and no offers
  // per article). Until then a lookup of such an article searches, and
  // older articles' boxes do not show them yet. Replacements and deletes
  // inside a bulk load still reach the lists at once.
  class BulkLoad {
   public:
    BulkLoad() = default;
    BulkLoad(const BulkLoad&) = delete;
    BulkLoad& operator=(const BulkLoad&) = delete;

   private:
    friend class ArticleIndex;
    std::vector<Slot> added_;  // slots whose lists wait
  };
  absl::Status Upsert(std::vector<Article> articles, BulkLoad* bulk);

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
  // box was ranked. Nothing is copied or reference-counted: the cheapest
  // way to write a box out (the server encodes its response this way). The
  // card is valid only during the call. `visit` must be quick and must not
  // call into this index.
  using RelatedVisitor =
      absl::FunctionRef<void(float score, const ArticleCard& card)>;
  absl::StatusOr<RankingDebug> VisitRelated(const RelatedQuery& query,
                                            RelatedVisitor visit) const;

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

  IndexStats Stats() const;

  // From now on, every write is recorded in `journal` before it is applied
  // and committed before Upsert/Delete return. Attach after recovery (which
  // replays through Upsert/Delete with no journal). Not owned.
  void AttachJournal(Journal* journal);

  // A consistent cut for a snapshot: holds writers off, calls `cut` with the
  // dimension (e.g. to start a new log segment), then calls `visit` with
  // every stored article. Readers are never blocked: writers wait on the
  // writers' lock, not on the index lock the readers share.
  absl::Status Checkpoint(
      absl::FunctionRef<absl::Status(int dimension)> cut,
      absl::FunctionRef<absl::Status(const Article&)> visit) const;

 private:
  struct Entry {
    Slot slot;
    std::shared_ptr<const StoredArticle> article;
  };

  explicit ArticleIndex(const ArticleIndexOptions& options);

  static std::shared_ptr<const StoredArticle> StoreArticle(
      const ArticleId& id, const ArticleMetadata& metadata);
  // Stores `stored` at `slot`, with a new card, retiring the slot's old one.
  void PutArticleLocked(Slot slot, std::shared_ptr<const StoredArticle> stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lays every card out again, in the order of a breadth-first walk over the
  // stored boxes, dropping retired cards: after a bulk load, and whenever
  // retired cards outweigh live ones.
  void RelayOutCards() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void RelayOutCardsIfWasteful() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The order RelayOutCards places the live slots in.
  std::vector<Slot> CardOrderLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The mean number of distinct 4 KB pages the cards of a stored box span.
  double CardPagesPerBoxLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  absl::Status ValidateUpsertLocked(std::vector<Article>& articles)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Applies one chunk to the index and maps. Returns the slots it removed
  // (replaced vectors) and adds the slots it filled to `added`.
  absl::StatusOr<std::vector<Slot>> ApplyChunk(
      std::vector<Article>::iterator begin, std::vector<Article>::iterator end,
      std::vector<Slot>& added) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void RemoveSlotLocked(Slot slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts each slot's related-list work: the search for its `k` most
  // similar articles, in parallel, under the shared lock.
  std::vector<std::vector<Neighbor>> FindNeighbors(
      const std::vector<Slot>& slots, int k) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Ranks the boxes of `stale` slots in parallel under the shared lock,
  // then stores them under the exclusive one.
  void RankAndPublish(const std::vector<Slot>& stale)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Marks `added` as waiting for `bulk`. False if no lists are kept.
  bool DeferRelatedLists(const std::vector<Slot>& added, BulkLoad& bulk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Sets every slot's candidates to its own search, refines them with its
  // neighbours' lists, and ranks its box.
  void RebuildRelatedLists(const std::vector<Slot>& slots)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // The pool_size most similar among `slot`'s candidates and theirs.
  std::vector<Neighbor> NeighboursOfNeighboursLocked(Slot slot) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Brings the related lists up to date after `added` slots were filled and
  // `removed` slots emptied: searches the new articles' candidates, offers
  // each new article to the lists it belongs in, withdraws removed ones, and
  // ranks every box that may have changed. Takes mu_ as needed.
  void UpdateRelatedLists(const std::vector<Slot>& added,
                          const std::vector<Slot>& removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status ValidateRelatedQuery(const RelatedQuery& query) const;
  // Related() for a query already validated.
  absl::StatusOr<RelatedList> RelatedUnchecked(const RelatedQuery& query) const;
  // Finds the box of a validated query (from its related list if it can,
  // by a search otherwise) and calls `use` with its articles, best first,
  // under the read lock. Returns how it was ranked.
  absl::StatusOr<RankingDebug> LookUpBox(
      const RelatedQuery& query,
      absl::FunctionRef<void(absl::Span<const BoxedArticle> box)> use) const;
  absl::Status ValidateLookup(int limit,
                              const std::vector<ArticleId>& exclude_ids,
                              const RankingPolicy& policy) const;
  // Whether a lookup can be answered from the article's related list.
  bool UsesRelatedList(const RelatedQuery& query) const;

  // A ranked box: what RankLocked and the related lists share.
  struct RankedSlots {
    std::vector<BoxedArticle> chosen;
    RankingDebug debug;
  };
  // Ranks the articles related to `query` (a unit vector) with a fresh
  // search, widening it until the box is full; `self`, if set, is the query
  // article's slot.
  absl::StatusOr<RankedSlots> RankSlotsLocked(
      const float* query, std::optional<Slot> self, int limit,
      const std::vector<ArticleId>& exclude_ids,
      const RankingPolicy& policy) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<RelatedList> RankLocked(
      const float* query, std::optional<Slot> self, int limit,
      const std::vector<ArticleId>& exclude_ids,
      const RankingPolicy& policy) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The default-policy box of the article at `slot`, ranked from its related
  // list's candidates (searching afresh only if they cannot fill it).
  absl::StatusOr<StoredBox> RankBoxLocked(Slot slot) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The card a box entry shows: the one the box was ranked with, or the
  // slot's current one if the article was written since. kNoCard if it was
  // deleted.
  CardRef Shown(const BoxedArticle& entry) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Starts loading the box's cards into the CPU caches.
  void PrefetchCards(absl::Span<const BoxedArticle> box) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The box as the API returns it.
  std::vector<RelatedArticle> ToRelatedArticles(
      absl::Span<const BoxedArticle> box) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // A box entry for the article now at `slot`.
  BoxedArticle BoxEntry(Slot slot, float score) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  int WriteThreads() const;
  // Creates the vector index (and the related lists, if kept).
  void CreateIndexLocked(int dimension) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ArticleIndexOptions options_;

  // Serialises writers with each other (so a batch's chunks are applied in
  // order and the dimension is fixed once); readers never take it.
  mutable absl::Mutex write_mu_;
  Journal* journal_ ABSL_GUARDED_BY(write_mu_) = nullptr;
  // Guards the index and maps below: readers share it, a writer holds it
  // exclusively for one chunk at a time.
  mutable absl::Mutex mu_;
  std::unique_ptr<VectorIndex> index_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ArticleId, Entry> by_id_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<const StoredArticle>> by_slot_
      ABSL_GUARDED_BY(mu_);
  // Every article's card, and each slot's current one (kNoCard if empty).
  ArticleCards cards_ ABSL_GUARDED_BY(mu_);
  std::vector<CardRef> card_by_slot_ ABSL_GUARDED_BY(mu_);
  // Measured at each layout (pages per box under the shared lock, so
  // readers are not held up by the count).
  std::atomic<double> card_pages_per_box_ = 0;
  std::atomic<double> card_layout_seconds_ = 0;
  std::atomic<double> card_layout_pause_seconds_ = 0;
  // Every article's related list; null when not kept (see
  // ArticleIndexOptions::precompute_related).
  std::unique_ptr<RelatedLists> related_lists_ ABSL_GUARDED_BY(mu_);
  // Read without mu_ by validation; written only under write_mu_ and mu_.
  std::atomic<int> dimension_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_ARTICLE_INDEX_H_
