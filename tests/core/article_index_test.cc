#include "server/core/article_index.h"

#include <atomic>
#include <functional>
#include <iostream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/test_data.h"

namespace related {
namespace {

using testing::BruteForceTopK;
using testing::ClusteredVectors;
using ::testing::HasSubstr;
using testing::NumberedArticles;
using testing::TestId;

constexpr int kDim = 16;

std::vector<Article> MakeArticles(const std::vector<float>& vectors, int first,
                                  int count) {
  return NumberedArticles<Article>(
      vectors, kDim, first, count, [](int i, Article& a) {
        a.metadata.title = "Title " + std::to_string(i);
        a.metadata.section = i % 2 ? "world" : "sport";
        a.metadata.attributes["n"] = std::to_string(i);
      });
}

// An index of `kind` and kDim with the limits or defaults `adjust` sets.
std::unique_ptr<ArticleIndex> IndexWith(
    IndexKind kind, const std::function<void(ArticleIndexOptions&)>& adjust) {
  ArticleIndexOptions options;
  options.index_kind = kind;
  options.dimension = kDim;
  adjust(options);
  auto index = ArticleIndex::Create(options);
  EXPECT_TRUE(index.ok()) << index.status();
  return *std::move(index);
}

std::unique_ptr<ArticleIndex> NewIndex(IndexKind kind, int dim = kDim) {
  return IndexWith(kind, [dim](ArticleIndexOptions& options) {
    options.dimension = dim;
    options.write_chunk_size = 7;  // exercise chunking
  });
}

std::vector<std::string> Ids(const std::vector<RelatedArticle>& related) {
  std::vector<std::string> ids;
  for (const auto& r : related) ids.push_back(r.id);
  return ids;
}

RelatedQuery Query(ArticleId id, int limit,
                   std::vector<ArticleId> exclude = {}) {
  return {std::move(id), limit, std::move(exclude), RankingPolicy{}};
}

class ArticleIndexTest : public ::testing::TestWithParam<IndexKind> {};

INSTANTIATE_TEST_SUITE_P(BothKinds, ArticleIndexTest,
                         ::testing::Values(IndexKind::kExact, IndexKind::kHnsw),
                         [](const auto& info) {
                           return std::string(IndexKindName(info.param));
                         });

// The query article must never be in its own results, even when identical
// copies exist (rank 0 is then a tie) and with approximate search.
TEST_P(ArticleIndexTest, QueryArticleNeverInItsOwnResults) {
  auto vectors = ClusteredVectors(600, kDim, 6, 11);
  // Articles 0..9 share one vector: a wire story syndicated ten times.
  for (int i = 1; i < 10; ++i) {
    std::copy_n(vectors.begin(), kDim, vectors.begin() + i * kDim);
  }
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 600)).ok());
  for (int q = 0; q < 600; q += 7) {
    auto related = index->Related(Query(TestId(q), 20, {}));
    ASSERT_TRUE(related.ok()) << related.status();
    EXPECT_EQ(related->articles.size(), 20u);
    for (const auto& r : related->articles) EXPECT_NE(r.id, TestId(q));
  }
}

