#include "server/core/related_search.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace related {

Candidate ToCandidate(const VectorIndex& vectors, const ArticleTable& articles,
                      Slot slot, float score, const RankingPolicy& policy) {
  Candidate candidate{score, vectors.StoredVector(slot), std::nullopt};
  if (UsesRecency(policy)) {
    candidate.published_at = articles.CardOf(slot).published_at;
  }
  return candidate;
}

absl::flat_hash_set<Slot> RelatedSearch::ExcludedSlots(
    std::optional<Slot> self, const std::vector<ArticleId>& exclude_ids) const {
  // The query article is excluded inside the search, not dropped from rank
  // 0 afterwards: with approximate search it is not always first.
  absl::flat_hash_set<Slot> excluded;
  if (self.has_value()) excluded.insert(*self);
  for (const ArticleId& id : exclude_ids) {
    if (std::optional<Slot> slot = articles_.Find(id)) excluded.insert(*slot);
  }
  return excluded;
}

absl::StatusOr<std::vector<Neighbor>> RelatedSearch::Search(
    const float* query, int k, SlotFilter admit, RankingDebug& debug) const {
  auto neighbors = vectors_.Search(query, k, admit);
  if (!neighbors.ok() || static_cast<int>(neighbors->size()) >= k ||
      vectors_.Kind() == IndexKind::kExact) {
    return neighbors;
  }
  // The graph search ran dry: scan instead, counting what the scan removed.
  debug = RankingDebug{.search_rounds = debug.search_rounds, .now = debug.now};
  return vectors_.SearchExhaustive(query, k, admit);
}

absl::StatusOr<RankedBox> RelatedSearch::Rank(
    const float* query, std::optional<Slot> self, int limit,
    const std::vector<ArticleId>& exclude_ids,
    const RankingPolicy& policy) const {
  const absl::Time now = policy.now.value_or(absl::Now());
  const absl::flat_hash_set<Slot> excluded = ExcludedSlots(self, exclude_ids);
  const bool filtered = HasFilters(policy);  // else no card is read
  const int64_t live = vectors_.LiveCount();
  int64_t pool = CandidatePoolSize(policy, limit);
  for (int round = 1;; ++round, pool *= 2) {
    RankedBox box;
    box.debug.search_rounds = round;
    box.debug.now = now;
    auto admit = [&](Slot slot) {
      if (!excluded.contains(slot)) {
        return !filtered ||
               PassesFilters(policy, articles_.CardOf(slot), now, box.debug);
      }
      if (slot != self) ++box.debug.removed_by_exclude_ids;
      return false;
    };
    const int k =
        static_cast<int>(std::min<int64_t>(pool, std::max<int64_t>(live, 1)));
    auto neighbors = Search(query, k, admit, box.debug);
    if (!neighbors.ok()) return neighbors.status();
    std::vector<Candidate> candidates;
    candidates.reserve(neighbors->size());
    for (const Neighbor& n : *neighbors) {
      candidates.push_back(
          ToCandidate(vectors_, articles_, n.slot, n.score, policy));
    }
    const std::vector<size_t> chosen = RankCandidates(
        policy, now, candidates, vectors_.Dimension(), limit, box.debug);
    // Widening cannot help once every eligible article was a candidate, or
    // once candidates fell below min_score (the rest are less similar).
    const bool exhausted =
        static_cast<int>(neighbors->size()) < k || k >= live ||
        (!neighbors->empty() && BelowMinScore(policy, neighbors->back().score));
    if (static_cast<int>(chosen.size()) < limit && !exhausted) continue;
    for (size_t position : chosen) {
      const Neighbor& n = (*neighbors)[position];
      box.chosen.push_back(
          {articles_.CardAt(n.slot), static_cast<uint32_t>(n.slot), n.score});
    }
    return box;
  }
}

}  // namespace related
