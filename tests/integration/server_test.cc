// End-to-end tests of the real related-server binary, driven through the C++
// client library over loopback.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iterator>
#include <set>
#include <thread>

#include "client/related_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/metrics_scrape.h"
#include "support/server_process.h"
#include "support/test_data.h"

namespace related {
namespace {

using client::Article;
using client::RankingPolicy;
using client::RelatedClient;
using client::RelatedItem;
using testing::ClusteredVectors;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::FloatEq;
using ::testing::HasSubstr;
using testing::MetricValue;
using ::testing::Not;
using testing::NumberedArticles;
using ::testing::Optional;
using ::testing::Pair;
using testing::ScrapeMetrics;
using testing::ServerBinary;
using testing::ServerProcess;
using testing::TestId;

constexpr int kDim = 24;

std::vector<Article> MakeArticles(const std::vector<float>& vectors, int first,
                                  int count) {
  return NumberedArticles<Article>(
      vectors, kDim, first, count, [](int i, Article& a) {
        a.metadata.title = "Story " + std::to_string(i);
        a.metadata.url = "https://news.example.com/" + a.id;
        a.metadata.section = "world";
        a.metadata.language = "en";
        a.metadata.published_at = absl::FromUnixSeconds(1764300000 + i);
        a.metadata.attributes = {{"author", "desk"}};
      });
}

// MakeArticles with every third article (0, 3, 6, ...) in "sport".
std::vector<Article> MakeArticlesInTwoSections(
    const std::vector<float>& vectors, int count) {
  std::vector<Article> articles = MakeArticles(vectors, 0, count);
  for (int i = 0; i < count; i += 3) articles[i].metadata.section = "sport";
  return articles;
}

std::vector<std::string> IdsOf(const std::vector<RelatedItem>& items) {
  std::vector<std::string> ids;
  for (const RelatedItem& item : items) ids.push_back(item.article_id);
  return ids;
}

// Matches a RelatedItem whose section is `section`.
auto InSection(const std::string& section) {
  return Field(&RelatedItem::metadata,
               Field(&client::Metadata::section, section));
}

class ServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start(
        ServerBinary(),
        {"--dim=" + std::to_string(kDim), "--index=" + GetParam(),
         "--max_batch_size=500", "--shutdown_grace=500ms"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::make_unique<ServerProcess>(*std::move(server));
    client_ = std::make_unique<RelatedClient>(
        client::ClientOptions{server_->grpc_address(), absl::Seconds(10)});
    ASSERT_TRUE(client_->WaitUntilServing(absl::Seconds(20)).ok());
  }

  void TearDown() override {
    if (server_ != nullptr) {
      auto code = server_->StopWith(SIGTERM);
      ASSERT_TRUE(code.ok()) << code.status();
      EXPECT_EQ(*code, 0) << server_->DrainStderr();
    }
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<RelatedClient> client_;
};

INSTANTIATE_TEST_SUITE_P(BothKinds, ServerTest,
                         ::testing::Values("exact", "hnsw"));

TEST_P(ServerTest, HealthAndStats) {
  EXPECT_EQ(*client_->Health(), "SERVING");
  EXPECT_EQ(*client_->Health("related.v1.RelatedArticles"), "SERVING");
  EXPECT_EQ(client_->Health("no.such.Service").status().code(),
            absl::StatusCode::kNotFound);
  auto stats = client_->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->dimension, kDim);
  EXPECT_EQ(stats->index_kind, GetParam());
  EXPECT_EQ(stats->max_limit, 100);
  EXPECT_EQ(stats->max_batch_size, 500);
  EXPECT_TRUE(client_->Ping().ok());
}

TEST_P(ServerTest, RelatedRoundTripWithMetadata) {
  const auto vectors = ClusteredVectors(400, kDim, 8, 31);
  auto written = client_->Upsert(MakeArticles(vectors, 0, 400));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 400);
  EXPECT_EQ(client_->GetStats()->article_count, 400);

