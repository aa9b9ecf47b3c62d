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

namespace {

// A candidate still in the running: its position in the candidates, its
// relevance, and its highest similarity to an article already chosen.
struct Open {
  size_t position;
  float relevance;
  float max_similarity_to_chosen = -std::numeric_limits<float>::infinity();
};

// One RankCandidates call: the candidates, and the policy's duplicate rule.
class BoxFiller {
 public:
  BoxFiller(const RankingPolicy& policy,
            const std::vector<Candidate>& candidates, int dimension,
            RankingDebug& debug)
      : policy_(policy),
        candidates_(candidates),
        dimension_(dimension),
        debug_(debug),
        duplicate_threshold_(policy.duplicate_threshold.value_or(
            std::numeric_limits<float>::infinity())) {}

  // The candidates above the score floor and not copies of the query, with
  // their relevance at `now`.
  std::vector<Open> Eligible(absl::Time now) const {
    std::vector<Open> open;
    open.reserve(candidates_.size());
    for (size_t i = 0; i < candidates_.size(); ++i) {
      const Candidate& c = candidates_[i];
      if (BelowMinScore(policy_, c.similarity)) {
        ++debug_.removed_by_min_score;
      } else if (IsDuplicate(c.similarity)) {
        // The query's own updated or syndicated copy is the worst related
        // item.
        ++debug_.removed_as_near_duplicate;
      } else {
        open.push_back(
            {i, c.similarity * RecencyFactor(policy_, c.published_at, now)});
      }
    }
    debug_.candidates_considered += static_cast<int64_t>(candidates_.size());
    return open;
  }

  // Pure relevance: pick in order of relevance, each pick checked only
  // against the picks before it. The same box as ByMarginalRelevance would
  // give with lambda 1, with about limit^2 / 2 comparisons instead of limit
  // x candidates; near-duplicates are counted among the candidates reached
  // before the box filled.
  std::vector<size_t> ByRelevance(std::vector<Open> open, int limit) const {
    std::stable_sort(
        open.begin(), open.end(),
        [](const Open& a, const Open& b) { return a.relevance > b.relevance; });
    std::vector<size_t> chosen;
    for (const Open& o : open) {
      if (static_cast<int>(chosen.size()) >= limit) break;
      const bool duplicate = std::any_of(
          chosen.begin(), chosen.end(),
          [&](size_t c) { return IsDuplicate(Similarity(c, o.position)); });
      if (duplicate) {
        ++debug_.removed_as_near_duplicate;
      } else {
        chosen.push_back(o.position);
      }
    }
    return chosen;
  }

  // Maximal marginal relevance (lambda < 1): each pick maximises
  // lambda x relevance - (1 - lambda) x its highest similarity to the
  // picks before it.
  std::vector<size_t> ByMarginalRelevance(std::vector<Open> open,
                                          int limit) const {
    std::vector<size_t> chosen;
    while (static_cast<int>(chosen.size()) < limit && !open.empty()) {
      const size_t best = MostMarginal(open, chosen.empty());
      const size_t picked = open[best].position;
      chosen.push_back(picked);
      open.erase(open.begin() + static_cast<ptrdiff_t>(best));
      size_t kept = 0;
      for (Open& o : open) {
        const float s = Similarity(o.position, picked);
        if (IsDuplicate(s)) {
          ++debug_.removed_as_near_duplicate;
          continue;
        }
        o.max_similarity_to_chosen = std::max(o.max_similarity_to_chosen, s);
        open[kept++] = o;
      }
      open.resize(kept);
    }
    return chosen;
  }

 private:
  size_t MostMarginal(const std::vector<Open>& open, bool first) const {
    const float lambda = policy_.diversity_lambda;
    size_t best = 0;
    float best_value = -std::numeric_limits<float>::infinity();
    for (size_t k = 0; k < open.size(); ++k) {
      // Nothing chosen yet: no redundancy penalty (and no 0 x -infinity).
      const float redundancy = first ? 0.0f : open[k].max_similarity_to_chosen;
      const float value =
          lambda * open[k].relevance - (1.0f - lambda) * redundancy;
      // Strictly greater: on a tie the earlier (more similar) one wins.
      if (value > best_value) {
        best_value = value;
        best = k;
      }
    }
    return best;
  }

  bool IsDuplicate(float similarity) const {
    return duplicate_threshold_ < 1.0f && similarity > duplicate_threshold_;
  }
  float Similarity(size_t a, size_t b) const {
    return Dot(candidates_[a].vector, candidates_[b].vector, dimension_);
  }

  const RankingPolicy& policy_;
  const std::vector<Candidate>& candidates_;
  const int dimension_;
  RankingDebug& debug_;
  const float duplicate_threshold_;  // infinite: suppression off
};

}  // namespace

std::vector<size_t> RankCandidates(const RankingPolicy& policy, absl::Time now,
                                   const std::vector<Candidate>& candidates,
                                   int dimension, int limit,
                                   RankingDebug& debug) {
  const BoxFiller filler(policy, candidates, dimension, debug);
  std::vector<Open> open = filler.Eligible(now);
  return policy.diversity_lambda >= 1.0f
             ? filler.ByRelevance(std::move(open), limit)
             : filler.ByMarginalRelevance(std::move(open), limit);
}

}  // namespace related
