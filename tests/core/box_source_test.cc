// BoxSource: a precomputed box that ArticleIndex::BoxStillCurrent finds
// unchanged reads the same as it did, through every kind of write; and a
// write leaves current the boxes it cannot change (the server's BoxCache
// keeps those entries).
#include "server/core/box_source.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/core/article_index.h"
#include "support/test_data.h"

namespace related {
namespace {

using testing::ClusteredVectors;
using testing::TestId;

constexpr int kDim = 16;

std::unique_ptr<ArticleIndex> NewIndex() {
  ArticleIndexOptions options;
  options.index_kind = IndexKind::kHnsw;
  options.dimension = kDim;
  options.precompute_related = true;
  options.hnsw.ef_search = 256;
  auto index = ArticleIndex::Create(options);
  EXPECT_TRUE(index.ok()) << index.status();
  return *std::move(index);
}

Article MakeArticle(int id, const float* vector) {
  Article a;
  a.id = TestId(id);
  a.embedding.assign(vector, vector + kDim);
  a.metadata.title = "Title " + std::to_string(id);
  a.metadata.section = id % 3 ? "world" : "sport";
  a.metadata.language = "en";
  return a;
}

// What the default box of `id` shows, as text, and what it was read from.
std::string Read(const ArticleIndex& index, int id, BoxSource* source) {
  std::string shown;
  auto debug = index.VisitRelated(
      {TestId(id), 0, {}, index.options().default_policy},
      [&](float score, const ArticleCard& card) {
        absl::StrAppend(&shown, card.id, "|", card.title, "|", card.section,
                        "|", card.language, "|", score, ";");
      },
      source);
  if (!debug.ok()) return debug.status().ToString();
  return shown;
}

struct Recorded {
  int id;
  std::string shown;
  BoxSource source;
};

// Random writes of every kind over clustered articles. Before each write
// every precomputed box is recorded; after it, each one BoxStillCurrent
// finds unchanged must read exactly as recorded.
TEST(BoxSource, ABoxFoundUnchangedReadsTheSameThroughRandomWrites) {
  constexpr int kStart = 240;
  constexpr int kWrites = 120;
  const auto pool = ClusteredVectors(kStart + 2 * kWrites, kDim, 12, 3);
  auto index = NewIndex();
  std::vector<Article> batch;
  for (int i = 0; i < kStart; ++i)
    batch.push_back(MakeArticle(i, &pool[i * kDim]));
  ASSERT_TRUE(index->Upsert(batch).ok());
  std::vector<int> live(kStart);
  for (int i = 0; i < kStart; ++i) live[i] = i;
  int next_id = kStart;
  int next_vector = kStart;
  std::mt19937 random(7);
  int current = 0, changed = 0;

  for (int write = 0; write < kWrites; ++write) {
    std::vector<Recorded> recorded;
    for (int id : live) {
      Recorded r{id, "", {}};
      r.shown = Read(*index, id, &r.source);
      if (r.source.precomputed) recorded.push_back(std::move(r));
    }
    const int kind = static_cast<int>(random() % 6);
    const size_t at = random() % live.size();
    if (kind == 0) {  // a new article
      ASSERT_TRUE(
          index->Upsert({MakeArticle(next_id, &pool[next_vector++ * kDim])})
              .ok());
      live.push_back(next_id++);
    } else if (kind == 1 || kind == 2) {  // a new headline or language
      auto article = index->Get(TestId(live[at]));
      ASSERT_TRUE(article.ok());
      if (kind == 1) {
        article->metadata.title = absl::StrCat("Edited ", write);
      } else {
        article->metadata.language = write % 2 ? "de" : "en";
      }
      ASSERT_TRUE(index->Upsert({*article}).ok());
    } else if (kind == 3) {  // a new vector
      auto article = index->Get(TestId(live[at]));
      ASSERT_TRUE(article.ok());
      const float* vector = &pool[next_vector++ * kDim];
      article->embedding.assign(vector, vector + kDim);
      ASSERT_TRUE(index->Upsert({*article}).ok());
    } else if (kind == 4) {  // a delete
      ASSERT_EQ(*index->Delete({TestId(live[at])}), 1);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(at));
    } else if (kind == 5) {  // the same article again, unchanged
      auto article = index->Get(TestId(live[at]));
      ASSERT_TRUE(article.ok());
      ASSERT_TRUE(index->Upsert({*article}).ok());
    }
    for (const Recorded& r : recorded) {
      std::optional<uint64_t> still = index->BoxStillCurrent(r.source);
      if (!still.has_value()) {
        ++changed;
        continue;
      }
      ++current;
      EXPECT_EQ(*still, index->state_generation());
      BoxSource now;
      EXPECT_EQ(Read(*index, r.id, &now), r.shown)
          << TestId(r.id) << " found unchanged after write " << write
          << " (kind " << kind << ")";
    }
  }
  // Not vacuous: most boxes outlive a write, and writes do change some.
  EXPECT_GT(current, 10 * changed) << current << " current, " << changed;
  EXPECT_GT(changed, 0);
}

// Two clusters far apart; an index over them with every list ranked.
struct TwoClusters {
  std::unique_ptr<ArticleIndex> index = NewIndex();
  std::vector<float> near;  // vectors 0..39: around one point
  std::vector<float> far;   // the opposite point

