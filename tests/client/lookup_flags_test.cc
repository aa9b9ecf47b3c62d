#include "client/cli/lookup_flags.h"

#include <map>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/test_time.h"

namespace related::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::Pair;
using ::testing::StartsWith;

// The error message of parsing one flag, "" if it parsed.
std::string ErrorOf(const std::string& flag, const std::string& text) {
  auto policy = ParsePolicyFlags({{flag, text}});
  if (policy.ok()) return "";
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(policy.status().message());
}

TEST(ParsePolicyFlagsTest, NoFlagsLeaveEveryControlToTheServer) {
  auto policy = ParsePolicyFlags({});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->sections.empty());
  EXPECT_TRUE(policy->exclude_sections.empty());
  EXPECT_TRUE(policy->languages.empty());
  EXPECT_EQ(policy->published_after, std::nullopt);
  EXPECT_EQ(policy->published_before, std::nullopt);
  EXPECT_EQ(policy->max_age, std::nullopt);
  EXPECT_TRUE(policy->required_attributes.empty());
  EXPECT_EQ(policy->min_score, std::nullopt);
  EXPECT_EQ(policy->duplicate_threshold, std::nullopt);
  EXPECT_EQ(policy->diversity_lambda, std::nullopt);
  EXPECT_EQ(policy->recency_half_life, std::nullopt);
  EXPECT_EQ(policy->recency_weight, std::nullopt);
  EXPECT_EQ(policy->now, std::nullopt);
  EXPECT_EQ(policy->candidates, 0);
  EXPECT_FALSE(policy->debug);
}

TEST(ParsePolicyFlagsTest, ReadsEveryFlag) {
  auto policy = ParsePolicyFlags({
      {"sections", "world,sport"},
      {"exclude_sections", "opinion"},
      {"languages", "en,pt-BR"},
      {"same_language", "false"},
      {"max_age", "48h"},
      {"published_after", "2026-11-01T00:00:00Z"},
      {"published_before", "2026-11-28T11:30:00+02:00"},
      {"require", "type=news,author=Ana"},
      {"min_score", "0.2"},
      {"duplicate_threshold", "1"},
      {"diversity", "0.7"},
      {"recency_half_life", "90m"},
      {"recency_weight", "0.25"},
      {"now", "2026-11-30T12:00:00.5Z"},
      {"candidates", "200"},
      {"debug", "true"},
  });
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(policy->sections, ElementsAre("world", "sport"));
  EXPECT_THAT(policy->exclude_sections, ElementsAre("opinion"));
  EXPECT_THAT(policy->languages, ElementsAre("en", "pt-BR"));
  EXPECT_EQ(policy->same_language, false);
  EXPECT_EQ(policy->max_age, absl::Hours(48));
  EXPECT_EQ(policy->published_after, Utc(2026, 11, 1, 0, 0, 0));
  EXPECT_EQ(policy->published_before, Utc(2026, 11, 28, 9, 30, 0));
  EXPECT_THAT(policy->required_attributes,
              ElementsAre(Pair("author", "Ana"), Pair("type", "news")));
  EXPECT_THAT(policy->min_score, Optional(FloatEq(0.2f)));
  EXPECT_THAT(policy->duplicate_threshold, Optional(FloatEq(1.0f)));
  EXPECT_THAT(policy->diversity_lambda, Optional(FloatEq(0.7f)));
  EXPECT_EQ(policy->recency_half_life, absl::Minutes(90));
  EXPECT_THAT(policy->recency_weight, Optional(FloatEq(0.25f)));
  EXPECT_EQ(policy->now, Utc(2026, 11, 30, 12, 0, 0) + absl::Milliseconds(500));
  EXPECT_EQ(policy->candidates, 200);
  EXPECT_TRUE(policy->debug);
}

TEST(ParsePolicyFlagsTest, AFlagGivenAsItsDefaultIsStillSent) {
  // --diversity=1 asks for lambda 1 even if the server's default differs;
  // only a flag left out is left to the server.
  auto policy = ParsePolicyFlags({{"diversity", "1"}, {"min_score", "-1"}});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(policy->diversity_lambda, Optional(FloatEq(1.0f)));
  EXPECT_THAT(policy->min_score, Optional(FloatEq(-1.0f)));
  EXPECT_EQ(policy->duplicate_threshold, std::nullopt);
}

TEST(ParsePolicyFlagsTest, ListsIgnoreSpacesAndEmptyItems) {
  auto policy = ParsePolicyFlags({{"sections", " world , ,sport,"},
                                  {"languages", ""},
                                  {"require", " type = news ,, topic=a=b"}});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(policy->sections, ElementsAre("world", "sport"));
  EXPECT_TRUE(policy->languages.empty());
  // Only the first '=' separates key and value.
  EXPECT_THAT(policy->required_attributes,
              ElementsAre(Pair("topic", "a=b"), Pair("type", "news")));
}

TEST(ParsePolicyFlagsTest, RequireAcceptsAnEmptyValue) {
  auto policy = ParsePolicyFlags({{"require", "paywall="}});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(policy->required_attributes, ElementsAre(Pair("paywall", "")));
}

TEST(ParsePolicyFlagsTest, DebugFalseIsNoDebug) {
  auto policy = ParsePolicyFlags({{"debug", "false"}});
  ASSERT_TRUE(policy.ok());
  EXPECT_FALSE(policy->debug);
}

