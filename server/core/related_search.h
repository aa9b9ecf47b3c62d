// RelatedSearch: the ranked search for one vector under a policy, the path
// of every lookup that no precomputed box answers (another policy, a limit
// above the default, exclude_ids, a draft's vector).
//
// FAISS runs with the policy's filters and the exclusions as its selector,
// so every candidate it returns is eligible however selective the filters
// are; the candidates are then ranked by the policy's rules (ranking.h).
// While the box is not full and more eligible articles may exist, the
// candidate pool doubles and the search runs again; when an approximate
// search runs dry (selective filters, many tombstones) it is repeated as an
// exhaustive scan, so eligible articles are never silently missed.
#ifndef RELATED_SERVER_CORE_RELATED_SEARCH_H_
#define RELATED_SERVER_CORE_RELATED_SEARCH_H_

#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "server/core/article_table.h"
#include "server/core/ranking.h"
#include "server/core/ranking_policy.h"
#include "server/core/related_lists.h"
#include "server/core/vector_index.h"

namespace related {

// A box ranked by a search: its articles in box order, each with the card
// it was ranked with, and how the policy shaped it.
struct RankedBox {
  std::vector<BoxedArticle> chosen;
  RankingDebug debug;
};

// The article at `slot`, found at similarity `score`, as `policy`'s
// ranking sees it (its card is read only if the policy needs its date).
Candidate ToCandidate(const VectorIndex& vectors, const ArticleTable& articles,
                      Slot slot, float score, const RankingPolicy& policy);

// Reads `vectors` and `articles`: the caller holds the index lock (shared)
// for the searcher's whole life.
class RelatedSearch {
 public:
  RelatedSearch(const VectorIndex& vectors, const ArticleTable& articles)
      : vectors_(vectors), articles_(articles) {}

  // Up to `limit` articles related to `query` (a unit vector) under
  // `policy`, fewer only when fewer eligible ones exist. Never includes
  // `self` (the query article's slot, if it is stored) or `exclude_ids`.
  // Fails only if FAISS does (INTERNAL).
  absl::StatusOr<RankedBox> Rank(const float* query, std::optional<Slot> self,
                                 int limit,
                                 const std::vector<ArticleId>& exclude_ids,
                                 const RankingPolicy& policy) const;

 private:
  // The `k` most similar slots that `admit` accepts; an approximate search
  // that returns fewer is repeated exhaustively, with `debug` reset.
  absl::StatusOr<std::vector<Neighbor>> Search(const float* query, int k,
                                               SlotFilter admit,
                                               RankingDebug& debug) const;
  absl::flat_hash_set<Slot> ExcludedSlots(
      std::optional<Slot> self,
      const std::vector<ArticleId>& exclude_ids) const;

  const VectorIndex& vectors_;
  const ArticleTable& articles_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_RELATED_SEARCH_H_