  auto related = client_->Related(TestId(7), 10, {TestId(8)});
  ASSERT_TRUE(related.ok()) << related.status();
  ASSERT_EQ(related->items.size(), 10u);
  EXPECT_EQ(related->debug, std::nullopt) << "debug was not asked for";
  float previous = 2;
  for (const auto& item : related->items) {
    EXPECT_NE(item.article_id, TestId(7));
    EXPECT_NE(item.article_id, TestId(8));
    EXPECT_LE(item.score, previous);
    previous = item.score;
    EXPECT_EQ(item.metadata.url, "https://news.example.com/" + item.article_id);
    EXPECT_EQ(item.metadata.attributes.at("author"), "desk");
    ASSERT_TRUE(item.metadata.published_at.has_value());
  }
  auto article = client_->GetArticle(TestId(3), /*include_embedding=*/true);
  ASSERT_TRUE(article.ok());
  EXPECT_EQ(article->metadata.title, "Story 3");
  EXPECT_EQ(*article->metadata.published_at, absl::FromUnixSeconds(1764300003));
  EXPECT_EQ(article->embedding.size(), size_t(kDim));
}

// With HNSW and the default policy, boxes come from the precomputed lists
// (debug says so) and follow writes at once: a deleted article leaves every
// box, an edited headline shows in every box, a new near neighbour enters.
TEST_P(ServerTest, PrecomputedBoxesFollowWrites) {
  const auto vectors = ClusteredVectors(300, kDim, 6, 17);
  ASSERT_TRUE(client_->Upsert(MakeArticles(vectors, 0, 300)).ok());
  auto stats = client_->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->related_lists_precomputed, GetParam() == "hnsw");
  EXPECT_EQ(stats->related_lists_stale, 0);
  EXPECT_EQ(stats->max_metadata_bytes, 64 << 10);
  auto metrics = ScrapeMetrics(server_->metrics_address());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_GT(MetricValue(*metrics, "related_cards_memory_bytes").value_or(0), 0);
  if (GetParam() == "hnsw") {
    EXPECT_GT(stats->related_lists_memory_bytes, 0);
  }

  client::RankingPolicy debug;
  debug.debug = true;
  auto before = client_->Related(TestId(5), 10, {}, debug);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->items.size(), 10u);
  ASSERT_TRUE(before->debug.has_value());
  EXPECT_EQ(before->debug->precomputed, GetParam() == "hnsw");
  // Asking for exclusions is a fresh search, with the same ranking.
  auto searched = client_->Related(TestId(5), 10, {"no-such-id"}, debug);
  ASSERT_TRUE(searched.ok());
  EXPECT_FALSE(searched->debug->precomputed);
  EXPECT_EQ(IdsOf(searched->items), IdsOf(before->items));

  const std::string first = before->items[0].article_id;
  const std::string second = before->items[1].article_id;
  ASSERT_TRUE(client_->Delete({first}).ok());
  auto edited = client_->GetArticle(second, /*include_embedding=*/true);
  ASSERT_TRUE(edited.ok());
  edited->metadata.title = "Edited headline";
  ASSERT_TRUE(client_->Upsert({*edited}).ok());
  // A new article at cosine 0.93 to article 5: closer than its neighbours,
  // not a near-duplicate (0.95). Article 5's vector plus 0.395 times a unit
  // vector orthogonal to it.
  const float* v5 = &vectors[5 * kDim];
  std::vector<float> away(vectors.begin() + 200 * kDim,
                          vectors.begin() + 201 * kDim);
  const float along = testing::Dot(away.data(), v5, kDim);
  for (int d = 0; d < kDim; ++d) away[d] -= along * v5[d];
  testing::Normalize(away.data(), kDim);
  Article newcomer = MakeArticles(vectors, 0, 1)[0];
  newcomer.id = "newcomer";
  newcomer.embedding.resize(kDim);
  for (int d = 0; d < kDim; ++d)
    newcomer.embedding[d] = v5[d] + 0.395f * away[d];
  ASSERT_TRUE(client_->Upsert({newcomer}).ok());

  auto after = client_->Related(TestId(5), 10, {}, debug);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->debug->precomputed, GetParam() == "hnsw");
  EXPECT_THAT(IdsOf(after->items), Contains("newcomer"));
  for (const auto& item : after->items) EXPECT_NE(item.article_id, first);
  bool saw_edit = false;
  for (const auto& item : after->items) {
    if (item.article_id == second) {
      saw_edit = true;
      EXPECT_EQ(item.metadata.title, "Edited headline");
    }
  }
  EXPECT_TRUE(saw_edit);
  auto fresh = client_->Related(TestId(5), 10, {"no-such-id"}, debug);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(IdsOf(fresh->items), IdsOf(after->items));
}

