// Compaction of the HNSW index: tombstones go, every article and every
// write made meanwhile stays, and boxes still agree with exact search.
#include "server/core/compaction.h"

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/article_index.h"
#include "support/test_data.h"

namespace related {
namespace {

using testing::ClusteredVectors;
using testing::TestId;

constexpr int kDim = 16;
constexpr int kCount = 800;

std::unique_ptr<ArticleIndex> NewIndex(double threshold) {
  ArticleIndexOptions options;
  options.index_kind = IndexKind::kHnsw;
  options.dimension = kDim;
  options.compaction_threshold = threshold;
  options.compaction_min_tombstones = 50;
  options.default_policy.duplicate_threshold = 0.97f;
  return *ArticleIndex::Create(options);
}

struct Corpus {
  std::vector<float> pool = ClusteredVectors(20000, kDim, 16, 21);
  int next_vector = 0;

  Article Make(int id) {
    Article a;
    a.id = TestId(id);
    a.embedding.assign(&pool[size_t(next_vector) * kDim],
                       &pool[size_t(next_vector + 1) * kDim]);
    ++next_vector;
    a.metadata.title =
        "Title " + std::to_string(id) + " v" + std::to_string(next_vector);
    return a;
  }
};

// Every stored article, by ID: title and vector.
std::map<std::string, std::pair<std::string, std::vector<float>>> Contents(
    const ArticleIndex& index, int ids) {
  std::map<std::string, std::pair<std::string, std::vector<float>>> out;
  for (int i = 0; i < ids; ++i) {
    if (auto a = index.Get(TestId(i)); a.ok()) {
      out[a->id] = {a->metadata.title, a->embedding};
    }
  }
  return out;
}

double AgreementWithExactSearch(const ArticleIndex& index, int ids) {
  ArticleIndexOptions options = index.options();
  options.index_kind = IndexKind::kExact;
  auto exact = *ArticleIndex::Create(options);
  std::vector<Article> all;
  for (int i = 0; i < ids; ++i) {
    if (auto a = index.Get(TestId(i)); a.ok()) all.push_back(*a);
  }
  for (size_t i = 0; i < all.size(); i += 500) {
    EXPECT_TRUE(exact
                    ->Upsert({all.begin() + i,
                              all.begin() + std::min(all.size(), i + 500)})
                    .ok());
  }
  int same = 0, total = 0;
  for (const Article& a : all) {
    const RelatedQuery query{a.id, 0, {}, index.options().default_policy};
    auto got = index.Related(query);
    auto want = exact->Related(query);
    EXPECT_TRUE(got.ok() && want.ok());
    std::set<std::string> want_ids;
    for (const auto& r : want->articles) want_ids.insert(r.id);
    for (const auto& r : got->articles) same += want_ids.count(r.id);
    total += static_cast<int>(want->articles.size());
  }
  return total == 0 ? 1.0 : double(same) / total;
}

// An index (compaction at 20% tombstones) holding the corpus's first
// kCount articles, written 200 at a time.
std::unique_ptr<ArticleIndex> IndexOfTheCorpus(Corpus& corpus) {
  auto index = NewIndex(0.2);
  std::vector<Article> first;
  for (int i = 0; i < kCount; ++i) first.push_back(corpus.Make(i));
  for (size_t i = 0; i < first.size(); i += 200) {
    EXPECT_TRUE(
        index->Upsert({first.begin() + i, first.begin() + i + 200}).ok());
  }
  return index;
}

TEST(Compaction, ReplacedArticlesLeaveTheIndexAndEveryArticleStays) {
  Corpus corpus;
  auto index = IndexOfTheCorpus(corpus);
  // New vectors for a third of them, in one write: tombstones past the
  // threshold, and no write after the compaction starts.
  std::vector<Article> replaced;
  for (int i = 0; i < kCount / 3; ++i) replaced.push_back(corpus.Make(i));
  ASSERT_TRUE(index->Upsert(replaced).ok());
  const auto before = Contents(*index, kCount);
  index->AwaitCompaction();
  const IndexStats stats = index->Stats();
  EXPECT_EQ(stats.compactions, 1);
  EXPECT_FALSE(stats.compacting);
  EXPECT_EQ(stats.tombstones, 0);
  EXPECT_EQ(stats.article_count, kCount);
  EXPECT_EQ(stats.related_lists_stale, 0);
  EXPECT_EQ(stats.slots, kCount);  // the replaced vectors' slots are gone
  EXPECT_EQ(Contents(*index, kCount), before);
  EXPECT_GE(AgreementWithExactSearch(*index, kCount), 0.98);
}

TEST(Compaction, WritesDuringTheRebuildAreAllThereAfterTheSwap) {
  Corpus corpus;
  auto index = IndexOfTheCorpus(corpus);
  // A writer replaces, adds and deletes throughout; readers read.
  std::map<std::string, std::string> want;  // ID -> title ("" deleted)
  std::mt19937 rng(5);
  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto related = index->Related(
          {TestId(rng() % kCount), 0, {}, index->options().default_policy});
      if (!related.ok() &&
          related.status().code() != absl::StatusCode::kNotFound) {
        ++read_errors;
      }
    }
  });
  int compactions_seen = 0;
  for (int round = 0; round < 400 && compactions_seen < 2; ++round) {
    const int id = static_cast<int>(rng() % (kCount + 200));
    if (round % 7 == 3) {
      ASSERT_TRUE(index->Delete({TestId(id)}).ok());
      want[TestId(id)] = "";
    } else {
      std::vector<Article> batch;
      for (int j = id; j < id + 5; ++j) {
        batch.push_back(corpus.Make(j));
        want[TestId(j)] = batch.back().metadata.title;
      }
      ASSERT_TRUE(index->Upsert(batch).ok());
    }
    compactions_seen = static_cast<int>(index->Stats().compactions);
  }
  stop.store(true);
  reader.join();
  index->AwaitCompaction();
  EXPECT_GE(index->Stats().compactions, 1);
  EXPECT_EQ(read_errors.load(), 0);
  for (const auto& [id, title] : want) {
    auto got = index->Get(id);
    if (title.empty()) {
      EXPECT_FALSE(got.ok()) << id << " was deleted";
    } else {
      ASSERT_TRUE(got.ok()) << id;
      EXPECT_EQ(got->metadata.title, title) << id;
    }
  }
  EXPECT_GE(AgreementWithExactSearch(*index, kCount + 210), 0.97);
}

TEST(Compaction, OffAtZeroAndNeverForTheExactIndex) {
  auto off = NewIndex(0);
  Corpus corpus;
  for (int round = 0; round < 3; ++round) {
    std::vector<Article> batch;
    for (int i = 0; i < 200; ++i) batch.push_back(corpus.Make(i));
    ASSERT_TRUE(off->Upsert(batch).ok());
  }
  EXPECT_EQ(off->Stats().tombstones, 400);
  off->AwaitCompaction();
  EXPECT_EQ(off->Stats().compactions, 0);
}

}  // namespace
}  // namespace related
