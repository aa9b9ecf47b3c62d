// Precomputed related lists: the bookkeeping rules of RelatedLists, and that
// ArticleIndex serves from them exactly what a fresh search would, through
// inserts, vector replacements, metadata edits and deletes.
#include "server/core/related_lists.h"

#include <cstdio>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/core/article_index.h"
#include "support/test_data.h"

namespace related {
namespace {

using testing::ClusteredVectors;
using testing::TestId;

// --- RelatedLists on its own: pool of 4, box of 2, picks by similarity.

// A box entry for the article at `slot` (the lists never read its card).
BoxedArticle Boxed(uint32_t slot, float score) {
  return {/*card=*/slot, slot, score};
}

RelatedLists ListsWithOneFreshBox() {
  RelatedLists lists(/*pool_size=*/4, /*box_size=*/2,
                     /*box_follows_similarity=*/true);
  lists.SetCandidates(0, {{1, 0.9f}, {2, 0.8f}, {3, 0.7f}, {4, 0.6f}});
  StoredBox box;
  box.chosen = {Boxed(1, 0.9f), Boxed(2, 0.8f)};
  lists.SetBox(0, box);
  return lists;
}

TEST(RelatedLists, NewCandidatesWaitForTheirBox) {
  RelatedLists lists(4, 2, true);
  EXPECT_EQ(lists.StaleCount(), 0);
  lists.SetCandidates(3, {{1, 0.5f}});
  EXPECT_EQ(lists.StaleCount(), 1);
  EXPECT_EQ(lists.Box(3), nullptr);
  lists.SetBox(3, StoredBox{});
  EXPECT_EQ(lists.StaleCount(), 0);
  ASSERT_NE(lists.Box(3), nullptr);
}

TEST(RelatedLists, LessSimilarThanAFullPoolIsIgnored) {
  RelatedLists lists = ListsWithOneFreshBox();
  EXPECT_FALSE(lists.Offer(0, 9, 0.5f));
  EXPECT_EQ(lists.Candidates(0).size(), 4u);
  EXPECT_EQ(lists.Candidates(0).back().slot, 4u);
  EXPECT_NE(lists.Box(0), nullptr);
}

TEST(RelatedLists, BelowAFullBoxJoinsTheListButKeepsTheBox) {
  RelatedLists lists = ListsWithOneFreshBox();
  EXPECT_FALSE(lists.Offer(0, 9, 0.75f));
  ASSERT_EQ(lists.Candidates(0).size(), 4u);  // the least similar left
  EXPECT_EQ(lists.Candidates(0)[2].slot, 9u);
  EXPECT_EQ(lists.Candidates(0).back().slot, 3u);
  EXPECT_NE(lists.Box(0), nullptr);
}

TEST(RelatedLists, AboveTheBoxsLastMakesItStale) {
  RelatedLists lists = ListsWithOneFreshBox();
  EXPECT_TRUE(lists.Offer(0, 9, 0.85f));
  EXPECT_EQ(lists.Box(0), nullptr);
  EXPECT_EQ(lists.StaleCount(), 1);
  EXPECT_EQ(lists.Candidates(0)[1].slot, 9u);
}

TEST(RelatedLists, WithDiversityAnyNewCandidateMakesItStale) {
  RelatedLists lists(4, 2, /*box_follows_similarity=*/false);
  lists.SetCandidates(0, {{1, 0.9f}, {2, 0.8f}, {3, 0.7f}, {4, 0.6f}});
  lists.SetBox(0, StoredBox{{Boxed(1, 0.9f), Boxed(3, 0.7f)}});
  EXPECT_TRUE(lists.Offer(0, 9, 0.65f));
  EXPECT_EQ(lists.Box(0), nullptr);
}

TEST(RelatedLists, ARepeatedOfferIsIgnored) {
  RelatedLists lists = ListsWithOneFreshBox();
  EXPECT_FALSE(lists.Offer(0, 2, 0.95f));
  EXPECT_EQ(lists.Candidates(0).size(), 4u);
}

TEST(RelatedLists, WithdrawingAnUnchosenCandidateKeepsTheBox) {
  RelatedLists lists = ListsWithOneFreshBox();
  EXPECT_FALSE(lists.Withdraw(0, 3));
  EXPECT_EQ(lists.Candidates(0).size(), 3u);
  EXPECT_NE(lists.Box(0), nullptr);
  EXPECT_TRUE(lists.Withdraw(0, 2));
  EXPECT_EQ(lists.Box(0), nullptr);
}

TEST(RelatedLists, ReleaseHandsBackTheCandidatesAndWaitsForNothing) {
  RelatedLists lists(4, 2, true);
  lists.SetCandidates(5, {{1, 0.9f}, {2, 0.8f}});
  EXPECT_EQ(lists.StaleCount(), 1);
  const auto released = lists.Release(5);
  ASSERT_EQ(released.size(), 2u);
  EXPECT_EQ(released[0].slot, 1u);
  EXPECT_EQ(lists.StaleCount(), 0);
  EXPECT_TRUE(lists.Candidates(5).empty());
}

TEST(RelatedLists, AnArticleAwaitingCandidatesIsStaleAndTakesNoOffers) {
  RelatedLists lists(4, 2, true);
  lists.AwaitCandidates(5);
  EXPECT_FALSE(lists.Listed(5));
  EXPECT_EQ(lists.StaleCount(), 1);
  EXPECT_EQ(lists.Box(5), nullptr);
  EXPECT_FALSE(lists.Offer(5, 1, 0.9f));
  EXPECT_FALSE(lists.Withdraw(5, 1));
  EXPECT_TRUE(lists.Candidates(5).empty());
  lists.SetCandidates(5, {{1, 0.9f}});
  EXPECT_TRUE(lists.Listed(5));
  EXPECT_EQ(lists.StaleCount(), 1);
  lists.SetBox(5, StoredBox{});
  EXPECT_EQ(lists.StaleCount(), 0);
}

TEST(RelatedLists, RemovedArticlesStillListedMakeRoomFirst) {
  RelatedLists lists = ListsWithOneFreshBox();
  // Slot 2 was removed, but not withdrawn from list 0 (similarity is not
  // always symmetric in rank). A live article less similar than every
  // listed one still gets in, in the removed one's place.
  lists.Release(2);
  EXPECT_FALSE(lists.Offer(0, 9, 0.5f));
  ASSERT_EQ(lists.Candidates(0).size(), 4u);
  EXPECT_EQ(lists.Candidates(0).back().slot, 9u);
  for (const ListedNeighbor& n : lists.Candidates(0)) EXPECT_NE(n.slot, 2u);
}

// --- ArticleIndex serving from the lists.

constexpr int kDim = 24;

Article MakeArticle(int id, const float* vector, int version = 0) {
  Article a;
  a.id = TestId(id);
  a.embedding.assign(vector, vector + kDim);
  a.metadata.title =
      "Title " + std::to_string(id) + " v" + std::to_string(version);
  a.metadata.section = id % 3 ? "world" : "sport";
  return a;
}

// `exhaustive_effort`, when set, is both HNSW efforts: searches, and the
// placement of a new vector, whose search gives a write its neighbours.
// Larger than the graph (tombstones included), it makes HNSW exact.
std::unique_ptr<ArticleIndex> NewIndex(IndexKind kind, bool precompute,
                                       int exhaustive_effort = 0) {
  ArticleIndexOptions options;
  options.index_kind = kind;
  options.dimension = kDim;
  options.write_chunk_size = 5;  // lists updated chunk by chunk
  options.precompute_related = precompute;
  options.hnsw.ef_search = 256;
  if (exhaustive_effort > 0) {
    options.hnsw.ef_search = exhaustive_effort;
    options.hnsw.ef_construction = exhaustive_effort;
  }
  options.default_policy.duplicate_threshold = 0.97f;
  auto index = ArticleIndex::Create(options);
  EXPECT_TRUE(index.ok()) << index.status();
  return *std::move(index);
}

RelatedQuery DefaultQuery(const ArticleIndex& index, int id, int limit = 0) {
  return {TestId(id), limit, {}, index.options().default_policy};
}

// Applies one random write to both indexes and to `live` (the IDs stored).
// Each write takes fresh vectors from `pool`: no two articles tie.
struct Churn {
  const std::vector<float>& pool;
  std::vector<int> live;
  int next_id = 0;
  int next_vector = 0;