  TwoClusters() {
    std::mt19937 random(3);
    std::normal_distribution<float> noise(0.0f, 0.05f);
    for (int i = 0; i < 80; ++i) {
      for (int d = 0; d < kDim; ++d) {
        const float centre = d == 0 ? (i < 40 ? 1.0f : -1.0f) : 0.0f;
        (i < 40 ? near : far).push_back(centre + noise(random));
      }
    }
    std::vector<Article> batch;
    for (int i = 0; i < 40; ++i) {
      batch.push_back(MakeArticle(i, &near[i * kDim]));
      batch.push_back(MakeArticle(100 + i, &far[i * kDim]));
    }
    EXPECT_TRUE(index->Upsert(batch).ok());
  }
};

TEST(BoxSource, AnEditOfAnotherClusterLeavesTheBoxCurrent) {
  TwoClusters data;
  BoxSource source;
  const std::string before = Read(*data.index, 1, &source);
  ASSERT_TRUE(source.precomputed);
  auto article = data.index->Get(TestId(120));
  ASSERT_TRUE(article.ok());
  article->metadata.title = "A new headline far away";
  ASSERT_TRUE(data.index->Upsert({*article}).ok());
  EXPECT_EQ(data.index->BoxStillCurrent(source),
            data.index->state_generation());
  EXPECT_EQ(Read(*data.index, 1, &source), before);
}

// The ID of the article shown second in `id`'s box (its slot is in the
// box's source).
std::string SecondShown(const ArticleIndex& index, int id) {
  std::string second;
  int seen = 0;
  EXPECT_TRUE(
      index
          .VisitRelated({TestId(id), 0, {}, index.options().default_policy},
                        [&](float, const ArticleCard& card) {
                          if (seen++ == 1) second = std::string(card.id);
                        })
          .ok());
  return second;
}

TEST(BoxSource, AnEditedHeadlineInTheBoxChangesIt) {
  TwoClusters data;
  BoxSource source;
  Read(*data.index, 1, &source);
  ASSERT_TRUE(source.precomputed);
  ASSERT_FALSE(source.shown.empty());
  auto article = data.index->Get(SecondShown(*data.index, 1));
  ASSERT_TRUE(article.ok());
  article->metadata.title = "Edited";
  ASSERT_TRUE(data.index->Upsert({*article}).ok());
  EXPECT_FALSE(data.index->BoxStillCurrent(source).has_value());
}

// A CMS that sends every article again on each sync changes no box.
TEST(BoxSource, AnArticleInTheBoxSentAgainUnchangedLeavesItCurrent) {
  TwoClusters data;
  BoxSource source;
  const std::string before = Read(*data.index, 1, &source);
  ASSERT_TRUE(source.precomputed);
  auto shown = data.index->Get(SecondShown(*data.index, 1));
  auto itself = data.index->Get(TestId(1));
  ASSERT_TRUE(shown.ok() && itself.ok());
  ASSERT_TRUE(data.index->Upsert({*shown, *itself}).ok());
  EXPECT_EQ(data.index->BoxStillCurrent(source),
            data.index->state_generation());
  EXPECT_EQ(Read(*data.index, 1, &source), before);
}

TEST(BoxSource, TheArticlesOwnLanguageChangesIt) {
  TwoClusters data;
  BoxSource source;
  Read(*data.index, 1, &source);
  auto article = data.index->Get(TestId(1));
  ASSERT_TRUE(article.ok());
  article->metadata.language = "de";  // the same-language rule reads it
  ASSERT_TRUE(data.index->Upsert({*article}).ok());
  EXPECT_FALSE(data.index->BoxStillCurrent(source).has_value());
}

TEST(BoxSource, ABoxSearchedForIsNeverCurrent) {
  TwoClusters data;
  BoxSource source;
  ASSERT_TRUE(
      data.index
          ->VisitRelated(
              {TestId(1), 0, {TestId(2)}, data.index->options().default_policy},
              [](float, const ArticleCard&) {}, &source)
          .ok());
  EXPECT_FALSE(source.precomputed) << "exclusions search afresh";
  EXPECT_FALSE(data.index->BoxStillCurrent(source).has_value());
}

// Cards are laid out anew once retired ones outweigh the live ones
// (card_layout.h): every source read before is then void, even of boxes
// that no write touched.
TEST(BoxSource, ACardLayoutEndsEverySource) {
  TwoClusters data;
  BoxSource source;
  Read(*data.index, 1, &source);
  ASSERT_TRUE(source.precomputed);
  auto article = data.index->Get(TestId(120));
  ASSERT_TRUE(article.ok());
  // Each edit retires a card of about 16 KB; the layout comes at 1 MB.
  for (int edit = 0; edit < 200; ++edit) {
    EXPECT_TRUE(data.index->BoxStillCurrent(source).has_value()) << edit;
    article->metadata.title = std::string(16 << 10, 'a' + edit % 26);
    ASSERT_TRUE(data.index->Upsert({*article}).ok());
    if (data.index->Stats().card_layout_seconds > 0) {
      EXPECT_FALSE(data.index->BoxStillCurrent(source).has_value());
      return;
    }
  }
  ADD_FAILURE() << "no card layout after 200 edits of 16 KB";
}

}  // namespace
}  // namespace related