TEST_P(ServerTest, BadInputGetsPreciseErrorsAndChangesNothing) {
  const auto vectors = ClusteredVectors(20, kDim, 2, 32);
  ASSERT_TRUE(client_->Upsert(MakeArticles(vectors, 0, 10)).ok());
  auto code_of = [](const absl::Status& s) { return s.code(); };

  auto bad = MakeArticles(vectors, 10, 5);
  bad[2].embedding.resize(kDim - 1);
  auto s = client_->Upsert(bad).status();
  EXPECT_EQ(code_of(s), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("articles[2].embedding"));

  bad = MakeArticles(vectors, 10, 5);
  bad[1].embedding.assign(kDim, 0.0f);
  EXPECT_THAT(std::string(client_->Upsert(bad).status().message()),
              HasSubstr("articles[1].embedding: the zero vector"));
  bad = MakeArticles(vectors, 10, 5);
  bad[4].embedding[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(std::string(client_->Upsert(bad).status().message()),
              HasSubstr("articles[4].embedding[3]"));
  bad = MakeArticles(vectors, 10, 5);
  bad[0].id = std::string(300, 'x');
  EXPECT_THAT(std::string(client_->Upsert(bad).status().message()),
              HasSubstr("articles[0].id"));
  bad = MakeArticles(vectors, 10, 5);
  bad[3].id = "";
  EXPECT_EQ(code_of(client_->Upsert(bad).status()),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->GetStats()->article_count, 10) << "a rejected batch wrote";

  EXPECT_EQ(code_of(client_->Related("missing/article").status()),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(client_->Related(TestId(0), 101).status().message()),
              HasSubstr("limit"));
  EXPECT_EQ(code_of(client_->Related(TestId(0), -3).status()),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code_of(client_->GetArticle("missing/article").status()),
            absl::StatusCode::kNotFound);
  std::vector<std::string> too_many(501, TestId(0));
  EXPECT_THAT(std::string(client_->Delete(too_many).status().message()),
              HasSubstr("limit of 500"));
  // A request larger than the message limit is refused by gRPC itself.
  std::vector<Article> huge = MakeArticles(vectors, 10, 1);
  huge[0].metadata.title = std::string(17 << 20, 'a');
  EXPECT_EQ(code_of(client_->Upsert(huge).status()),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(*client_->Health(), "SERVING");
}

TEST_P(ServerTest, BatchRelatedReportsUnknownIdsPerItem) {
  const auto vectors = ClusteredVectors(50, kDim, 3, 33);
  ASSERT_TRUE(client_->Upsert(MakeArticles(vectors, 0, 50)).ok());
  auto items = client_->BatchRelated({TestId(1), "nope", TestId(2)}, 3);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 3u);
  EXPECT_TRUE((*items)[0].status.ok());
  EXPECT_EQ((*items)[0].related.size(), 3u);
  EXPECT_EQ((*items)[1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string((*items)[1].status.message()), HasSubstr("nope"));
  EXPECT_EQ((*items)[2].related.size(), 3u);
}

TEST_P(ServerTest, SectionsFilterWithDebugCounts) {
  const auto vectors = ClusteredVectors(300, kDim, 6, 36);
  ASSERT_TRUE(client_->Upsert(MakeArticlesInTwoSections(vectors, 300)).ok());
  RankingPolicy policy;
  policy.sections = {"sport"};
  policy.debug = true;

  auto related = client_->Related(TestId(7), 10, {}, policy);
  ASSERT_TRUE(related.ok()) << related.status();
  ASSERT_EQ(related->items.size(), 10u);
  EXPECT_THAT(related->items, Each(InSection("sport")));
  ASSERT_TRUE(related->debug.has_value());
  const client::RankingDebug& debug = *related->debug;
  EXPECT_THAT(debug.applied_policy.sections, ElementsAre("sport"));
  EXPECT_TRUE(debug.applied_policy.debug);
  // What the request left unset is the server's default (its flags).
  EXPECT_THAT(debug.applied_policy.duplicate_threshold,
              Optional(FloatEq(0.95f)));
  EXPECT_THAT(debug.applied_policy.diversity_lambda, Optional(FloatEq(1.0f)));
  EXPECT_EQ(debug.applied_policy.max_age, std::nullopt);
  if (GetParam() == "exact") {
    // The exact index examines every article: all 200 "world" ones but the
    // query itself, which is not counted as removed.
    EXPECT_EQ(debug.removed_by_section, 199);
  } else {
    EXPECT_GT(debug.removed_by_section, 0);
  }
  EXPECT_EQ(debug.removed_by_language, 0);
  EXPECT_EQ(debug.removed_by_exclude_ids, 0);
  EXPECT_GE(debug.candidates_considered, 10);
  EXPECT_GE(debug.search_rounds, 1);

  // The same box without debug information.
  policy.debug = false;
  auto quiet = client_->Related(TestId(7), 10, {}, policy);
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_EQ(quiet->debug, std::nullopt);
  EXPECT_EQ(IdsOf(quiet->items), IdsOf(related->items));

  // The server names a control out of range.
  policy.diversity_lambda = 1.5f;
  auto bad = client_->Related(TestId(7), 10, {}, policy);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("policy.diversity_lambda"));
}

TEST_P(ServerTest, EveryPolicyControlRoundTrips) {
  const auto vectors = ClusteredVectors(200, kDim, 4, 37);
  ASSERT_TRUE(client_->Upsert(MakeArticles(vectors, 0, 200)).ok());
  // Articles are published at 1764300000 + i seconds.
  const absl::Time now =
      absl::FromUnixSeconds(1764300000 + 500) + absl::Milliseconds(250);
  RankingPolicy policy;
  policy.exclude_sections = {"culture"};
  policy.languages = {"en"};
  policy.published_after = absl::FromUnixSeconds(1764300000);
  policy.published_before = now;
  policy.max_age = absl::Hours(1) + absl::Milliseconds(5);
  policy.required_attributes = {{"author", "desk"}};
  policy.min_score = -0.5f;
  policy.duplicate_threshold = 0.99f;
  policy.diversity_lambda = 0.8f;
  policy.recency_half_life = absl::Minutes(90);
  policy.recency_weight = 0.5f;
  policy.now = now;
  policy.candidates = 60;
  policy.debug = true;

  auto related = client_->Related(TestId(3), 10, {}, policy);
  ASSERT_TRUE(related.ok()) << related.status();
  EXPECT_EQ(related->items.size(), 10u);  // every article passes the filters
  ASSERT_TRUE(related->debug.has_value());
  const RankingPolicy& applied = related->debug->applied_policy;
  EXPECT_TRUE(applied.sections.empty());
  EXPECT_EQ(applied.exclude_sections, policy.exclude_sections);
  EXPECT_EQ(applied.languages, policy.languages);
  EXPECT_EQ(applied.published_after, policy.published_after);
  EXPECT_EQ(applied.published_before, policy.published_before);
  EXPECT_EQ(applied.max_age, policy.max_age);
  EXPECT_THAT(applied.required_attributes, ElementsAre(Pair("author", "desk")));
  EXPECT_EQ(applied.min_score, policy.min_score);
  EXPECT_EQ(applied.duplicate_threshold, policy.duplicate_threshold);
  EXPECT_EQ(applied.diversity_lambda, policy.diversity_lambda);
  EXPECT_EQ(applied.recency_half_life, policy.recency_half_life);
  EXPECT_EQ(applied.recency_weight, policy.recency_weight);
  EXPECT_EQ(applied.now, policy.now);
  EXPECT_EQ(applied.candidates, 60);
  EXPECT_EQ(related->debug->removed_by_date, 0);
  EXPECT_EQ(related->debug->removed_by_attributes, 0);

  // A date filter that excludes the older half is applied as sent.
  policy.published_after = absl::FromUnixSeconds(1764300100);
  related = client_->Related(TestId(150), 10, {}, policy);
  ASSERT_TRUE(related.ok()) << related.status();
  ASSERT_EQ(related->items.size(), 10u);
  for (const RelatedItem& item : related->items) {
    EXPECT_GE(*item.metadata.published_at, *policy.published_after)
        << item.article_id;
  }
  EXPECT_GT(related->debug->removed_by_date, 0);
}

TEST_P(ServerTest, SearchByVectorRanksAsRelatedDoes) {
  const auto vectors = ClusteredVectors(300, kDim, 6, 38);
  ASSERT_TRUE(client_->Upsert(MakeArticlesInTwoSections(vectors, 300)).ok());
  // Article 7's vector, scaled: the server normalises it.
  std::vector<float> query(vectors.begin() + 7 * kDim,
                           vectors.begin() + 8 * kDim);
  for (float& v : query) v *= 3.0f;

  // The stored article is its own near-duplicate: dropped by default...
  RankingPolicy policy;
  policy.debug = true;
  auto found = client_->SearchByVector(query, 10, {}, policy);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->items.size(), 10u);
  EXPECT_THAT(IdsOf(found->items), Not(Contains(TestId(7))));
  ASSERT_TRUE(found->debug.has_value());
  EXPECT_GE(found->debug->removed_as_near_duplicate, 1);
  if (GetParam() == "exact") {
    // ...which leaves what GetRelated gives for the stored article.
    auto related = client_->Related(TestId(7), 10);
    ASSERT_TRUE(related.ok()) << related.status();
    EXPECT_EQ(IdsOf(found->items), IdsOf(related->items));
  }

  // ...and first, at similarity 1, with suppression off.
  policy.duplicate_threshold = 1.0f;
  found = client_->SearchByVector(query, 3, {}, policy);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->items.size(), 3u);
  EXPECT_EQ(found->items[0].article_id, TestId(7));
  EXPECT_NEAR(found->items[0].score, 1.0f, 1e-5);
  EXPECT_EQ(found->debug->removed_as_near_duplicate, 0);

  // Filters and exclusions apply as to GetRelated.
  policy.sections = {"sport"};
  found = client_->SearchByVector(query, 10, {TestId(0), TestId(3)}, policy);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->items.size(), 10u);
  EXPECT_THAT(found->items, Each(InSection("sport")));
  EXPECT_THAT(IdsOf(found->items), Not(Contains(TestId(0))));
  EXPECT_THAT(IdsOf(found->items), Not(Contains(TestId(3))));
  EXPECT_GT(found->debug->removed_by_section, 0);

  auto wrong_size = client_->SearchByVector({1.0f, 2.0f});
  EXPECT_EQ(wrong_size.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong_size.status().message()),
              HasSubstr("embedding"));
}

