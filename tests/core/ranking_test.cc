#include "server/core/ranking.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/test_data.h"

namespace related {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1764300000);  // 2025-11-28

ArticleMetadata Meta(std::string section, std::string language,
                     std::optional<absl::Duration> age) {
  ArticleMetadata m;
  m.section = std::move(section);
  m.language = std::move(language);
  if (age.has_value()) m.published_at = kNow - *age;
  return m;
}

// The filter the card of an article with metadata `m` fails at kNow.
FilterRule FailedFilter(const RankingPolicy& p, const ArticleMetadata& m) {
  return related::FailedFilter(p, OwnedCard("id", m).card(), kNow);
}

TEST(RankingPolicy, FiltersBySectionLanguageDateAndAttributes) {
  RankingPolicy p;
  p.sections = {"world", "business"};
  p.exclude_sections = {"sport"};
  p.languages = {"en"};
  p.max_age = absl::Hours(48);
  p.required_attributes = {{"type", "news"}};
  ArticleMetadata ok = Meta("world", "en", absl::Hours(2));
  ok.attributes["type"] = "news";
  EXPECT_EQ(FailedFilter(p, ok), FilterRule::kNone);
  ArticleMetadata m = ok;
  m.section = "sport";
  EXPECT_EQ(FailedFilter(p, m), FilterRule::kSection);
  m = ok;
  m.section = "culture";
  EXPECT_EQ(FailedFilter(p, m), FilterRule::kSection);
  m = ok;
  m.language = "de";
  EXPECT_EQ(FailedFilter(p, m), FilterRule::kLanguage);
  m = ok;
  m.published_at = kNow - absl::Hours(49);
  EXPECT_EQ(FailedFilter(p, m), FilterRule::kDate);
  m.published_at.reset();
  EXPECT_EQ(FailedFilter(p, m), FilterRule::kDate);
  m.published_at = kNow + absl::Minutes(1);  // not yet published at `now`
  EXPECT_EQ(FailedFilter(p, m), FilterRule::kDate);
  m = ok;
  m.attributes["type"] = "opinion";
  EXPECT_EQ(FailedFilter(p, m), FilterRule::kAttributes);

  RankingPolicy range;
  range.published_after = kNow - absl::Hours(10);
  range.published_before = kNow - absl::Hours(5);
  EXPECT_EQ(FailedFilter(range, Meta("x", "en", absl::Hours(7))),
            FilterRule::kNone);
  EXPECT_EQ(FailedFilter(range, Meta("x", "en", absl::Hours(10))),
            FilterRule::kNone);
  EXPECT_EQ(FailedFilter(range, Meta("x", "en", absl::Hours(11))),
            FilterRule::kDate);
  EXPECT_EQ(FailedFilter(range, Meta("x", "en", absl::Hours(4))),
            FilterRule::kDate);
}

TEST(RankingPolicy, RecencyFactorHalvesPerHalfLife) {
  RankingPolicy p;
  EXPECT_EQ(
      RecencyFactor(p, Meta("x", "en", absl::Hours(100)).published_at, kNow),
      1.0f);
  p.recency_half_life = absl::Hours(24);
  p.recency_weight = 1.0f;
  EXPECT_NEAR(RecencyFactor(
                  p, Meta("x", "en", absl::ZeroDuration()).published_at, kNow),
              1.0, 1e-6);
  EXPECT_NEAR(
      RecencyFactor(p, Meta("x", "en", absl::Hours(24)).published_at, kNow),
      0.5, 1e-6);
  EXPECT_NEAR(
      RecencyFactor(p, Meta("x", "en", absl::Hours(48)).published_at, kNow),
      0.25, 1e-6);
  EXPECT_NEAR(
      RecencyFactor(p, Meta("x", "en", -absl::Hours(5)).published_at, kNow),
      1.0, 1e-6);
  EXPECT_EQ(RecencyFactor(p, Meta("x", "en", std::nullopt).published_at, kNow),
            0.0f);
  p.recency_weight = 0.4f;
  EXPECT_NEAR(
      RecencyFactor(p, Meta("x", "en", absl::Hours(24)).published_at, kNow),
      0.8, 1e-6);
}

