// RankingPolicy: the editorial controls of one related lookup, and what a
// lookup reports of them. A request's policy is layered over the server's
// defaults (flags); the result says what was applied and what each rule
// removed. The rules themselves are applied in server/core/ranking.h.
#ifndef RELATED_SERVER_CORE_RANKING_POLICY_H_
#define RELATED_SERVER_CORE_RANKING_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace related {

struct RankingPolicy {
  // --- Filters: an article failing one is not eligible at all.
  std::vector<std::string> sections;  // empty: any section
  std::vector<std::string> exclude_sections;
  std::vector<std::string> languages;          // empty: any language
  // Only the query article's language (no language matches no language),
  // when `languages` is empty and the query is a stored article. Not a
  // filter of its own: a lookup turns it into `languages` (see
  // ForQueryLanguage), so that precomputed boxes, which hold one language
  // whenever the corpus does, serve it without a search.
  bool same_language = false;
  std::optional<absl::Time> published_after;   // inclusive
  std::optional<absl::Time> published_before;  // inclusive
  std::optional<absl::Duration> max_age;  // published in [now - max_age, now]
  std::map<std::string, std::string> required_attributes;
  std::optional<float> min_score;  // cosine similarity floor

  // --- Near-duplicate suppression: a candidate whose cosine similarity to
  // the query or to an article already chosen exceeds this is dropped (the
  // same story, updated or syndicated). nullopt or >= 1: off.
  std::optional<float> duplicate_threshold;

  // --- Diversity: maximal marginal relevance. 1: pure relevance; lower
  // values trade relevance for difference from articles already chosen.
  float diversity_lambda = 1.0f;

  // --- Recency: relevance = similarity * (1 - w + w * 2^(-age/half_life)).
  // Off unless both are set; an article without published_at gets no boost.
  std::optional<absl::Duration> recency_half_life;
  float recency_weight = 0.0f;

  // The clock for max_age and recency; nullopt: the server's clock. A
  // request may set it for tests and replays.
  std::optional<absl::Time> now;

  // How many of the most similar eligible articles the re-ranking considers
  // (0: max(4 * limit, 50)). Widened automatically while the box is not full
  // and more eligible articles exist.
  int candidates = 0;
};

// How many candidates each rule removed, and what the ranking looked at.
struct RankingDebug {
  int64_t candidates_considered = 0;  // eligible articles re-ranked
  int64_t removed_by_section = 0;
  int64_t removed_by_language = 0;
  int64_t removed_by_date = 0;
  int64_t removed_by_attributes = 0;
  int64_t removed_by_exclude_ids = 0;
  int64_t removed_by_min_score = 0;
  int64_t removed_as_near_duplicate = 0;
  int search_rounds = 0;  // candidate searches run (more when widened)
  absl::Time now;         // the clock the lookup used
  // The box came from the article's precomputed related list: no search ran
  // for this lookup (search_rounds is 0).
  bool precomputed = false;
};

// INVALID_ARGUMENT naming the "policy.<field>" at fault: lambda or weight
// outside [0, 1], a threshold outside [-1, 1], a non-positive half-life or
// max_age, an inverted date range, a negative candidate count.
absl::Status ValidateRankingPolicy(const RankingPolicy& policy);

// Whether `a` and `b` rank alike, ignoring `now` (equal in every other
// field).
bool SameRankingIgnoringClock(const RankingPolicy& a, const RankingPolicy& b);

// How many candidates a lookup for `limit` articles re-ranks first.
int CandidatePoolSize(const RankingPolicy& policy, int limit);

}  // namespace related

#endif  // RELATED_SERVER_CORE_RANKING_POLICY_H_
