#include "server/core/vector_index.h"

#include <omp.h>

#include <iostream>
#include <set>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "server/core/faiss_search.h"
#include "support/test_data.h"

namespace related {
namespace {

using testing::BruteForceTopK;
using testing::ClusteredVectors;

constexpr int kDim = 32;

// OpenMP keeps its thread count per task: a setting made inside a parallel
// region ends with it. A thread whose first search ran inside a write's
// region (as a writer's does) must still search alone outside it, or each
// single search there opens a team of its own.
TEST(UseOneOpenMpThread, HoldsOutsideTheRegionItFirstRanIn) {
  if (omp_get_num_procs() < 2) GTEST_SKIP() << "one core: one thread anyway";
  int inside = 0, outside = 0;
  std::thread fresh([&] {  // a thread that has not searched yet
#pragma omp parallel num_threads(1)
    {
      UseOneOpenMpThread();
      inside = omp_get_max_threads();
    }
    UseOneOpenMpThread();
    outside = omp_get_max_threads();
  });
  fresh.join();
  EXPECT_EQ(inside, 1);
  EXPECT_EQ(outside, 1);
}

// Admits every slot but the excluded ones.
struct Except {
  absl::flat_hash_set<Slot> excluded;
  bool operator()(Slot slot) const { return !excluded.contains(slot); }
};

TEST(KeepNearest, BestFirstTiesToTheLowerSlotAndTheRestKeptOnRequest) {
  const std::vector<Neighbor> given = {{7, 0.5f}, {3, 0.9f}, {9, 0.5f},
                                       {1, 0.1f}, {4, 0.5f}, {2, 0.7f}};
  std::vector<Neighbor> kept = given;
  KeepNearest(kept, 4);
  std::vector<Slot> slots;
  for (const Neighbor& n : kept) slots.push_back(n.slot);
  EXPECT_EQ(slots, (std::vector<Slot>{3, 2, 4, 7}));

  std::vector<Neighbor> all = given;
  KeepNearest(all, 2, /*keep_rest=*/true);
  ASSERT_EQ(all.size(), given.size());
  EXPECT_EQ(all[0].slot, 3);
  EXPECT_EQ(all[1].slot, 2);
  std::multiset<Slot> rest;
  for (size_t i = 2; i < all.size(); ++i) rest.insert(all[i].slot);
  EXPECT_EQ(rest, (std::multiset<Slot>{1, 4, 7, 9}));

  std::vector<Neighbor> few = given;
  KeepNearest(few, 10);
  EXPECT_EQ(few.size(), given.size());
  EXPECT_EQ(few.back().slot, 1);
}

TEST(FlatVectorIndex, MatchesBruteForceExactly) {
  const auto vectors = ClusteredVectors(2000, kDim, 40, /*seed=*/7);
  auto index = MakeVectorIndex(IndexKind::kExact, kDim, {});
  ASSERT_TRUE(index->Add(vectors.data(), 2000).ok());
  for (int q = 0; q < 50; ++q) {
    const float* query = &vectors[size_t(q) * kDim];
    auto got = index->Search(query, 10, Except{{q}});
    ASSERT_TRUE(got.ok());
    auto want =
        BruteForceTopK(vectors, kDim, query, 10, [&](int i) { return i == q; });
    ASSERT_EQ(got->size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ((*got)[i].slot, want[i]);
  }
}

TEST(FlatVectorIndex, RemoveMovesLastSlotIntoTheHole) {
  const auto vectors = ClusteredVectors(5, kDim, 2, 1);
  auto index = MakeVectorIndex(IndexKind::kExact, kDim, {});
  ASSERT_TRUE(index->Add(vectors.data(), 5).ok());
  auto move = index->Remove(1);
  ASSERT_TRUE(move.has_value());
  EXPECT_EQ(move->from, 4);
  EXPECT_EQ(move->to, 1);
  EXPECT_EQ(index->LiveCount(), 4);
  std::vector<float> got(kDim);
  index->Vector(1, got.data());
  for (int d = 0; d < kDim; ++d) EXPECT_EQ(got[d], vectors[4 * kDim + d]);
  EXPECT_FALSE(index->Remove(3).has_value());  // the last slot: nothing moves
  EXPECT_EQ(index->LiveCount(), 3);
}

// Approximate search must find nearly what exact search finds.
TEST(HnswVectorIndex, RecallAtTenAgainstExactIsAtLeast95Percent) {
  constexpr int kCount = 10000;
  const auto vectors = ClusteredVectors(kCount, kDim, 100, /*seed=*/42);
  auto exact = MakeVectorIndex(IndexKind::kExact, kDim, {});
  auto hnsw = MakeVectorIndex(IndexKind::kHnsw, kDim, HnswOptions{});
  ASSERT_TRUE(exact->Add(vectors.data(), kCount).ok());
  ASSERT_TRUE(hnsw->Add(vectors.data(), kCount).ok());
  int found = 0, total = 0;
  for (int q = 0; q < kCount; q += 50) {
    const float* query = &vectors[size_t(q) * kDim];
    auto want = exact->Search(query, 10, Except{{q}});
    auto got = hnsw->Search(query, 10, Except{{q}});
    ASSERT_TRUE(want.ok() && got.ok());
    ASSERT_EQ(got->size(), 10u);
    std::set<Slot> want_slots;
    for (auto& n : *want) want_slots.insert(n.slot);
    for (auto& n : *got) {
      EXPECT_NE(n.slot, q) << "the query itself was returned";
      found += want_slots.count(n.slot);
    }
    total += 10;
  }
  const double recall = double(found) / total;
  RecordProperty("recall_at_10", std::to_string(recall));
  std::cout << "HNSW recall@10 vs exact: " << recall << " over " << total / 10
            << " queries\n";
  EXPECT_GE(recall, 0.95);
}

TEST(HnswVectorIndex, RemovedAndExcludedSlotsNeverReturnedAndResultsStayFull) {
  constexpr int kCount = 3000;
  const auto vectors = ClusteredVectors(kCount, kDim, 30, 3);
  auto index = MakeVectorIndex(IndexKind::kHnsw, kDim, HnswOptions{});
  ASSERT_TRUE(index->Add(vectors.data(), kCount).ok());
  // Remove every third vector.
  for (Slot s = 0; s < kCount; s += 3)
    EXPECT_FALSE(index->Remove(s).has_value());
  EXPECT_EQ(index->LiveCount(), kCount - kCount / 3);
  for (int q = 1; q < kCount; q += 97) {
    absl::flat_hash_set<Slot> excluded = {q, q + 1};
    auto got = index->Search(&vectors[size_t(q) * kDim], 50, Except{excluded});
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->size(), 50u);
    for (auto& n : *got) {
      EXPECT_NE(n.slot % 3, 0) << "removed slot " << n.slot << " returned";
      EXPECT_FALSE(excluded.contains(n.slot));
    }
  }
}

TEST(VectorIndex, FewerVectorsThanKReturnsAllOfThem) {
  for (IndexKind kind : {IndexKind::kExact, IndexKind::kHnsw}) {
    const auto vectors = ClusteredVectors(4, kDim, 2, 9);
    auto index = MakeVectorIndex(kind, kDim, {});
    ASSERT_TRUE(index->Add(vectors.data(), 4).ok());
    auto got = index->Search(vectors.data(), 100, Except{{0}});
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->size(), 3u) << IndexKindName(kind);
  }
}

// The neighbours a write takes from its placement in the graph: live,
// never the article itself, best first, and as good as a search of the
// same effort. The second Add places 200 vectors at once on 2 threads, so
// some are placed at the same time; they must still find each other.
TEST(HnswVectorIndex, AddKeepsTheNearestItMetPlacingEachVector) {
  constexpr int kFirst = 4000, kSecond = 200, kReach = 100;
  const auto vectors = ClusteredVectors(kFirst + kSecond, kDim, 40, /*seed=*/5);
  auto hnsw = MakeVectorIndex(IndexKind::kHnsw, kDim, HnswOptions{});
  ASSERT_TRUE(hnsw->Add(vectors.data(), kFirst).ok());
  for (Slot slot = 0; slot < kFirst; slot += 7) hnsw->Remove(slot);
  MetNeighbors met{kReach, {}};
  auto added = hnsw->Add(&vectors[size_t(kFirst) * kDim], kSecond,
                         /*threads=*/2, &met);
  ASSERT_TRUE(added.ok());
  ASSERT_EQ(met.lists.size(), size_t(kSecond));
  const auto removed = [&](int i) { return i < kFirst && i % 7 == 0; };
  int found = 0, wanted = 0;
  for (int i = 0; i < kSecond; ++i) {
    const Slot self = kFirst + i;
    const std::vector<Neighbor>& list = met.lists[i];
    ASSERT_EQ(list.size(), size_t(kReach));
    for (size_t j = 0; j < list.size(); ++j) {
      EXPECT_NE(list[j].slot, self);
      EXPECT_FALSE(removed(static_cast<int>(list[j].slot)));
      if (j > 0) EXPECT_GE(list[j - 1].score, list[j].score);
    }
    // Recall of the top 10 against brute force over the live vectors.
    const auto want = BruteForceTopK(
        vectors, kDim, &vectors[size_t(self) * kDim], 10,
        [&](int other) { return other == self || removed(other); });
    std::set<Slot> got;
    for (const Neighbor& n : list) got.insert(n.slot);
    for (int w : want) {
      found += got.count(w);
      // One of the same Add: met only if compared exactly.
      if (w >= kFirst) EXPECT_TRUE(got.count(w)) << "vector " << i;
    }
    wanted += static_cast<int>(want.size());
  }
  const double recall = double(found) / wanted;
  std::cout << "recall@10 of the neighbours met placing " << kSecond
            << " vectors: " << recall << "\n";
  EXPECT_GE(recall, 0.98);
  // The exact index does not search to add.
  auto exact = MakeVectorIndex(IndexKind::kExact, kDim, {});
  MetNeighbors none{kReach, {}};
  ASSERT_TRUE(exact->Add(vectors.data(), 10, 1, &none).ok());
  EXPECT_TRUE(none.lists.empty());
}

}  // namespace
}  // namespace related