TEST_P(ServerTest, BatchRelatedAppliesThePolicyToEachItem) {
  const auto vectors = ClusteredVectors(300, kDim, 6, 39);
  ASSERT_TRUE(client_->Upsert(MakeArticlesInTwoSections(vectors, 300)).ok());
  RankingPolicy policy;
  policy.sections = {"sport"};
  policy.diversity_lambda = 0.5f;
  policy.debug = true;
  const std::vector<std::string> ids = {TestId(1), "nope", TestId(3)};
  auto items = client_->BatchRelated(ids, 5, {TestId(6)}, policy);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 3u);
  EXPECT_EQ((*items)[1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*items)[1].debug, std::nullopt);
  for (size_t i : {0u, 2u}) {
    const client::BatchItem& item = (*items)[i];
    ASSERT_TRUE(item.status.ok()) << item.status;
    ASSERT_EQ(item.related.size(), 5u);
    EXPECT_THAT(item.related, Each(InSection("sport")));
    ASSERT_TRUE(item.debug.has_value()) << item.article_id;
    EXPECT_THAT(item.debug->applied_policy.sections, ElementsAre("sport"));
    EXPECT_THAT(item.debug->applied_policy.diversity_lambda,
                Optional(FloatEq(0.5f)));
    EXPECT_GT(item.debug->removed_by_section, 0);
    // Each item is the box a single lookup under the same policy gives.
    auto single = client_->Related(ids[i], 5, {TestId(6)}, policy);
    ASSERT_TRUE(single.ok()) << single.status();
    EXPECT_EQ(IdsOf(item.related), IdsOf(single->items)) << item.article_id;
    EXPECT_EQ(item.debug->removed_by_section,
              single->debug->removed_by_section);
  }
  // The shared exclusion list holds for every item: article 6 is in "sport",
  // so only the exclusion keeps it out.
  EXPECT_THAT(IdsOf((*items)[2].related), Not(Contains(TestId(6))));
}

