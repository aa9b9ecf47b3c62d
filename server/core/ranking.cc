#include "server/core/ranking.h"

#include <faiss/utils/distances.h>

#include <algorithm>
#include <limits>

namespace related {
namespace {

// FAISS's SIMD inner product: several times the plain loop, which the
// compiler may not vectorise (float addition is not associative).
float Dot(const float* a, const float* b, int dimension) {
  return faiss::fvec_inner_product(a, b, static_cast<size_t>(dimension));
}

}  // namespace

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
    if (policy.min_score.has_value() && c.similarity < *policy.min_score) {
      ++debug.removed_by_min_score;
      continue;
    }
    // The query's own updated or syndicated copy is the worst related item.
    if (suppress_duplicates && c.similarity > duplicate_threshold) {
      ++debug.removed_as_near_duplicate;
      continue;
    }
    open.push_back({i, c.similarity * RecencyFactor(policy, *c.metadata, now),
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