TEST(ParsePolicyFlagsTest, BadTextNamesTheFlag) {
  EXPECT_THAT(ErrorOf("max_age", "2 days"),
              StartsWith("--max_age: cannot parse \"2 days\""));
  EXPECT_THAT(ErrorOf("max_age", "inf"), StartsWith("--max_age: "));
  EXPECT_THAT(ErrorOf("recency_half_life", "soon"),
              StartsWith("--recency_half_life: "));
  EXPECT_THAT(ErrorOf("published_after", "2026-11-01"),
              StartsWith("--published_after: cannot parse"));
  EXPECT_THAT(ErrorOf("published_after", "2026-11-01"), HasSubstr("RFC 3339"));
  EXPECT_THAT(ErrorOf("published_before", "yesterday"),
              StartsWith("--published_before: "));
  EXPECT_EQ(ErrorOf("now", "infinite-future"),
            "--now: outside the years 0001 to 9999");
  EXPECT_THAT(ErrorOf("min_score", "high"), StartsWith("--min_score: "));
  EXPECT_THAT(ErrorOf("min_score", "nan"), StartsWith("--min_score: "));
  EXPECT_THAT(ErrorOf("duplicate_threshold", "0.9x"),
              StartsWith("--duplicate_threshold: "));
  EXPECT_THAT(ErrorOf("diversity", "inf"), StartsWith("--diversity: "));
  EXPECT_THAT(ErrorOf("recency_weight", ""), StartsWith("--recency_weight: "));
  EXPECT_THAT(ErrorOf("candidates", "1.5"), StartsWith("--candidates: "));
  EXPECT_EQ(ErrorOf("candidates", "-1"), "--candidates: must not be negative");
  EXPECT_THAT(ErrorOf("debug", "maybe"), StartsWith("--debug: "));
  EXPECT_THAT(ErrorOf("require", "type"),
              StartsWith("--require: cannot parse \"type\"; expected "
                         "key=value"));
  EXPECT_THAT(ErrorOf("require", "=news"), StartsWith("--require: "));
  EXPECT_EQ(ErrorOf("require", "type=news,type=opinion"),
            "--require: 'type' is given twice");
  EXPECT_EQ(ErrorOf("color", "red"), "--color: not a ranking policy flag");
}

TEST(ParsePolicyFlagsTest, RangesAreLeftToTheServer) {
  // The server names "policy.<field>" for these; the CLI checks syntax only.
  EXPECT_EQ(ErrorOf("diversity", "2"), "");
  EXPECT_EQ(ErrorOf("max_age", "-1h"), "");
  EXPECT_EQ(ErrorOf("min_score", "-3"), "");
}

TEST(PolicyFlagsTest, EveryFlagParses) {
  // A flag added to kPolicyFlags without a parser would fail here.
  for (absl::string_view flag : kPolicyFlags) {
    const std::string name(flag);
    std::string text = "1";
    if (name == "debug") text = "true";
    if (name == "max_age" || name == "recency_half_life") text = "1h";
    if (name == "require") text = "k=v";
    if (name == "published_after" || name == "published_before" ||
        name == "now") {
      text = "2026-11-28T09:30:00Z";
    }
    EXPECT_EQ(ErrorOf(name, text), "") << name;
  }
}

TEST(ParseVectorTextTest, ReadsCommaSeparatedNumbers) {
  auto vector = ParseVectorText("0.5, -1,2e-3 ,3");
  ASSERT_TRUE(vector.ok()) << vector.status();
  EXPECT_THAT(*vector,
              ElementsAre(FloatEq(0.5f), FloatEq(-1), FloatEq(0.002f), 3));
}

TEST(ParseVectorTextTest, RejectsWhatTheServerWould) {
  EXPECT_EQ(ParseVectorText("").status().message(),
            "--vector: must not be empty");
  EXPECT_EQ(ParseVectorText("1,,2").status().message(),
            "--vector: value 2 (\"\") is not a finite number");
  EXPECT_EQ(ParseVectorText("1,x").status().message(),
            "--vector: value 2 (\"x\") is not a finite number");
  EXPECT_EQ(ParseVectorText("1,nan").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseVectorText("1e39").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ParseVectorText("0,0,0").status().message()),
              StartsWith("--vector: the zero vector"));
}

TEST(ParseVectorJsonTest, ReadsAnArrayOfNumbers) {
  auto vector = ParseVectorJson(" [0.5, -1, 2e-3, 3]\n");
  ASSERT_TRUE(vector.ok()) << vector.status();
  EXPECT_THAT(*vector,
              ElementsAre(FloatEq(0.5f), FloatEq(-1), FloatEq(0.002f), 3));
}

TEST(ParseVectorJsonTest, RejectsAnythingElse) {
  EXPECT_THAT(std::string(ParseVectorJson("[1, 2").status().message()),
              StartsWith("--vector_file: not valid JSON"));
  EXPECT_EQ(ParseVectorJson(R"({"embedding": [1]})").status().message(),
            "--vector_file: expected an array of numbers, got object");
  EXPECT_EQ(ParseVectorJson(R"([1, "2"])").status().message(),
            "--vector_file: value 2 (\"2\") is not a finite number");
  EXPECT_EQ(ParseVectorJson("[1, 1e300]").status().message(),
            "--vector_file: value 2 (1e+300) is not a finite number");
  EXPECT_EQ(ParseVectorJson("[]").status().message(),
            "--vector_file: must not be empty");
  EXPECT_THAT(std::string(ParseVectorJson("[0, 0]").status().message()),
              StartsWith("--vector_file: the zero vector"));
}

}  // namespace
}  // namespace related::cli