TEST_P(ServerTest, StreamingImportAppliesBatchesInOrder) {
  const auto vectors = ClusteredVectors(1000, kDim, 10, 34);
  auto importer = client_->StartImport(absl::Seconds(60));
  for (int first = 0; first < 1000; first += 250) {
    ASSERT_TRUE(importer->Send(MakeArticles(vectors, first, 250)).ok());
  }
  auto summary = importer->Finish();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->upserted, 1000);
  EXPECT_EQ(summary->batches, 4);
  auto stats = client_->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->article_count, 1000);
  if (GetParam() == "hnsw") {
    // The import ended in a bulk build of the lists, then a layout of the
    // cards box by box. A cluster's ~100 cards of ~170 bytes fill about
    // four pages (3.55 per box measured); scattered over the 40-odd pages
    // of all the cards, a box's ten would span about eight.
    // (A metric, no longer in the API.)
    auto metrics = ScrapeMetrics(server_->metrics_address());
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    const double pages =
        MetricValue(*metrics, "related_card_pages_per_box").value_or(0);
    EXPECT_GT(pages, 0.9);
    EXPECT_LT(pages, 5.0);
  }

  // A bad batch ends the stream with its error; earlier batches stay.
  importer = client_->StartImport(absl::Seconds(60));
  auto good = MakeArticles(vectors, 0, 5);
  auto bad = MakeArticles(vectors, 5, 5);
  bad[1].embedding.push_back(1.0f);
  ASSERT_TRUE(importer->Send(good).ok());
  importer->Send(bad).IgnoreError();
  auto failed = importer->Finish();
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(failed.status().message()),
              HasSubstr("batch 1: articles[1].embedding"));
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("5 articles"));
}