TEST(RankingPolicy, ValidationNamesTheField) {
  auto message = [](RankingPolicy p) {
    return std::string(ValidateRankingPolicy(p).message());
  };
  RankingPolicy p;
  EXPECT_TRUE(ValidateRankingPolicy(p).ok());
  p.diversity_lambda = 1.5f;
  EXPECT_THAT(message(p), HasSubstr("policy.diversity_lambda"));
  p = {};
  p.recency_weight = 0.5f;
  EXPECT_THAT(message(p), HasSubstr("policy.recency_half_life"));
  p = {};
  p.duplicate_threshold = std::nanf("");
  EXPECT_THAT(message(p), HasSubstr("policy.duplicate_threshold"));
  p = {};
  p.max_age = -absl::Hours(1);
  EXPECT_THAT(message(p), HasSubstr("policy.max_age"));
  p = {};
  p.published_after = kNow;
  p.published_before = kNow - absl::Hours(1);
  EXPECT_THAT(message(p), HasSubstr("policy.published_after"));
  p = {};
  p.sections = {"world"};
  p.exclude_sections = {"world"};
  EXPECT_THAT(message(p), HasSubstr("policy.sections"));
}

// Four 2-d candidates: a near-copy of the query, two near-copies of each
// other, and one different article.
struct Fixture {
  std::vector<float> vectors = {1.0f,  0.0f,    // 0: the query's copy
                                0.8f,  0.6f,    // 1
                                0.79f, 0.613f,  // 2: near-copy of 1
                                0.6f,  -0.8f};  // 3: different direction
  std::vector<Candidate> candidates;
  Fixture() {
    for (int i = 0; i < 4; ++i) testing::Normalize(&vectors[i * 2], 2);
    const float query[2] = {1.0f, 0.0f};
    for (int i = 0; i < 4; ++i) {
      candidates.push_back(
          {testing::Dot(query, &vectors[i * 2], 2), &vectors[i * 2], {}});
    }
  }
};

TEST(RankCandidates, PlainPolicyKeepsSimilarityOrder) {
  Fixture f;
  RankingDebug debug;
  EXPECT_THAT(RankCandidates({}, kNow, f.candidates, 2, 10, debug),
              ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(RankCandidates({}, kNow, f.candidates, 2, 2, debug),
              ElementsAre(0, 1));
}

TEST(RankCandidates, NearDuplicatesOfQueryAndOfChosenAreDropped) {
  Fixture f;
  RankingPolicy p;
  p.duplicate_threshold = 0.95f;
  RankingDebug debug;
  EXPECT_THAT(RankCandidates(p, kNow, f.candidates, 2, 10, debug),
              ElementsAre(1, 3));
  EXPECT_EQ(debug.removed_as_near_duplicate, 2);
}

TEST(RankCandidates, MinScoreDropsWeakCandidates) {
  Fixture f;
  RankingPolicy p;
  p.min_score = 0.7f;
  RankingDebug debug;
  EXPECT_THAT(RankCandidates(p, kNow, f.candidates, 2, 10, debug),
              ElementsAre(0, 1, 2));
  EXPECT_EQ(debug.removed_by_min_score, 1);
}

TEST(RankCandidates, DiversityPrefersTheDifferentArticle) {
  Fixture f;
  RankingPolicy p;
  p.diversity_lambda = 0.3f;
  RankingDebug debug;
  // After 0, candidate 3 (far from 0) beats 1 and 2 (close to 0).
  EXPECT_THAT(RankCandidates(p, kNow, f.candidates, 2, 2, debug),
              ElementsAre(0, 3));
}

TEST(RankCandidates, RecencyLiftsNewerArticles) {
  Fixture f;
  f.candidates[0].published_at = kNow - absl::Hours(24 * 30);
  f.candidates[1].published_at = kNow - absl::Hours(1);
  f.candidates[2].published_at = kNow - absl::Hours(24 * 30);
  f.candidates[3].published_at = kNow;
  RankingPolicy p;
  p.recency_half_life = absl::Hours(24);
  p.recency_weight = 0.5f;
  RankingDebug debug;
  EXPECT_THAT(RankCandidates(p, kNow, f.candidates, 2, 4, debug),
              ElementsAre(1, 3, 0, 2));
}

}  // namespace
}  // namespace related