  const float* NextVector() {
    EXPECT_LT((next_vector + 1) * kDim, static_cast<int>(pool.size()));
    return &pool[static_cast<size_t>(next_vector++) * kDim];
  }
};

void RandomWrite(std::mt19937& rng, Churn& churn, ArticleIndex& a,
                 ArticleIndex& b) {
  std::vector<int>& live = churn.live;
  std::uniform_int_distribution<int> action(0, 9);
  const int what = live.empty() ? 0 : action(rng);
  if (what <= 4) {  // a batch of new articles
    std::vector<Article> batch;
    for (int i = 0; i < 6; ++i) {
      batch.push_back(MakeArticle(churn.next_id, churn.NextVector()));
      live.push_back(churn.next_id++);
    }
    ASSERT_TRUE(a.Upsert(batch).ok());
    ASSERT_TRUE(b.Upsert(batch).ok());
    return;
  }
  std::uniform_int_distribution<size_t> pick(0, live.size() - 1);
  const size_t victim = pick(rng);
  const int id = live[victim];
  if (what <= 6) {  // a new vector for an existing article
    const std::vector<Article> batch = {MakeArticle(id, churn.NextVector(), 1)};
    ASSERT_TRUE(a.Upsert(batch).ok());
    ASSERT_TRUE(b.Upsert(batch).ok());
  } else if (what == 7) {  // an edited headline (same vector)
    auto stored = a.Get(TestId(id));
    ASSERT_TRUE(stored.ok());
    stored->metadata.title += " (updated)";
    ASSERT_TRUE(a.Upsert({*stored}).ok());
    ASSERT_TRUE(b.Upsert({*stored}).ok());
  } else {  // a delete
    ASSERT_EQ(*a.Delete({TestId(id)}), 1);
    ASSERT_EQ(*b.Delete({TestId(id)}), 1);
    live.erase(live.begin() + static_cast<ptrdiff_t>(victim));
  }
}

// While every article's list holds every other article (fewer articles
// than the candidate pool), a precomputed box must equal a fresh search's
// box exactly, after any sequence of writes.
TEST(PrecomputedRelated, SmallCorpusBoxesEqualFreshSearchesThroughChurn) {
  const auto pool = ClusteredVectors(1000, kDim, 4, 5, 0.3f);
  // Search and placement queues longer than the graph (tombstones included)
  // make HNSW exact here, so only the lists can make a difference.
  auto with_lists = NewIndex(IndexKind::kHnsw, /*precompute=*/true,
                             /*exhaustive_effort=*/2048);
  auto without = NewIndex(IndexKind::kExact, /*precompute=*/false);
  std::mt19937 rng(7);
  Churn churn{pool, {}};
  std::vector<int>& live = churn.live;
  int compared = 0;
  for (int step = 0; step < 120; ++step) {
    RandomWrite(rng, churn, *with_lists, *without);
    while (live.size() > 44) {  // every list holds all others (pool 50)
      ASSERT_EQ(*with_lists->Delete({TestId(live.front())}), 1);
      ASSERT_EQ(*without->Delete({TestId(live.front())}), 1);
      live.erase(live.begin());
    }
    EXPECT_EQ(with_lists->Stats().related_lists_stale, 0);
    for (int id : live) {
      for (int limit : {0, 3}) {
        auto served = with_lists->Related(DefaultQuery(*with_lists, id, limit));
        auto fresh = without->Related(DefaultQuery(*without, id, limit));
        ASSERT_TRUE(served.ok() && fresh.ok());
        EXPECT_TRUE(served->debug.precomputed);
        ASSERT_EQ(served->articles.size(), fresh->articles.size())
            << "article " << id << " at step " << step;
        for (size_t i = 0; i < fresh->articles.size(); ++i) {
          EXPECT_EQ(served->articles[i].id, fresh->articles[i].id)
              << "article " << id << " item " << i << " at step " << step;
          EXPECT_NEAR(served->articles[i].score, fresh->articles[i].score,
                      1e-5);
          // Metadata is read at lookup time: an edited headline shows.
          EXPECT_EQ(served->articles[i].metadata->title,
                    fresh->articles[i].metadata->title);
        }
        ++compared;
      }
    }
  }
  std::cout << "precomputed vs fresh: " << compared
            << " boxes compared, all equal\n";
}

// The share of exact search's box items (default policy) that `served`
// returns too, over every live article. `from_lists`: every box must have
// been served precomputed.
double AgreementWithExact(const ArticleIndex& served, const ArticleIndex& exact,
                          const std::vector<int>& live, bool from_lists) {
  int64_t agreed = 0, total = 0;
  for (int id : live) {
    auto got = served.Related(DefaultQuery(served, id));
    auto want = exact.Related(DefaultQuery(exact, id));
    EXPECT_TRUE(got.ok() && want.ok()) << "article " << id;
    if (!got.ok() || !want.ok()) continue;
    if (from_lists) {
      EXPECT_TRUE(got->debug.precomputed) << "article " << id;
    }
    std::set<std::string> expected;
    for (const auto& r : want->articles) expected.insert(r.id);
    for (const auto& r : got->articles) agreed += expected.count(r.id);
    total += static_cast<int64_t>(want->articles.size());
  }
  return total > 0 ? double(agreed) / double(total) : 0;
}

// At a size where lists hold only the nearest 50, boxes kept up to date
// through churn agree with exact search on at least 99% of their items.
TEST(PrecomputedRelated, LargerCorpusAgreesWithExactSearchThroughChurn) {
  const auto pool = ClusteredVectors(6000, kDim, 40, 9, 0.5f);
  auto with_lists = NewIndex(IndexKind::kHnsw, true);
  auto exact = NewIndex(IndexKind::kExact, false);
  std::vector<Article> batch;
  Churn churn{pool, {}};
  std::vector<int>& live = churn.live;
  for (int i = 0; i < 3000; ++i) {
    batch.push_back(MakeArticle(churn.next_id, churn.NextVector()));
    live.push_back(churn.next_id++);
    if (batch.size() == 200) {
      ASSERT_TRUE(with_lists->Upsert(batch).ok());
      ASSERT_TRUE(exact->Upsert(batch).ok());
      batch.clear();
    }
  }
  std::mt19937 rng(3);
  for (int step = 0; step < 300; ++step) {
    RandomWrite(rng, churn, *with_lists, *exact);
  }
  EXPECT_EQ(with_lists->Stats().related_lists_stale, 0);
  const double agreement =
      AgreementWithExact(*with_lists, *exact, live, /*from_lists=*/false);
  std::cout << "precomputed boxes vs exact search after churn: " << agreement
            << "\n";
  EXPECT_GE(agreement, 0.99);
}

// 300 articles in 5 clusters, with their lists kept.
std::unique_ptr<ArticleIndex> SmallIndexWithLists() {
  const auto pool = ClusteredVectors(300, kDim, 5, 2);
  auto index = NewIndex(IndexKind::kHnsw, true);
  std::vector<Article> batch;
  for (int i = 0; i < 300; ++i)
    batch.push_back(MakeArticle(i, &pool[i * kDim]));
  EXPECT_TRUE(index->Upsert(batch).ok());
  return index;
}

TEST(PrecomputedRelated, OtherLookupsSearchAfresh) {
  auto index = SmallIndexWithLists();
  ASSERT_TRUE(index->Stats().related_lists_precomputed);

  EXPECT_TRUE(index->Related(DefaultQuery(*index, 1))->debug.precomputed);
  RelatedQuery excluding = DefaultQuery(*index, 1);
  excluding.exclude_ids = {TestId(2)};
  EXPECT_FALSE(index->Related(excluding)->debug.precomputed);
  EXPECT_FALSE(index->Related(DefaultQuery(*index, 1, 11))->debug.precomputed);
  RelatedQuery sport = DefaultQuery(*index, 1);
  sport.policy.sections = {"sport"};
  auto filtered = index->Related(sport);
  ASSERT_TRUE(filtered.ok());
  EXPECT_FALSE(filtered->debug.precomputed);
  for (const auto& r : filtered->articles)
    EXPECT_EQ(r.metadata->section, "sport");
}

// Every live article's box from `served` equals exact search's in
// `reference` (same items, same order); `precomputed`: how it was served.
void ExpectBoxesAsExact(const ArticleIndex& served,
                        const ArticleIndex& reference,
                        const std::vector<int>& live, bool precomputed) {
  for (int id : live) {
    for (int limit : {0, 3}) {
      auto got = served.Related(DefaultQuery(served, id, limit));
      auto want = reference.Related(DefaultQuery(reference, id, limit));
      ASSERT_TRUE(got.ok() && want.ok()) << "article " << id;
      EXPECT_EQ(got->debug.precomputed, precomputed) << "article " << id;
      ASSERT_EQ(got->articles.size(), want->articles.size())
          << "article " << id;
      for (size_t i = 0; i < want->articles.size(); ++i) {
        EXPECT_EQ(got->articles[i].id, want->articles[i].id)
            << "article " << id << " item " << i;
      }
    }
  }
}

// A bulk load (an import stream, a recovery) leaves its articles' lists to
// FinishBulkLoad; meanwhile their lookups search, and single writes,
// replacements and deletes may interleave. Finished, every box is served
// precomputed and equals exact search.
TEST(PrecomputedRelated, BulkLoadBuildsEveryListWhenItFinishes) {
  const auto pool = ClusteredVectors(1000, kDim, 8, 4, 0.4f);
  auto with_lists =
      NewIndex(IndexKind::kHnsw, true, /*exhaustive_effort=*/2048);
  auto exact = NewIndex(IndexKind::kExact, false);
  Churn churn{pool, {}};
  std::vector<int>& live = churn.live;
  std::set<int> singles;  // written outside the load
  ArticleIndex::BulkLoad bulk;
  for (int round = 0; round < 8; ++round) {
    std::vector<Article> batch;
    for (int i = 0; i < 50; ++i) {
      batch.push_back(MakeArticle(churn.next_id, churn.NextVector()));
      live.push_back(churn.next_id++);
    }
    ASSERT_TRUE(with_lists->Upsert(batch, &bulk).ok());
    ASSERT_TRUE(exact->Upsert(batch).ok());
    // Others write meanwhile: a new article, a new vector for one of the
    // load's articles (by the load), and a delete.
    const std::vector<Article> single = {
        MakeArticle(churn.next_id, churn.NextVector())};
    singles.insert(churn.next_id);
    live.push_back(churn.next_id++);
    ASSERT_TRUE(with_lists->Upsert(single).ok());
    ASSERT_TRUE(exact->Upsert(single).ok());
    const std::vector<Article> replaced = {
        MakeArticle(live[round * 40], churn.NextVector(), 1)};
    ASSERT_TRUE(with_lists->Upsert(replaced, &bulk).ok());
    ASSERT_TRUE(exact->Upsert(replaced).ok());
    const int victim = live[round * 40 + 7];
    ASSERT_EQ(*with_lists->Delete({TestId(victim)}), 1);
    ASSERT_EQ(*exact->Delete({TestId(victim)}), 1);
    live.erase(live.begin() + round * 40 + 7);
  }
  EXPECT_GT(with_lists->Stats().related_lists_stale, 300);
  // Waiting lists are not served: a lookup searches (and finds the same).
  std::vector<int> loaded;
  for (int id : live) {
    if (!singles.count(id)) loaded.push_back(id);
  }
  ExpectBoxesAsExact(*with_lists, *exact, loaded, /*precomputed=*/false);

  with_lists->FinishBulkLoad(bulk);
  EXPECT_EQ(with_lists->Stats().related_lists_stale, 0);
  ExpectBoxesAsExact(*with_lists, *exact, live, /*precomputed=*/true);
}

// A sparse HNSW graph searched with a short queue, where one search misses
// neighbours as one does at a million articles in production, with lists,
// bulk-loaded with the first `count` vectors of `pool`; and an exact index
// holding the same.
struct WeakAndExact {
  std::unique_ptr<ArticleIndex> with_lists;
  std::unique_ptr<ArticleIndex> exact;
};
WeakAndExact BulkLoadWeakAndExact(const std::vector<float>& pool, int count) {
  ArticleIndexOptions options;
  options.dimension = kDim;
  options.default_policy.duplicate_threshold = 0.97f;
  options.hnsw = {.m = 6, .ef_construction = 16, .ef_search = 8};  // weak
  // Parallel inserts build a different graph each run (and a better one
  // under a sanitizer's slower threads); one writer makes it the same graph
  // in every build, so the agreement these tests assert is the same too.
  options.write_threads = 1;
  WeakAndExact both{*ArticleIndex::Create(options),
                    NewIndex(IndexKind::kExact, false)};
  ArticleIndex::BulkLoad bulk;
  std::vector<Article> batch;
  for (int i = 0; i < count; ++i) {
    batch.push_back(MakeArticle(i, &pool[static_cast<size_t>(i) * kDim]));
    if (batch.size() == 500 || i + 1 == count) {
      EXPECT_TRUE(both.with_lists->Upsert(batch, &bulk).ok());
      EXPECT_TRUE(both.exact->Upsert(batch).ok());
      batch.clear();
    }
  }
  both.with_lists->FinishBulkLoad(bulk);
  return both;
}

// How much the boxes of articles `ids` agree with exact search: served from
// the precomputed lists, and from one search.
struct Agreement {
  double lists = 0;
  double search = 0;
};
Agreement AgreementWithExact(const WeakAndExact& both,
                             const std::vector<int>& ids) {
  int64_t from_lists = 0, from_search = 0, total = 0;
  for (int id : ids) {
    auto reference = both.exact->Related(DefaultQuery(*both.exact, id));
    auto served = both.with_lists->Related(DefaultQuery(*both.with_lists, id));
    // Any exclusion makes a lookup search, as the lists' first round did.
    RelatedQuery searching = DefaultQuery(*both.with_lists, id);
    searching.exclude_ids = {"not-stored"};
    auto searched = both.with_lists->Related(searching);
    EXPECT_TRUE(reference.ok() && served.ok() && searched.ok());
    if (!reference.ok() || !served.ok() || !searched.ok()) continue;
    EXPECT_TRUE(served->debug.precomputed);
    std::set<std::string> expected;
    for (const auto& r : reference->articles) expected.insert(r.id);
    for (const auto& r : served->articles) from_lists += expected.count(r.id);
    for (const auto& r : searched->articles)
      from_search += expected.count(r.id);
    total += static_cast<int64_t>(reference->articles.size());
  }
  return {double(from_lists) / double(total),
          double(from_search) / double(total)};
}

// The bulk build's second round (each list merged with its members' lists)
// finds what one search misses: its boxes agree with exact search more than
// the searches it started from.
TEST(PrecomputedRelated, BulkLoadListsBeatTheSearchTheyStartFrom) {
  const auto pool = ClusteredVectors(4000, kDim, 20, 12, 0.6f);
  const WeakAndExact both = BulkLoadWeakAndExact(pool, 4000);
  std::vector<int> ids;
  for (int id = 0; id < 4000; id += 4) ids.push_back(id);
  const auto [lists, search] = AgreementWithExact(both, ids);
  std::cout << "agreement with exact search: bulk-built lists " << lists
            << ", one search " << search << "\n";
  // 0.9842 against 0.878 for one search, in every build (one writer: the
  // same graph each run). Parallel builds gave 0.983 to 0.991 against 0.877
  // to 0.889.
  EXPECT_GE(lists, 0.98);
  EXPECT_LE(1 - lists, 0.2 * (1 - search));  // misses a fifth as much
}

// A written article's neighbours come from one weak search (its placement
// in the graph); the lists of the nearest it found complete them
// (RelatedListBuilder::CompletedFromNearestLists), so the boxes of articles
// written one by one into a bulk-built index agree with exact search more
// than that search would.
TEST(PrecomputedRelated, WrittenArticlesBoxesBeatTheSearchTheyStartFrom) {
  const auto pool = ClusteredVectors(4400, kDim, 20, 13, 0.6f);
  const WeakAndExact both = BulkLoadWeakAndExact(pool, 4000);
  for (int i = 4000; i < 4400; ++i) {
    const std::vector<Article> one = {
        MakeArticle(i, &pool[static_cast<size_t>(i) * kDim])};
    ASSERT_TRUE(both.with_lists->Upsert(one).ok());
    ASSERT_TRUE(both.exact->Upsert(one).ok());
  }
  std::vector<int> ids;
  for (int id = 4000; id < 4400; id += 2) ids.push_back(id);
  const auto [lists, search] = AgreementWithExact(both, ids);
  std::cout << "agreement with exact search: written articles' boxes " << lists
            << ", one search " << search << "\n";
  // 0.927 against 0.9065 for one search, in the release and the sanitizer
  // builds alike (one writer: the same graph each run). With parallel
  // inserts it varied, 0.920 to 0.934 against 0.8985 to 0.9295, and under
  // ASan the margin fell below 0.01 in 2 of 3 runs.
  EXPECT_GE(lists, search + 0.01);
  EXPECT_GE(lists, 0.91);
}

// Single writes may land while FinishBulkLoad rebuilds every list (it holds
// writers off one chunk at a time). Whatever the interleaving, every box is
// fresh afterwards and agrees with exact search.
TEST(PrecomputedRelated, SingleWritesDuringTheRebuildEndFresh) {
  const auto pool = ClusteredVectors(3000, kDim, 12, 8, 0.4f);
  auto with_lists =
      NewIndex(IndexKind::kHnsw, true, /*exhaustive_effort=*/2048);
  auto exact = NewIndex(IndexKind::kExact, false);
  Churn churn{pool, {}};
  std::vector<int>& live = churn.live;
  ArticleIndex::BulkLoad bulk;
  std::vector<Article> batch;
  for (int i = 0; i < 2000; ++i) {
    batch.push_back(MakeArticle(churn.next_id, churn.NextVector()));
    live.push_back(churn.next_id++);
    if (batch.size() == 500) {
      ASSERT_TRUE(with_lists->Upsert(batch, &bulk).ok());
      ASSERT_TRUE(exact->Upsert(batch).ok());
      batch.clear();
    }
  }
  std::vector<Article> singles;
  for (int i = 0; i < 100; ++i) {
    singles.push_back(MakeArticle(churn.next_id, churn.NextVector()));
    live.push_back(churn.next_id++);
  }
  std::thread writer([&] {
    for (const Article& a : singles) {
      ASSERT_TRUE(with_lists->Upsert({a}).ok());
    }
  });
  with_lists->FinishBulkLoad(bulk);
  writer.join();
  ASSERT_TRUE(exact->Upsert(singles).ok());
  EXPECT_EQ(with_lists->Stats().related_lists_stale, 0);
  // Single writes offer themselves to their 100 nearest; a list they belong
  // in beyond that reach misses them (as without a bulk load, see
  // LargerCorpusAgreesWithExactSearchThroughChurn), so agreement, not
  // equality.
  const double agreement =
      AgreementWithExact(*with_lists, *exact, live, /*from_lists=*/true);
  std::cout << "boxes vs exact search after writes during the rebuild: "
            << agreement << "\n";
  EXPECT_GE(agreement, 0.99);
}

// An HNSW index keeping lists (searching all but exhaustively) and an
// exact one, both holding the first 400 articles `churn` draws.
struct TwinIndexes {
  std::unique_ptr<ArticleIndex> with_lists =
      NewIndex(IndexKind::kHnsw, true, /*exhaustive_effort=*/2048);
  std::unique_ptr<ArticleIndex> exact = NewIndex(IndexKind::kExact, false);

