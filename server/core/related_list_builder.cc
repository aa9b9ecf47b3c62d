#include "server/core/related_list_builder.h"

#include <faiss/utils/distances.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/core/ranking.h"
#include "server/core/related_search.h"

namespace related {

std::unique_ptr<RelatedLists> MakeRelatedLists(
    const ArticleIndexOptions& options, const VectorIndex& vectors) {
  const RankingPolicy& policy = options.default_policy;
  if (!options.precompute_related || vectors.MovesSlots() ||
      !RankingIsPrecomputable(policy)) {
    return nullptr;
  }
  // Without diversity (and precomputable means without recency) the
  // default policy picks in order of similarity, and the box of a lookup is
  // decided by its first candidates: a list of 3 x limit is enough whenever
  // near-duplicates leave the box full (else RankBox searches). Diversity
  // weighs every candidate: the list must be the whole pool a lookup would
  // rank.
  const bool by_similarity = policy.diversity_lambda >= 1.0f;
  const int limit = options.default_limit;
  return std::make_unique<RelatedLists>(by_similarity
                                            ? std::max(3 * limit, 20)
                                            : CandidatePoolSize(policy, limit),
                                        limit, by_similarity);
}

std::string RelatedListsFingerprint(const ArticleIndexOptions& options) {
  const RankingPolicy& p = options.default_policy;
  // %a: floats exactly, so any change of a threshold shows.
  return absl::StrFormat(
      "limit=%d duplicates=%a lambda=%a min_score=%a candidates=%d",
      options.default_limit, p.duplicate_threshold.value_or(2.0f),
      p.diversity_lambda, p.min_score.value_or(-2.0f), p.candidates);
}

namespace {

// A stored box keeps its ranking's counts in 16 bits.
void KeepCounts(const RankingDebug& debug, StoredBox& box) {
  const auto count = [](int64_t n) {
    return static_cast<uint16_t>(std::min<int64_t>(n, UINT16_MAX));
  };
  box.candidates_considered = count(debug.candidates_considered);
  box.removed_by_min_score = count(debug.removed_by_min_score);
  box.removed_as_near_duplicate = count(debug.removed_as_near_duplicate);
}

}  // namespace

absl::StatusOr<StoredBox> BoxRanker::RankBox(Slot slot) const {
  const RankingPolicy& policy = options_.default_policy;
  const int limit = options_.default_limit;
  std::vector<ListedNeighbor> listed;
  std::vector<Candidate> candidates;
  for (const ListedNeighbor& n : lists_.Candidates(slot)) {
    // Listed articles removed since are skipped (see ApplyWrite).
    if (n.slot == slot || !articles_.Occupied(n.slot)) continue;
    listed.push_back(n);
    candidates.push_back(
        ToCandidate(vectors_, articles_, n.slot, n.score, policy));
  }
  RankingDebug debug;
  const std::vector<size_t> chosen = RankCandidates(
      policy, absl::Now(), candidates, vectors_.Dimension(), limit, debug);
  const bool below_min_score =
      !listed.empty() && BelowMinScore(policy, listed.back().score);
  if (static_cast<int>(chosen.size()) < limit &&
      vectors_.LiveCount() - 1 > static_cast<int64_t>(listed.size()) &&
      !below_min_score) {
    return RankBySearch(slot);
  }
  StoredBox box;
  box.chosen.reserve(chosen.size());
  for (size_t position : chosen) {
    const ListedNeighbor& n = listed[position];
    box.chosen.push_back({articles_.CardAt(n.slot), n.slot, n.score});
  }
  KeepCounts(debug, box);
  return box;
}

absl::StatusOr<StoredBox> BoxRanker::RankBySearch(Slot slot) const {
  auto ranked = RelatedSearch(vectors_, articles_)
                    .Rank(vectors_.StoredVector(slot), slot,
                          options_.default_limit, {}, options_.default_policy);
  if (!ranked.ok()) return ranked.status();
  StoredBox box;
  box.chosen.assign(ranked->chosen.begin(), ranked->chosen.end());
  box.widened = true;
  KeepCounts(ranked->debug, box);
  return box;
}

std::vector<absl::StatusOr<StoredBox>> BoxRanker::RankBoxes(
    const std::vector<Slot>& slots) const {
  std::vector<absl::StatusOr<StoredBox>> boxes(slots.size());
#pragma omp parallel for num_threads(WriteThreads(options_)) \
    schedule(dynamic, 4)
  for (size_t i = 0; i < slots.size(); ++i) boxes[i] = RankBox(slots[i]);
  return boxes;
}

RelatedListBuilder::RelatedListBuilder(const VectorIndex& vectors,
                                       const ArticleTable& articles,
                                       RelatedLists& lists,
                                       const ArticleIndexOptions& options)
    : vectors_(vectors),
      articles_(articles),
      lists_(lists),
      threads_(WriteThreads(options)) {}

std::vector<std::vector<Neighbor>> RelatedListBuilder::FindNeighbors(
    const std::vector<Slot>& slots, int k) const {
  std::vector<std::vector<Neighbor>> found(slots.size());
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 1)
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot self = slots[i];
    if (!articles_.Occupied(self)) continue;  // removed since
    auto neighbors =
        vectors_.Search(vectors_.StoredVector(self), k,
                        [self](Slot slot) { return slot != self; });
    if (neighbors.ok()) found[i] = *std::move(neighbors);
  }
  return found;
}