// Writes through gRPC while other clients read: every read succeeds and a
// write is visible to reads that start after it returned.
TEST_P(ServerTest, ReadsServedDuringWritesAndWritesVisibleOnReturn) {
  const auto vectors = ClusteredVectors(1200, kDim, 12, 35);
  ASSERT_TRUE(client_->Upsert(MakeArticles(vectors, 0, 200)).ok());
  std::atomic<bool> writing{true};
  std::atomic<int> reads{0}, failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      RelatedClient reader({server_->grpc_address(), absl::Seconds(10)});
      for (int i = 0; writing.load() && i < 20000; ++i) {
        auto related = reader.Related(TestId((t * 37 + i) % 200), 10);
        if (!related.ok() || related->items.size() != 10) ++failures;
        ++reads;
      }
    });
  }
  for (int first = 200; first < 1200; first += 100) {
    ASSERT_TRUE(client_->Upsert(MakeArticles(vectors, first, 100)).ok());
    // Visible at once: the new articles can be queried and found.
    auto related = client_->Related(TestId(first + 99), 1);
    ASSERT_TRUE(related.ok()) << related.status();
  }
  writing.store(false);
  for (auto& r : readers) r.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(client_->GetStats()->article_count, 1200);
  auto deleted = client_->Delete({TestId(1), TestId(2), "never/there"});
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 2);
  for (int q = 3; q < 60; ++q) {
    auto related = client_->Related(TestId(q), 100);
    ASSERT_TRUE(related.ok());
    for (const auto& item : related->items) {
      EXPECT_NE(item.article_id, TestId(1));
      EXPECT_NE(item.article_id, TestId(2));
    }
  }
}

