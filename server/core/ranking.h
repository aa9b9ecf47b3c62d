// The re-ranking step of a related lookup: from the most similar eligible
// articles to the box an editor would approve (near-duplicates dropped,
// recency blended in, diversity by maximal marginal relevance).
#ifndef RELATED_SERVER_CORE_RANKING_H_
#define RELATED_SERVER_CORE_RANKING_H_

#include <vector>

#include "absl/time/time.h"
#include "server/core/article.h"
#include "server/core/ranking_policy.h"

namespace related {

// One eligible article, as the index search found it.
struct Candidate {
  float similarity;     // cosine similarity to the query
  const float* vector;  // its unit vector
  const ArticleMetadata* metadata;
};

// Chooses up to `limit` of `candidates` (ordered by similarity, best first)
// under `policy`, and returns their positions in `candidates`, in box order.
// Deterministic: ties go to the more similar candidate. Adds what it removed
// to `debug`.
std::vector<size_t> RankCandidates(const RankingPolicy& policy, absl::Time now,
                                   const std::vector<Candidate>& candidates,
                                   int dimension, int limit,
                                   RankingDebug& debug);

}  // namespace related

#endif  // RELATED_SERVER_CORE_RANKING_H_
