// The editorial policy's rules, all in one place: who is eligible (the
// filters), how relevant a candidate is (similarity and recency), who is
// dropped (the score floor, near-duplicates) and in which order the box is
// filled (maximal marginal relevance). What a policy is, and its
// validation, is in ranking_policy.h; how candidates are found, in
// related_search.h.
#ifndef RELATED_SERVER_CORE_RANKING_H_
#define RELATED_SERVER_CORE_RANKING_H_

#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "server/core/article_cards.h"
#include "server/core/ranking_policy.h"

namespace related {

// Why an article is not eligible under a policy (kNone: it is).
enum class FilterRule { kNone, kSection, kLanguage, kDate, kAttributes };

// Whether the policy filters at all (on section, language, date or
// attributes). When it does not, no article's card needs to be read.
bool HasFilters(const RankingPolicy& policy);

// Whether relevance depends on the publication time (recency is on).
bool UsesRecency(const RankingPolicy& policy);

// Whether a policy's boxes can be computed ahead of the lookup and kept:
// they then depend on nothing but similarity (no filters, no recency, no
// fixed clock).
bool RankingIsPrecomputable(const RankingPolicy& policy);

// The first filter the article of `card` fails at time `now`.
FilterRule FailedFilter(const RankingPolicy& policy, const ArticleCard& card,
                        absl::Time now);

// Whether the article of `card` passes every filter; if not, the rule that
// removed it is counted in `debug`.
bool PassesFilters(const RankingPolicy& policy, const ArticleCard& card,
                   absl::Time now, RankingDebug& debug);

// The recency multiplier for an article published at `published_at` (1 when
// recency is off; no boost for an unknown date).
float RecencyFactor(const RankingPolicy& policy,
                    std::optional<absl::Time> published_at, absl::Time now);

// Whether `similarity` is under the policy's score floor. Candidates come
// best first, so once one is, every later one is too.
bool BelowMinScore(const RankingPolicy& policy, float similarity);

// One eligible article, as the index search found it.
struct Candidate {
  float similarity;                        // cosine similarity to the query
  const float* vector;                     // its unit vector
  std::optional<absl::Time> published_at;  // needed only if UsesRecency
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