// VisitRelated hands over, under the lock, exactly the box Related returns:
// from a precomputed list, from a search, with filters and exclusions.
TEST_P(ArticleIndexTest, VisitRelatedSeesTheBoxRelatedReturns) {
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(
      index->Upsert(MakeArticles(ClusteredVectors(300, kDim, 6, 5), 0, 300))
          .ok());
  RankingPolicy world_only;
  world_only.sections = {"world"};
  std::vector<RelatedQuery> queries;
  for (int q = 0; q < 300; q += 37) {
    queries.push_back(Query(TestId(q), 0));
    queries.push_back(Query(TestId(q), 25));
    queries.push_back(Query(TestId(q), 5, {TestId(q + 1), TestId(q + 2)}));
    queries.push_back({TestId(q), 10, {}, world_only});
  }
  for (const RelatedQuery& query : queries) {
    auto expected = index->Related(query);
    ASSERT_TRUE(expected.ok()) << expected.status();
    std::vector<std::string> visited;
    auto debug =
        index->VisitRelated(query, [&](float score, const ArticleCard& card) {
          visited.push_back(absl::StrCat(card.id, " ", score, " ", card.title));
        });
    ASSERT_TRUE(debug.ok()) << debug.status();
    std::vector<std::string> returned;
    for (const RelatedArticle& r : expected->articles) {
      returned.push_back(
          absl::StrCat(r.id, " ", r.score, " ", r.metadata->title));
    }
    EXPECT_EQ(visited, returned)
        << query.article_id << " limit " << query.limit;
    EXPECT_EQ(debug->precomputed, expected->debug.precomputed);
    EXPECT_EQ(debug->candidates_considered,
              expected->debug.candidates_considered);
  }

  int visits = 0;
  auto count = [&](float, const ArticleCard&) { ++visits; };
  EXPECT_EQ(index->VisitRelated(Query("missing", 10), count).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(index->VisitRelated(Query(TestId(0), -1), count).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(visits, 0);
}

TEST(ArticleIndex, ExactRankingMatchesBruteForceWithMetadata) {
  const auto vectors = ClusteredVectors(500, kDim, 5, 12);
  auto index = NewIndex(IndexKind::kExact);
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 500)).ok());
  for (int q = 0; q < 500; q += 13) {
    auto related = index->Related(Query(TestId(q), 10, {TestId(q + 1)}));
    ASSERT_TRUE(related.ok());
    auto want = BruteForceTopK(vectors, kDim, &vectors[size_t(q) * kDim], 10,
                               [&](int i) { return i == q || i == q + 1; });
    ASSERT_EQ(related->articles.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(related->articles[i].id, TestId(want[i]));
      EXPECT_EQ(related->articles[i].metadata->title,
                "Title " + std::to_string(want[i]));
      EXPECT_NEAR(related->articles[i].score,
                  testing::Dot(&vectors[size_t(q) * kDim],
                               &vectors[size_t(want[i]) * kDim], kDim),
                  1e-4);
    }
  }
}

TEST_P(ArticleIndexTest, LimitsDefaultAndBounds) {
  const auto vectors = ClusteredVectors(200, kDim, 4, 13);
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 200)).ok());
  EXPECT_EQ(index->Related(Query(TestId(0), 0, {}))->articles.size(), 10u);
  EXPECT_EQ(index->Related(Query(TestId(0), 100, {}))->articles.size(), 100u);
  for (int bad : {-1, 101}) {
    auto r = index->Related(Query(TestId(0), bad, {}));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("limit"));
  }
  auto missing = index->Related(Query("no/such/article", 5, {}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("no/such/article"));
  EXPECT_EQ(index->Related(Query("", 5, {})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ArticleIndexTest, ExcludedIdsNeverAppearAndResultsStayFull) {
  const auto vectors = ClusteredVectors(300, kDim, 3, 14);
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 300)).ok());
  auto before = index->Related(Query(TestId(5), 10, {}));
  ASSERT_TRUE(before.ok());
  std::vector<ArticleId> exclude = Ids(before->articles);
  exclude.push_back("unknown/ids/are/ignored");
  auto after = index->Related(Query(TestId(5), 10, exclude));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->articles.size(), 10u);
  for (const auto& r : after->articles) {
    EXPECT_THAT(exclude, ::testing::Not(::testing::Contains(r.id)));
  }
}

TEST_P(ArticleIndexTest, DeletedArticlesNeverAppear) {
  const auto vectors = ClusteredVectors(300, kDim, 3, 15);
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 300)).ok());
  std::vector<ArticleId> doomed;
  for (int i = 0; i < 300; i += 2) doomed.push_back(TestId(i));
  doomed.push_back("never/existed");
  auto deleted = index->Delete(doomed);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 150);
  EXPECT_EQ(index->Stats().article_count, 150);
  EXPECT_EQ(index->Get(TestId(0)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index->Related(Query(TestId(0), 5, {})).status().code(),
            absl::StatusCode::kNotFound);
  const std::set<ArticleId> doomed_set(doomed.begin(), doomed.end());
  for (int q = 1; q < 300; q += 10) {
    auto related = index->Related(Query(TestId(q), 100, {}));
    ASSERT_TRUE(related.ok());
    EXPECT_EQ(related->articles.size(), 100u);
    for (const auto& r : related->articles)
      EXPECT_FALSE(doomed_set.count(r.id)) << r.id;
  }
  // Surviving articles still return their own metadata after slots moved.
  for (int i = 1; i < 300; i += 2) {
    auto a = index->Get(TestId(i));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->metadata.title, "Title " + std::to_string(i));
  }
}

