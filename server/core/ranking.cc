#include "server/core/ranking.h"

#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace related {
namespace {

// FAISS's SIMD inner product: several times the plain loop, which the
// compiler may not vectorise (float addition is not associative).
float Dot(const float* a, const float* b, int dimension) {
  return faiss::fvec_inner_product(a, b, static_cast<size_t>(dimension));
}

bool Contains(const std::vector<std::string>& list, absl::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool FailsDateFilter(const RankingPolicy& p, std::optional<absl::Time> date,
                     absl::Time now) {
  if (!p.published_after.has_value() && !p.published_before.has_value() &&
      !p.max_age.has_value()) {
    return false;
  }
  // A date filter cannot vouch for an article of unknown date.
  if (!date.has_value()) return true;
  const absl::Time t = *date;
  return (p.published_after.has_value() && t < *p.published_after) ||
         (p.published_before.has_value() && t > *p.published_before) ||
         (p.max_age.has_value() && (t < now - *p.max_age || t > now));
}

}  // namespace

bool HasFilters(const RankingPolicy& p) {
  return !p.sections.empty() || !p.exclude_sections.empty() ||
         !p.languages.empty() || p.published_after.has_value() ||
         p.published_before.has_value() || p.max_age.has_value() ||
         !p.required_attributes.empty();
}

bool UsesRecency(const RankingPolicy& p) {
  return p.recency_weight > 0 && p.recency_half_life.has_value();
}

bool RankingIsPrecomputable(const RankingPolicy& policy) {
  return !HasFilters(policy) && !UsesRecency(policy) && !policy.now.has_value();
}

FilterRule FailedFilter(const RankingPolicy& p, const ArticleCard& card,
                        absl::Time now) {
  if ((!p.sections.empty() && !Contains(p.sections, card.section)) ||
      Contains(p.exclude_sections, card.section)) {
    return FilterRule::kSection;
  }
  if (!p.languages.empty() && !Contains(p.languages, card.language)) {
    return FilterRule::kLanguage;
  }
  if (FailsDateFilter(p, card.published_at, now)) return FilterRule::kDate;
  for (const auto& [key, value] : p.required_attributes) {
    if (FindAttribute(card, key) != absl::string_view(value)) {
      return FilterRule::kAttributes;
    }
  }
  return FilterRule::kNone;
}

bool PassesFilters(const RankingPolicy& policy, const ArticleCard& card,
                   absl::Time now, RankingDebug& debug) {
  switch (FailedFilter(policy, card, now)) {
    case FilterRule::kNone:
      return true;
    case FilterRule::kSection:
      ++debug.removed_by_section;
      break;
    case FilterRule::kLanguage:
      ++debug.removed_by_language;
      break;
    case FilterRule::kDate:
      ++debug.removed_by_date;
      break;
    case FilterRule::kAttributes:
      ++debug.removed_by_attributes;
      break;
  }
  return false;
}

float RecencyFactor(const RankingPolicy& p,
                    std::optional<absl::Time> published_at, absl::Time now) {
  if (!UsesRecency(p)) return 1.0f;
  double decay = 0;  // unknown date: no recency boost
  if (published_at.has_value()) {
    // Articles dated in the future (embargoes, clock skew) count as new.
    const double age =
        std::max(0.0, absl::ToDoubleSeconds(now - *published_at));
    decay = std::exp2(-age / absl::ToDoubleSeconds(*p.recency_half_life));
  }
  return static_cast<float>(1.0 - p.recency_weight + p.recency_weight * decay);
}

bool BelowMinScore(const RankingPolicy& policy, float similarity) {
  return policy.min_score.has_value() && similarity < *policy.min_score;
}

std::vector<size_t> RankCandidates(const RankingPolicy& policy, absl::Time now,
                                   const std::vector<Candidate>& candidates,
                                   int dimension, int limit,
                                   RankingDebug& debug) {
  const float duplicate_threshold = policy.duplicate_threshold.value_or(
      std::numeric_limits<float>::infinity());
  const bool suppress_duplicates = duplicate_threshold < 1.0f;
  const float lambda = policy.diversity_lambda;

  // Still in the running: position in `candidates`, relevance, and the
  // highest similarity to an article already chosen (for MMR).
  struct Open {
    size_t position;
    float relevance;
    float max_similarity_to_chosen;
  };
  std::vector<Open> open;
  open.reserve(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    if (BelowMinScore(policy, c.similarity)) {
      ++debug.removed_by_min_score;
      continue;
    }
    // The query's own updated or syndicated copy is the worst related item.
    if (suppress_duplicates && c.similarity > duplicate_threshold) {
      ++debug.removed_as_near_duplicate;
      continue;
    }
    open.push_back({i,
                    c.similarity * RecencyFactor(policy, c.published_at, now),
                    -std::numeric_limits<float>::infinity()});
  }
  debug.candidates_considered += static_cast<int64_t>(candidates.size());

  std::vector<size_t> chosen;
  if (lambda >= 1.0f) {
    // Pure relevance: pick in order of relevance, each pick checked only
    // against the picks before it. The same box as the general loop below,
    // with about limit^2 / 2 comparisons instead of limit x candidates;
    // near-duplicates are counted among the candidates reached before the
    // box filled.
    std::stable_sort(
        open.begin(), open.end(),
        [](const Open& a, const Open& b) { return a.relevance > b.relevance; });
    for (const Open& o : open) {
      if (static_cast<int>(chosen.size()) >= limit) break;
      const float* vector = candidates[o.position].vector;
      const bool duplicate =
          suppress_duplicates &&
          std::any_of(chosen.begin(), chosen.end(), [&](size_t c) {
            return Dot(candidates[c].vector, vector, dimension) >
                   duplicate_threshold;
          });
      if (duplicate) {
        ++debug.removed_as_near_duplicate;
      } else {
        chosen.push_back(o.position);
      }
    }
    return chosen;
  }
  const bool needs_pairwise = suppress_duplicates || lambda < 1.0f;
  while (static_cast<int>(chosen.size()) < limit && !open.empty()) {
    size_t best = 0;
    float best_value = -std::numeric_limits<float>::infinity();
    for (size_t k = 0; k < open.size(); ++k) {
      // MMR. Nothing chosen yet, or lambda 1, means no redundancy penalty
      // (and no 0 * -infinity).
      const float redundancy = chosen.empty() || lambda >= 1.0f
                                   ? 0.0f
                                   : open[k].max_similarity_to_chosen;
      const float value =
          lambda * open[k].relevance - (1.0f - lambda) * redundancy;
      // Strictly greater: on a tie the earlier (more similar) one wins.
      if (value > best_value) {
        best_value = value;
        best = k;
      }
    }
    const size_t picked = open[best].position;
    chosen.push_back(picked);
    open.erase(open.begin() + static_cast<ptrdiff_t>(best));
    if (!needs_pairwise) continue;
    const float* picked_vector = candidates[picked].vector;
    size_t kept = 0;
    for (size_t k = 0; k < open.size(); ++k) {
      const float s =
          Dot(candidates[open[k].position].vector, picked_vector, dimension);
      if (suppress_duplicates && s > duplicate_threshold) {
        ++debug.removed_as_near_duplicate;
        continue;
      }
      open[k].max_similarity_to_chosen =
          std::max(open[k].max_similarity_to_chosen, s);
      open[kept++] = open[k];
    }
    open.resize(kept);
  }
  return chosen;
}

}  // namespace related