// SIGTERM lets an in-flight call finish and the process exits 0; health
// reports NOT_SERVING once draining starts.
TEST(ServerLifecycle, SigtermDrainsAndExitsZero) {
  auto server =
      ServerProcess::Start(ServerBinary(), {"--dim=8", "--index=exact"});
  ASSERT_TRUE(server.ok()) << server.status();
  RelatedClient client({server->grpc_address(), absl::Seconds(5)});
  ASSERT_TRUE(client.WaitUntilServing(absl::Seconds(20)).ok());
  auto code = server->StopWith(SIGTERM);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  const std::string log = server->DrainStderr();
  EXPECT_THAT(log, HasSubstr("SIGTERM received, draining")) << log;
  std::cerr << log;
  EXPECT_FALSE(client.Ping().ok());
}

// With --shutdown_delay, SIGTERM first turns health to NOT_SERVING while
// calls are still answered, so clients that watch health leave before the
// server stops listening; then it drains and exits 0.
TEST(ServerLifecycle, HealthTurnsNotServingBeforeCallsStop) {
  auto server = ServerProcess::Start(
      ServerBinary(), {"--dim=8", "--index=exact", "--shutdown_delay=4s"});
  ASSERT_TRUE(server.ok()) << server.status();
  RelatedClient client({server->grpc_address(), absl::Seconds(5)});
  ASSERT_TRUE(client.WaitUntilServing(absl::Seconds(20)).ok());
  ASSERT_EQ(kill(server->pid(), SIGTERM), 0);
  // Bounded: the health answer changes as soon as the signal is handled.
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  absl::StatusOr<std::string> health = client.Health();
  while (health.ok() && *health == "SERVING" && absl::Now() < deadline) {
    health = client.Health();
  }
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, "NOT_SERVING");
  EXPECT_TRUE(client.Ping().ok()) << "calls stopped before the delay ended";
  EXPECT_TRUE(client.GetStats().ok());
  auto code = server->StopWith(SIGTERM);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  EXPECT_FALSE(client.Ping().ok());
}

// The server's thread IDs, from /proc.
std::set<int> ThreadIds(pid_t pid) {
  std::set<int> ids;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    ids.insert(std::atoi(entry.path().filename().c_str()));
  }
  return ids;
}