TEST_P(ArticleIndexTest, ReplacedArticleAppearsOnceWithNewVectorAndMetadata) {
  const auto vectors = ClusteredVectors(100, kDim, 2, 16);
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 100)).ok());
  // Article 50 becomes an exact copy of article 0, with a new title.
  auto replacement = MakeArticles(vectors, 0, 1);
  replacement[0].id = TestId(50);
  replacement[0].metadata.title = "Updated";
  ASSERT_TRUE(index->Upsert(replacement).ok());
  EXPECT_EQ(index->Stats().article_count, 100);
  auto related = index->Related(Query(TestId(0), 100, {}));
  ASSERT_TRUE(related.ok());
  EXPECT_EQ(related->articles.size(), 99u);
  const auto ids = Ids(related->articles);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), TestId(50)), 1);
  EXPECT_EQ(related->articles.front().id, TestId(50));
  EXPECT_EQ(related->articles.front().metadata->title, "Updated");
  EXPECT_NEAR(related->articles.front().score, 1.0, 1e-5);
}

TEST_P(ArticleIndexTest, SameVectorUpsertUpdatesOnlyMetadata) {
  const auto vectors = ClusteredVectors(50, kDim, 2, 17);
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 50)).ok());
  const int64_t memory = index->Stats().index_memory_bytes;
  auto edited = MakeArticles(vectors, 10, 1);
  edited[0].metadata.title = "Corrected headline";
  edited[0].metadata.published_at = absl::FromUnixSeconds(1764300000);
  ASSERT_TRUE(index->Upsert(edited).ok());
  auto got = index->Get(TestId(10));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->metadata, edited[0].metadata);
  EXPECT_EQ(index->Stats().index_memory_bytes, memory);
}

// The gauges after a write skip the walk over every related list; the
// rest of the figures are the same either way.
TEST_P(ArticleIndexTest, StatsWithoutListMemorySkipOnlyThat) {
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(
      index->Upsert(MakeArticles(ClusteredVectors(60, kDim, 3, 29), 0, 60))
          .ok());
  const IndexStats all = index->Stats();
  const IndexStats cheap =
      index->Stats(ArticleIndex::StatsScope::kWithoutListMemory);
  EXPECT_EQ(cheap.related_lists_memory_bytes, 0);
  EXPECT_EQ(all.related_lists_memory_bytes > 0, all.related_lists_precomputed);
  EXPECT_EQ(cheap.article_count, 60);
  EXPECT_EQ(cheap.index_memory_bytes, all.index_memory_bytes);
  EXPECT_EQ(cheap.related_lists_precomputed, all.related_lists_precomputed);
  EXPECT_EQ(cheap.cards_memory_bytes, all.cards_memory_bytes);
}

TEST_P(ArticleIndexTest, InvalidBatchWritesNothingAndNamesTheArticle) {
  auto index = NewIndex(GetParam());
  const auto vectors = ClusteredVectors(10, kDim, 2, 18);
  auto batch = MakeArticles(vectors, 0, 10);
  batch[7].embedding.pop_back();
  auto s = index->Upsert(batch);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("articles[7].embedding"));
  EXPECT_EQ(index->Stats().article_count, 0);

  batch = MakeArticles(vectors, 0, 10);
  batch[3].id = batch[1].id;
  s = index->Upsert(batch);
  EXPECT_THAT(std::string(s.message()), HasSubstr("articles[3].id"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("more than once"));
  EXPECT_EQ(index->Stats().article_count, 0);
}