  explicit TwinIndexes(Churn& churn) {
    std::vector<Article> batch;
    for (int i = 0; i < 400; ++i) {
      batch.push_back(MakeArticle(churn.next_id, churn.NextVector()));
      churn.live.push_back(churn.next_id++);
    }
    EXPECT_TRUE(with_lists->Upsert(batch).ok());
    EXPECT_TRUE(exact->Upsert(batch).ok());
  }

  // Writes `batch` to both, to the HNSW one as `bulk`; returns its stale
  // lists before FinishBulkLoad, and checks none is left after it.
  int64_t BulkLoad(const std::vector<Article>& batch,
                   ArticleIndex::BulkLoad& bulk) {
    EXPECT_TRUE(with_lists->Upsert(batch, &bulk).ok());
    EXPECT_TRUE(exact->Upsert(batch).ok());
    const int64_t stale = with_lists->Stats().related_lists_stale;
    with_lists->FinishBulkLoad(bulk);
    EXPECT_EQ(with_lists->Stats().related_lists_stale, 0);
    return stale;
  }
};

// A small bulk load into a larger corpus joins the existing lists the way
// single writes do, so older boxes show the new articles once it finishes.
TEST(PrecomputedRelated, SmallBulkLoadJoinsTheExistingLists) {
  const auto pool = ClusteredVectors(1000, kDim, 8, 6, 0.4f);
  Churn churn{pool, {}};
  TwinIndexes twins(churn);
  std::vector<Article> batch;
  for (int i = 0; i < 60; ++i) {
    batch.push_back(MakeArticle(churn.next_id, churn.NextVector()));
    churn.live.push_back(churn.next_id++);
  }
  ArticleIndex::BulkLoad bulk;
  EXPECT_EQ(twins.BulkLoad(batch, bulk), 60);
  ExpectBoxesAsExact(*twins.with_lists, *twins.exact, churn.live,
                     /*precomputed=*/true);
}

// A recovery replays its log as a bulk load nobody reads: replaced
// articles leave the lists as the batch lands, new ones join them when the
// load finishes, and every box that changed is ranked once, at the end.
// The boxes are then those of a fresh search.
TEST(PrecomputedRelated, ALoadWithoutReadersEndsWithFreshBoxes) {
  const auto pool = ClusteredVectors(1000, kDim, 8, 7, 0.4f);
  Churn churn{pool, {}};
  TwinIndexes twins(churn);
  std::vector<Article> batch;
  for (int i = 0; i < 60; ++i) {
    batch.push_back(MakeArticle(churn.live[i * 5], churn.NextVector()));
    batch.push_back(MakeArticle(churn.next_id, churn.NextVector()));
    churn.live.push_back(churn.next_id++);
  }
  ArticleIndex::BulkLoad bulk(ArticleIndex::BulkLoad::Readers::kNone);
  // The 120 new slots wait, and so do the boxes that showed a replaced one.
  EXPECT_GT(twins.BulkLoad(batch, bulk), 120);
  ExpectBoxesAsExact(*twins.with_lists, *twins.exact, churn.live,
                     /*precomputed=*/true);
}

// A stored box holds the articles it was ranked with. An article edited
// since (same vector) shows as it is now, without ranking the box again; a
// result taken before the edit keeps what it had; a deleted one leaves.
TEST(PrecomputedRelated, BoxesShowTheirArticlesAsTheyAreNow) {
  auto index = SmallIndexWithLists();
  const auto titles = [&](const RelatedList& box) {
    std::vector<std::string> out;
    for (const auto& r : box.articles) out.push_back(r.metadata->title);
    return out;
  };
  const auto visited_titles = [&] {
    std::vector<std::string> out;
    auto debug = index->VisitRelated(DefaultQuery(*index, 1),
                                     [&](float, const ArticleCard& card) {
                                       out.push_back(std::string(card.title));
                                     });
    EXPECT_TRUE(debug.ok() && debug->precomputed);
    return out;
  };

  auto before = index->Related(DefaultQuery(*index, 1));
  ASSERT_TRUE(before.ok() && before->debug.precomputed);
  ASSERT_GE(before->articles.size(), 3u);
  const std::vector<std::string> titles_before = titles(*before);
  const ArticleId edited = before->articles[1].id;
  for (const char* title : {"First edit", "Second edit"}) {
    auto article = index->Get(edited);
    ASSERT_TRUE(article.ok());
    article->metadata.title = title;
    ASSERT_TRUE(index->Upsert({*article}).ok());

    auto after = index->Related(DefaultQuery(*index, 1));
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(after->debug.precomputed);
    std::vector<std::string> want = titles_before;
    want[1] = title;
    EXPECT_EQ(titles(*after), want);
    EXPECT_EQ(visited_titles(), want);
  }
  EXPECT_EQ(titles(*before), titles_before);

  ASSERT_EQ(*index->Delete({edited}), 1);
  auto after_delete = index->Related(DefaultQuery(*index, 1));
  ASSERT_TRUE(after_delete.ok());
  ASSERT_EQ(after_delete->articles.size(), before->articles.size());
  for (const auto& r : after_delete->articles) EXPECT_NE(r.id, edited);
  EXPECT_EQ(after_delete->articles[0].id, before->articles[0].id);
  EXPECT_EQ(after_delete->articles[1].id, before->articles[2].id);
}

// What VisitRelated shows of a box ("id title score" per article) against
// what Related returns, which reads the stored articles, not the cards.
void ExpectCardsShowTheArticles(const ArticleIndex& index,
                                const std::vector<int>& ids) {
  for (int id : ids) {
    auto related = index.Related(DefaultQuery(index, id));
    ASSERT_TRUE(related.ok()) << related.status();
    std::vector<std::string> want, shown;
    for (const RelatedArticle& r : related->articles) {
      want.push_back(absl::StrCat(r.id, " ", r.metadata->title, " ", r.score));
    }
    auto debug = index.VisitRelated(
        DefaultQuery(index, id), [&](float score, const ArticleCard& card) {
          shown.push_back(absl::StrCat(card.id, " ", card.title, " ", score));
        });
    ASSERT_TRUE(debug.ok());
    EXPECT_TRUE(debug->precomputed);
    EXPECT_EQ(shown, want) << TestId(id);
  }
}

// After a bulk load the cards are laid out box by box: the ten cards a
// lookup reads share a page or two, where the import order scatters them
// over the whole store (a cluster's 40 articles arrive mixed with all the
// others). The boxes still show the right articles.
TEST(PrecomputedRelated, BulkLoadLaysCardsOutBoxByBox) {
  constexpr int kArticles = 4000;
  const auto pool = ClusteredVectors(kArticles, kDim, kArticles / 40, 6);
  auto index = NewIndex(IndexKind::kHnsw, true);
  ArticleIndex::BulkLoad bulk;
  for (int begin = 0; begin < kArticles; begin += 500) {
    std::vector<Article> batch;
    for (int i = begin; i < begin + 500; ++i) {
      batch.push_back(MakeArticle(i, &pool[size_t(i) * kDim]));
    }
    ASSERT_TRUE(index->Upsert(batch, &bulk).ok());
  }
  EXPECT_EQ(index->Stats().card_pages_per_box, 0);  // not laid out yet
  index->FinishBulkLoad(bulk);
  const IndexStats stats = index->Stats();
  std::printf("cards: %.2f pages per box after the bulk load\n",
              stats.card_pages_per_box);
  EXPECT_GT(stats.card_pages_per_box, 0.9);
  EXPECT_LT(stats.card_pages_per_box, 3.0);
  std::vector<int> sample;
  for (int id = 0; id < kArticles; id += 97) sample.push_back(id);
  ExpectCardsShowTheArticles(*index, sample);
}

// Every edit leaves a retired card behind; once they outweigh the live
// ones (and a block's worth), the cards are laid out again without them, so
// a steady stream of headline edits does not grow the store without bound.
TEST(PrecomputedRelated, EditedHeadlinesDoNotGrowTheCardsWithoutBound) {
  auto index = SmallIndexWithLists();
  const int64_t start = index->Stats().cards_memory_bytes;
  EXPECT_GT(start, 0);
  for (int version = 1; version <= 80; ++version) {
    std::vector<Article> edits;
    for (int id = 0; id < 300; ++id) {
      auto article = index->Get(TestId(id));
      ASSERT_TRUE(article.ok());
      article->metadata.title = absl::StrCat("Title ", id, " edit ", version);
      edits.push_back(*std::move(article));
    }
    ASSERT_TRUE(index->Upsert(edits).ok());
  }
  // 24,000 edits of ~100-byte cards kept would be about 2.4 MB; reclaimed,
  // at most a block of retired cards and the live ones remain.
  EXPECT_LE(index->Stats().cards_memory_bytes, 2 << 20);
  ExpectCardsShowTheArticles(*index, {0, 1, 77, 150, 299});
  auto shown = index->Related(DefaultQuery(*index, 5));
  ASSERT_TRUE(shown.ok());
  for (const RelatedArticle& r : shown->articles) {
    EXPECT_TRUE(absl::EndsWith(r.metadata->title, " edit 80"))
        << r.metadata->title;
  }
}

TEST(PrecomputedRelated, NotKeptWhenTheDefaultPolicyDependsOnTheClock) {
  ArticleIndexOptions options;
  options.dimension = kDim;
  options.default_policy.recency_half_life = absl::Hours(24);
  options.default_policy.recency_weight = 0.3f;
  auto index = ArticleIndex::Create(options);
  ASSERT_TRUE(index.ok());
  EXPECT_FALSE((*index)->Stats().related_lists_precomputed);

  options = ArticleIndexOptions{};
  options.dimension = kDim;
  options.index_kind = IndexKind::kExact;  // its slots move on delete
  index = ArticleIndex::Create(options);
  ASSERT_TRUE(index.ok());
  EXPECT_FALSE((*index)->Stats().related_lists_precomputed);
}

}  // namespace
}  // namespace related
