// How the precomputed related lists (related_lists.h) are built and kept
// fresh: the neighbour searches, the offers and withdrawals a write causes,
// the neighbours-of-neighbours refinement of a bulk build, and ranking a
// list's box under the default policy.
//
// Neither class takes a lock. ArticleIndex runs each phase under the lock
// named in its comment: "shared" phases only read (searches, ranking) and
// run while readers go on; "exclusive" phases only update memory, so the
// exclusive lock is held briefly.
#ifndef RELATED_SERVER_CORE_RELATED_LIST_BUILDER_H_
#define RELATED_SERVER_CORE_RELATED_LIST_BUILDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "server/core/article_table.h"
#include "server/core/index_options.h"
#include "server/core/related_lists.h"
#include "server/core/vector_index.h"

namespace related {

// The related lists for an index with `options` over `vectors`, sized for
// the default policy; null when none are kept (precompute_related off, an
// index that moves slots, or a default policy that is not precomputable).
std::unique_ptr<RelatedLists> MakeRelatedLists(
    const ArticleIndexOptions& options, const VectorIndex& vectors);

// What the lists' boxes depend on besides the articles: the default policy
// and limit. Saved with the lists, so that lists ranked under other
// defaults are ranked again rather than served.
std::string RelatedListsFingerprint(const ArticleIndexOptions& options);

// Ranks a list's box under the default policy, from the list's candidates.
// Shared lock.
class BoxRanker {
 public:
  BoxRanker(const VectorIndex& vectors, const ArticleTable& articles,
            const RelatedLists& lists, const ArticleIndexOptions& options)
      : vectors_(vectors),
        articles_(articles),
        lists_(lists),
        options_(options) {}

  // The default-policy box of the article at `slot`, from its candidates;
  // if they cannot fill it while other articles exist (near-duplicates,
  // removals), from a search as a lookup without a list would run.
  absl::StatusOr<StoredBox> RankBox(Slot slot) const;
  // RankBox for each of `slots`, in parallel (write_threads).
  std::vector<absl::StatusOr<StoredBox>> RankBoxes(
      const std::vector<Slot>& slots) const;

 private:
  absl::StatusOr<StoredBox> RankBySearch(Slot slot) const;

  const VectorIndex& vectors_;
  const ArticleTable& articles_;
  const RelatedLists& lists_;
  const ArticleIndexOptions& options_;
};

class RelatedListBuilder {
 public:
  RelatedListBuilder(const VectorIndex& vectors, const ArticleTable& articles,
                     RelatedLists& lists, const ArticleIndexOptions& options);

  // How far a written article's own search reaches. Similarity is
  // symmetric, but rank is not: an article can be in the top 10 of a
  // neighbour that is not in its own list, and reaching past the pool
  // finds nearly all such lists (core test
  // LargerCorpusAgreesWithExactSearchThroughChurn, lists of 50: agreement
  // with exact search rose from 0.991 to 1 going from a reach of 50 to 100).
  int write_reach() const { return std::max(2 * lists_.pool_size(), 100); }
  // A bulk build's own searches reach the pool; neighbours of neighbours
  // then refine them.
  int bulk_reach() const { return lists_.pool_size(); }
  // How many of a written article's nearest lend it their lists
  // (CompletedFromNearestLists).
  static constexpr int kNearestListsRead = 3;

  // --- Shared lock.

  // Each occupied slot's `k` most similar other articles (an empty list
  // for an emptied slot, or if the search failed: its box then falls back
  // to a search of its own). In parallel.
  std::vector<std::vector<Neighbor>> FindNeighbors(
      const std::vector<Slot>& slots, int k) const;
  // For each slot, the pool_size most similar among its candidates and
  // their candidates, by exact similarity. An HNSW search misses some true
  // neighbours (at a million articles, recall@10 of one search at efSearch
  // 128 was 0.954 to 0.968); they are nearly always in a neighbour's list.
  // Cheaper than searching harder: ~500 dot products per article instead of
  // a search twice as wide. In parallel.
  std::vector<std::vector<Neighbor>> MergeNeighboursOfNeighbours(
      const std::vector<Slot>& slots) const;
  // `found` (each of `slots`' nearest as one search or its placement in
  // the graph found them, best first), each completed from the lists of
  // its `hops` nearest, by exact similarity, keeping its length. One
  // search at a million articles misses some of the true top 10 (see
  // above); the lists of the nearest it found hold most of them. At most
  // hops x pool size dot products per article (90 for 3 hops).
  std::vector<std::vector<Neighbor>> CompletedFromNearestLists(
      const std::vector<Slot>& slots, std::vector<std::vector<Neighbor>> found,
      int hops) const;
  // Of `added` (a bulk load's new articles), those still stored whose
  // lists still wait for their candidates.
  std::vector<Slot> StillAwaiting(const std::vector<Slot>& added) const;
  // Of `slots`, those with a list and no box (a bulk build's offers made
  // them stale).
  std::vector<Slot> Unranked(const absl::flat_hash_set<Slot>& slots) const;

  // --- Exclusive lock.

  // After a write filled `added` slots (whose nearest are `found`) and
  // emptied `removed` ones: a removed article leaves the lists of its own
  // candidates (similarity is symmetric, so they are where it is listed; a
  // list it stays in skips it when ranking), and a new article gets its
  // list and joins the lists of its candidates where it ranks. Returns the
  // slots whose boxes may have changed.
  absl::flat_hash_set<Slot> ApplyWrite(
      const std::vector<Slot>& added,
      const std::vector<std::vector<Neighbor>>& found,
      const std::vector<Slot>& removed);
  // Sets each occupied slot's candidates to `found`; returns those set.
  std::vector<Slot> SetCandidates(
      const std::vector<Slot>& slots,
      const std::vector<std::vector<Neighbor>>& found);
  // Offers each of `slots` to the lists of its own candidates (the scores
  // are known: similarity is symmetric). Lists outside `rebuilt` (sorted)
  // whose box may have changed are added to `changed`.
  void OfferToCandidates(const std::vector<Slot>& slots,
                         const std::vector<Slot>& rebuilt,
                         absl::flat_hash_set<Slot>& changed);
  // Stores the boxes ranked for `slots`. A box that failed to rank stays
  // stale; lookups rank it themselves.
  void Publish(const std::vector<Slot>& slots,
               std::vector<absl::StatusOr<StoredBox>>& boxes);
  // New articles whose lists a bulk load builds later.
  void AwaitCandidates(const std::vector<Slot>& slots);

 private:
  std::vector<Neighbor> NeighboursOfNeighbours(Slot slot) const;

  const VectorIndex& vectors_;
  const ArticleTable& articles_;
  RelatedLists& lists_;
  const int threads_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_RELATED_LIST_BUILDER_H_