TEST_P(ArticleIndexTest, OversizedMetadataIsRejected) {
  auto index = IndexWith(GetParam(), [](ArticleIndexOptions& options) {
    options.max_metadata_bytes = 100;
  });
  const auto vectors = ClusteredVectors(3, kDim, 1, 23);
  auto batch = MakeArticles(vectors, 0, 3);
  batch[2].metadata.attributes["summary"] = std::string(90, 's');
  auto s = index->Upsert(batch);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("articles[2].metadata"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("limit of 100"));
  batch[2].metadata.attributes["summary"] = std::string(50, 's');
  EXPECT_TRUE(index->Upsert(batch).ok());
}

TEST_P(ArticleIndexTest, OversizedBatchesAreRejected) {
  auto index = IndexWith(GetParam(), [](ArticleIndexOptions& options) {
    options.max_batch_size = 5;
  });
  const auto vectors = ClusteredVectors(6, kDim, 2, 19);
  auto s = index->Upsert(MakeArticles(vectors, 0, 6));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("limit of 5"));
  std::vector<ArticleId> six(6, "x");
  EXPECT_EQ(index->Delete(six).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index->BatchRelated(six, 0, {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ArticleIndexTest, FirstWriteFixesTheDimension) {
  auto index = NewIndex(GetParam(), /*dim=*/0);
  EXPECT_EQ(index->Stats().dimension, 0);
  const auto vectors = ClusteredVectors(3, kDim, 1, 20);
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 3)).ok());
  EXPECT_EQ(index->Stats().dimension, kDim);
  Article other{"other", std::vector<float>(kDim + 1, 1.0f), {}, ""};
  auto s = index->Upsert({other});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("expected 16 values, got 17"));
}

TEST_P(ArticleIndexTest, BatchRelatedStopsWhenTheCallerGivesUp) {
  const auto vectors = ClusteredVectors(100, kDim, 2, 24);
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 100)).ok());
  std::vector<ArticleId> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(TestId(i));
  int asked = 0;
  auto results =
      index->BatchRelated(ids, 5, {}, {}, [&] { return ++asked > 3; });
  EXPECT_EQ(results.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(std::string(results.status().message()),
              HasSubstr("after 3 of 50"));
  EXPECT_EQ(asked, 4);
}

TEST_P(ArticleIndexTest, BatchRelatedReportsUnknownIdsPerItem) {
  const auto vectors = ClusteredVectors(100, kDim, 2, 21);
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, 100)).ok());
  auto results = index->BatchRelated({TestId(1), "missing", TestId(2)}, 5,
                                     {TestId(3)}, {});
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 3u);
  EXPECT_TRUE((*results)[0].status.ok());
  EXPECT_EQ((*results)[0].related.articles.size(), 5u);
  EXPECT_EQ((*results)[1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*results)[1].article_id, "missing");
  EXPECT_EQ((*results)[2].related.articles.size(), 5u);
  for (const auto& result : *results) {
    for (const auto& r : result.related.articles) EXPECT_NE(r.id, TestId(3));
  }
}