std::vector<std::vector<Neighbor>>
RelatedListBuilder::MergeNeighboursOfNeighbours(
    const std::vector<Slot>& slots) const {
  std::vector<std::vector<Neighbor>> merged(slots.size());
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 8)
  for (size_t i = 0; i < slots.size(); ++i) {
    merged[i] = NeighboursOfNeighbours(slots[i]);
  }
  return merged;
}

std::vector<Neighbor> RelatedListBuilder::NeighboursOfNeighbours(
    Slot slot) const {
  std::vector<Neighbor> merged;
  if (!articles_.Occupied(slot)) return merged;
  const std::vector<ListedNeighbor>& own = lists_.Candidates(slot);
  std::vector<uint32_t> reached;
  reached.reserve(own.size() * (lists_.pool_size() + 1));
  for (const ListedNeighbor& n : own) {
    reached.push_back(n.slot);
    for (const ListedNeighbor& m : lists_.Candidates(n.slot)) {
      reached.push_back(m.slot);
    }
  }
  std::sort(reached.begin(), reached.end());
  reached.erase(std::unique(reached.begin(), reached.end()), reached.end());
  const float* self = vectors_.StoredVector(slot);
  merged.reserve(reached.size());
  for (uint32_t other : reached) {
    if (other == slot || !articles_.Occupied(other)) continue;
    merged.push_back(
        {other, faiss::fvec_inner_product(self, vectors_.StoredVector(other),
                                          vectors_.Dimension())});
  }
  KeepNearest(merged, static_cast<size_t>(lists_.pool_size()));
  return merged;
}

std::vector<std::vector<Neighbor>>
RelatedListBuilder::CompletedFromNearestLists(
    const std::vector<Slot>& slots, std::vector<std::vector<Neighbor>> found,
    int hops) const {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 8)
  for (size_t i = 0; i < slots.size(); ++i) {
    std::vector<Neighbor>& list = found[i];
    if (list.empty() || !articles_.Occupied(slots[i])) continue;
    std::vector<Slot> known;
    known.reserve(list.size() + 1);
    for (const Neighbor& n : list) known.push_back(n.slot);
    known.push_back(slots[i]);
    std::sort(known.begin(), known.end());
    std::vector<Slot> reached;
    const size_t nearest = std::min(list.size(), static_cast<size_t>(hops));
    for (size_t h = 0; h < nearest; ++h) {
      for (const ListedNeighbor& m : lists_.Candidates(list[h].slot)) {
        const Slot other = m.slot;
        if (!std::binary_search(known.begin(), known.end(), other) &&
            articles_.Occupied(other)) {
          reached.push_back(other);
        }
      }
    }
    if (reached.empty()) continue;
    std::sort(reached.begin(), reached.end());
    reached.erase(std::unique(reached.begin(), reached.end()), reached.end());
    const size_t length = list.size();
    const float* self = vectors_.StoredVector(slots[i]);
    for (Slot other : reached) {
      list.push_back(
          {other, faiss::fvec_inner_product(self, vectors_.StoredVector(other),
                                            vectors_.Dimension())});
    }
    KeepNearest(list, length);
  }
  return found;
}