// Many calls in flight reuse the server's call threads. With gRPC's default
// of two idle threads, the server started and ended over a thousand threads
// a second under 64 concurrent calls.
TEST_P(ServerTest, ConcurrentCallsReuseThreads) {
  RelatedClient& client = *client_;
  ServerProcess* server = server_.get();
  ASSERT_TRUE(
      client.Upsert(MakeArticles(ClusteredVectors(50, kDim, 5, 3), 0, 50))
          .ok());
  constexpr int kCallers = 64;
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; !stop.load() && i < 20000; ++i) {
        if (!client.Related(TestId((t + i) % 50), 10).ok()) ++failures;
        ++calls;
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  // Threads that end while the load goes on: the pool may still grow, but
  // a thread that was started and has ended was churn.
  std::set<int> seen = ThreadIds(server->pid());
  const int calls_at_start = calls.load();
  std::set<int> now;
  for (int sample = 0; sample < 100; ++sample) {  // 2 s
    absl::SleepFor(absl::Milliseconds(20));
    now = ThreadIds(server->pid());
    seen.insert(now.begin(), now.end());
  }
  const int measured_calls = calls.load() - calls_at_start;
  stop.store(true);
  for (auto& c : callers) c.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(measured_calls, 1000);
  std::vector<int> ended;
  std::set_difference(seen.begin(), seen.end(), now.begin(), now.end(),
                      std::back_inserter(ended));
  EXPECT_LE(ended.size(), 2u)
      << ended.size() << " server threads ended during " << measured_calls
      << " calls (" << seen.size() << " seen, " << now.size() << " at the end)";
}

TEST(ServerLifecycle, StartupErrorsAreOneClearLineAndNonZero) {
  auto bad_index = ServerProcess::RunToExit(ServerBinary(), {"--index=annoy"});
  ASSERT_TRUE(bad_index.ok());
  EXPECT_NE(bad_index->code, 0);
  EXPECT_THAT(bad_index->stderr_text,
              HasSubstr("--index must be 'exact' or 'hnsw'"));

  auto bad_limits = ServerProcess::RunToExit(
      ServerBinary(),
      {"--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
       "--default_limit=50", "--max_limit=20"});
  ASSERT_TRUE(bad_limits.ok());
  EXPECT_NE(bad_limits->code, 0);
  EXPECT_THAT(bad_limits->stderr_text, HasSubstr("default_limit"));

  // The gRPC port of a running server is taken.
  auto first = ServerProcess::Start(ServerBinary(), {});
  ASSERT_TRUE(first.ok());
  auto clash = ServerProcess::RunToExit(
      ServerBinary(), {"--grpc_address=" + first->grpc_address(),
                       "--metrics_address=127.0.0.1:0"});
  ASSERT_TRUE(clash.ok());
  EXPECT_NE(clash->code, 0);
  EXPECT_THAT(clash->stderr_text, HasSubstr("cannot serve gRPC on"));
}

// Two pods on one node sharing a volume: the second server on a data
// directory in use refuses to start, and says why; once the first has
// stopped, the directory is free again.
TEST(ServerLifecycle, ASecondServerOnTheSameDataDirectoryRefusesToStart) {
  char pattern[] = "/tmp/related-lock-XXXXXX";
  const std::string data_dir = mkdtemp(pattern);
  const std::vector<std::string> flags = {"--data_dir=" + data_dir, "--dim=4"};
  auto first = ServerProcess::Start(ServerBinary(), flags);
  ASSERT_TRUE(first.ok()) << first.status();
  client::RelatedClient client({first->grpc_address(), absl::Seconds(10)});
  ASSERT_TRUE(client.WaitUntilServing(absl::Seconds(20)).ok());
  std::vector<std::string> second_flags = flags;
  second_flags.insert(second_flags.begin(), {"--grpc_address=127.0.0.1:0",
                                             "--metrics_address=127.0.0.1:0"});
  auto second = ServerProcess::RunToExit(ServerBinary(), second_flags);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->code, 0);
  EXPECT_THAT(second->stderr_text,
              HasSubstr("is in use by another related-server (pid " +
                        std::to_string(first->pid()) + ")"));
  EXPECT_EQ(*first->StopWith(SIGTERM), 0);
  auto again = ServerProcess::Start(ServerBinary(), flags);
  ASSERT_TRUE(again.ok()) << again.status();
  client::RelatedClient client_again(
      {again->grpc_address(), absl::Seconds(10)});
  EXPECT_TRUE(client_again.WaitUntilServing(absl::Seconds(20)).ok());
  EXPECT_EQ(*again->StopWith(SIGTERM), 0);
  std::filesystem::remove_all(data_dir);
}

}  // namespace
}  // namespace related