// Readers run while a writer replaces and deletes articles. Every read must
// succeed, never contain the query or a duplicate, and see every write that
// finished before it started.
TEST_P(ArticleIndexTest, ConcurrentReadsDuringWrites) {
  constexpr int kCount = 400;
  const auto vectors = ClusteredVectors(2 * kCount, kDim, 8, 22);
  auto index = NewIndex(GetParam());
  ASSERT_TRUE(index->Upsert(MakeArticles(vectors, 0, kCount)).ok());

  std::atomic<int> completed_rounds{0};
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> reads_during_writes{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      // At least 100 reads each, and on until the writer is done.
      for (int i = t; (i < 300 || !stop.load()) && i < 1000000; i += 3) {
        const bool writing = completed_rounds.load() < 20 && !stop.load();
        const std::string query = TestId(100 + i % (kCount - 100));
        auto related = index->Related(Query(query, 30, {}));
        ASSERT_TRUE(related.ok()) << related.status();
        EXPECT_EQ(related->articles.size(), 30u);
        std::set<ArticleId> seen;
        for (const auto& r : related->articles) {
          EXPECT_NE(r.id, query);
          EXPECT_TRUE(seen.insert(r.id).second) << "duplicate " << r.id;
        }
        ++reads;
        if (writing) ++reads_during_writes;
      }
    });
  }
  // The writer starts once the readers are reading.
  for (int spins = 0; reads.load() < 3 && spins < 10000000; ++spins) {
    std::this_thread::yield();
  }
  auto writer = std::thread([&] {
    for (int round = 0; round < 20; ++round) {
      // Replace a stable block (0..99) with new vectors, add-and-delete
      // a transient block of IDs (kCount..kCount+49).
      auto batch = MakeArticles(vectors, kCount + (round % 2) * 100, 100);
      for (int i = 0; i < 100; ++i) batch[i].id = TestId(i);
      ASSERT_TRUE(index->Upsert(batch).ok());
      auto transient = MakeArticles(vectors, kCount, 50);
      ASSERT_TRUE(index->Upsert(transient).ok());
      std::vector<ArticleId> ids;
      for (const auto& a : transient) ids.push_back(a.id);
      ASSERT_EQ(*index->Delete(ids), 50);
      completed_rounds.store(round + 1);
    }
    stop.store(true);
  });
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(completed_rounds.load(), 20);
  EXPECT_GE(reads.load(), 300);
  std::cout << reads.load() << " reads, " << reads_during_writes.load()
            << " of them while writes were in progress\n";
  EXPECT_EQ(index->Stats().article_count, kCount);
  // After the last write returned, its state is what every read sees.
  EXPECT_EQ(index->Get(TestId(kCount)).status().code(),
            absl::StatusCode::kNotFound);
  auto last = index->Get(TestId(0));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->metadata.title, "Title " + std::to_string(kCount + 100));
}

TEST(ArticleIndexOptions, RejectsUnworkableLimits) {
  ArticleIndexOptions options;
  options.default_limit = 200;
  options.max_limit = 100;
  EXPECT_EQ(ArticleIndex::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace related

namespace related {
namespace {

// The same-language rule: a box holds only the query article's language
// (no language matches no language), whether it comes from a precomputed
// list (HNSW) or a search, and equals the box of an explicit language
// filter; turned off, languages mix.
TEST_P(ArticleIndexTest, SameLanguageBoxesHoldOnlyTheQueryLanguage) {
  auto index = IndexWith(GetParam(), [](ArticleIndexOptions& options) {
    options.default_policy.same_language = true;
  });
  const std::vector<float> vectors = ClusteredVectors(300, kDim, 6, 11);
  std::vector<Article> articles = MakeArticles(vectors, 0, 300);
  const char* kLanguages[] = {"de", "en", ""};
  for (size_t i = 0; i < articles.size(); ++i) {
    articles[i].metadata.language = kLanguages[i % 3];
  }
  ASSERT_TRUE(index->Upsert(articles).ok());
  int mixed_boxes = 0;
  for (int q = 0; q < 60; ++q) {
    const std::string language = kLanguages[q % 3];
    RelatedQuery query = Query(TestId(q), 10);
    query.policy = index->options().default_policy;
    auto box = index->Related(query);
    ASSERT_TRUE(box.ok()) << box.status();
    ASSERT_EQ(box->articles.size(), 10u);
    for (const RelatedArticle& r : box->articles) {
      EXPECT_EQ(r.metadata->language, language) << TestId(q);
    }
    RelatedQuery filtered = query;
    filtered.policy.same_language = false;
    filtered.policy.languages = {language};
    auto explicit_box = index->Related(filtered);
    ASSERT_TRUE(explicit_box.ok());
    if (GetParam() == IndexKind::kExact) {
      EXPECT_EQ(Ids(box->articles), Ids(explicit_box->articles)) << TestId(q);
    }
    RelatedQuery any = query;
    any.policy.same_language = false;
    auto any_box = index->Related(any);
    ASSERT_TRUE(any_box.ok());
    for (const RelatedArticle& r : any_box->articles) {
      if (r.metadata->language != language) {
        ++mixed_boxes;
        break;
      }
    }
  }
  EXPECT_GT(mixed_boxes, 30) << "with the rule off, languages mix";
}

}  // namespace
}  // namespace related