std::vector<Slot> RelatedListBuilder::StillAwaiting(
    const std::vector<Slot>& added) const {
  std::vector<Slot> waiting;
  for (Slot slot : added) {
    // Not replaced or deleted later in the load.
    if (articles_.Occupied(slot) && !lists_.Listed(slot)) {
      waiting.push_back(slot);
    }
  }
  return waiting;
}

std::vector<Slot> RelatedListBuilder::Unranked(
    const absl::flat_hash_set<Slot>& slots) const {
  std::vector<Slot> unranked;
  for (Slot slot : slots) {
    if (articles_.Occupied(slot) && lists_.Listed(slot) &&
        lists_.Box(slot) == nullptr) {
      unranked.push_back(slot);
    }
  }
  return unranked;
}

absl::flat_hash_set<Slot> RelatedListBuilder::ApplyWrite(
    const std::vector<Slot>& added,
    const std::vector<std::vector<Neighbor>>& found,
    const std::vector<Slot>& removed) {
  absl::flat_hash_set<Slot> stale;
  for (Slot gone : removed) {
    for (const ListedNeighbor& n : lists_.Release(gone)) {
      if (articles_.Occupied(n.slot) && lists_.Withdraw(n.slot, gone)) {
        stale.insert(n.slot);
      }
    }
  }
  // Every new list first, then the offers: new articles of one write may
  // not all have met each other (one placed in the graph before the other
  // only meets the older), and an offer to a list set after it would be
  // lost.
  for (size_t i = 0; i < added.size(); ++i) {
    if (!articles_.Occupied(added[i])) continue;
    lists_.SetCandidates(added[i], found[i]);
    stale.insert(added[i]);
  }
  for (size_t i = 0; i < added.size(); ++i) {
    if (!articles_.Occupied(added[i])) continue;
    for (const Neighbor& n : found[i]) {
      if (lists_.Offer(n.slot, added[i], n.score)) stale.insert(n.slot);
    }
  }
  return stale;
}

std::vector<Slot> RelatedListBuilder::SetCandidates(
    const std::vector<Slot>& slots,
    const std::vector<std::vector<Neighbor>>& found) {
  std::vector<Slot> set;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!articles_.Occupied(slots[i])) continue;  // deleted meanwhile
    lists_.SetCandidates(slots[i], found[i]);
    set.push_back(slots[i]);
  }
  return set;
}

void RelatedListBuilder::OfferToCandidates(const std::vector<Slot>& slots,
                                           const std::vector<Slot>& rebuilt,
                                           absl::flat_hash_set<Slot>& changed) {
  for (Slot slot : slots) {
    if (!articles_.Occupied(slot)) continue;
    // A copy: offers to this list's members may come back to this list.
    const std::vector<ListedNeighbor> own = lists_.Candidates(slot);
    for (const ListedNeighbor& n : own) {
      if (lists_.Offer(n.slot, slot, n.score) &&
          !std::binary_search(rebuilt.begin(), rebuilt.end(),
                              static_cast<Slot>(n.slot))) {
        changed.insert(n.slot);
      }
    }
  }
}

void RelatedListBuilder::Publish(
    const std::vector<Slot>& slots,
    std::vector<absl::StatusOr<StoredBox>>& boxes) {
  for (size_t i = 0; i < slots.size(); ++i) {
    if (boxes[i].ok()) lists_.SetBox(slots[i], *std::move(boxes[i]));
  }
}

void RelatedListBuilder::AwaitCandidates(const std::vector<Slot>& slots) {
  for (Slot slot : slots) lists_.AwaitCandidates(slot);
}

}  // namespace related
