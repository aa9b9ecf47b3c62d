#include "client/cli/jsonl_import.h"

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
using ::testing::Pair;
using ::testing::StartsWith;

TEST(ParseArticleLineTest, ReadsEveryField) {
  auto article = ParseArticleLine(
      R"({"id": "2026/11/28/world/a", "title": "A story", "url": "https://x.test/a",)"
      R"( "section": "world", "language": "pt-BR", "published_at": "2026-11-28T09:30:00Z",)"
      R"( "embedding": [1, -0.5, 2.25], "attributes": {"author": "Ana", "paywall": "no"}})",
      {.dimension = 3, .max_id_bytes = 256});
  ASSERT_TRUE(article.ok()) << article.status();
  EXPECT_EQ(article->id, "2026/11/28/world/a");
  EXPECT_THAT(article->embedding,
              ElementsAre(FloatEq(1), FloatEq(-0.5), FloatEq(2.25)));
  const client::Metadata& m = article->metadata;
  EXPECT_EQ(m.title, "A story");
  EXPECT_EQ(m.url, "https://x.test/a");
  EXPECT_EQ(m.section, "world");
  EXPECT_EQ(m.language, "pt-BR");
  EXPECT_EQ(m.published_at, Utc(2026, 11, 28, 9, 30, 0));
  EXPECT_THAT(m.attributes,
              ElementsAre(Pair("author", "Ana"), Pair("paywall", "no")));
}

TEST(ParseArticleLineTest, OnlyIdAndEmbeddingAreRequired) {
  auto article = ParseArticleLine(R"({"id": "a", "embedding": [1]})", {});
  ASSERT_TRUE(article.ok()) << article.status();
  EXPECT_EQ(article->metadata.title, "");
  EXPECT_EQ(article->metadata.published_at, std::nullopt);
  EXPECT_TRUE(article->metadata.attributes.empty());
}

TEST(ParseArticleLineTest, NullCountsAsAbsentForOptionalFields) {
  auto article = ParseArticleLine(
      R"({"id": "a", "embedding": [1], "title": null, "published_at": null,)"
      R"( "attributes": null})",
      {});
  ASSERT_TRUE(article.ok()) << article.status();
  EXPECT_EQ(article->metadata.published_at, std::nullopt);
}

TEST(ParseArticleLineTest, IgnoresUnknownKeysAndCarriageReturn) {
  auto article = ParseArticleLine(
      "{\"id\": \"a\", \"embedding\": [1], \"body\": {\"x\": [1, 2]}, "
      "\"score\": 3}\r",
      {});
  ASSERT_TRUE(article.ok()) << article.status();
  EXPECT_EQ(article->id, "a");
}

TEST(ParseArticleLineTest, TextTakesThePlaceOfTheEmbedding) {
  auto article =
      ParseArticleLine(R"({"id": "a", "title": "T", "text": "Body"})", {});
  ASSERT_TRUE(article.ok()) << article.status();
  EXPECT_EQ(article->text, "Body");
  EXPECT_TRUE(article->embedding.empty());
  // "body" is read as the text when there is no "text".
  auto body = ParseArticleLine(R"({"id": "b", "body": "From a dump"})", {});
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->text, "From a dump");
  // An embedding given with text is still checked.
  auto both = ParseArticleLine(
      R"({"id": "c", "text": "x", "embedding": [1, 2]})", {3, 0});
  EXPECT_FALSE(both.ok());
}

TEST(ParseArticleLineTest, DimensionZeroAcceptsAnyLength) {
  EXPECT_TRUE(
      ParseArticleLine(R"({"id": "a", "embedding": [1, 2, 3, 4, 5]})", {})
          .ok());
}

TEST(ParseArticleLineTest, KeepsUnicodeIdsAndTitles) {
  auto article = ParseArticleLine(
      R"({"id": "2026/économie/東京-🚀", "title": "Ünïcödé — 東京タワー \ud83d\ude80",)"
      R"( "embedding": [1]})",
      {});
  ASSERT_TRUE(article.ok()) << article.status();
  EXPECT_EQ(article->id, "2026/économie/東京-🚀");
  EXPECT_EQ(article->metadata.title, "Ünïcödé — 東京タワー 🚀");
}

TEST(ParseArticleLineTest, PublishedAtAsRfc3339WithOffsetAndFraction) {
  auto article = ParseArticleLine(
      R"({"id": "a", "embedding": [1], "published_at": "2026-11-28T11:30:00.25+02:00"})",
      {});
  ASSERT_TRUE(article.ok()) << article.status();
  EXPECT_EQ(article->metadata.published_at,
            Utc(2026, 11, 28, 9, 30, 0) + absl::Milliseconds(250));
}

TEST(ParseArticleLineTest, PublishedAtAsUnixSeconds) {
  auto article = ParseArticleLine(
      R"({"id": "a", "embedding": [1], "published_at": 1764322200})", {});
  ASSERT_TRUE(article.ok()) << article.status();
  EXPECT_EQ(article->metadata.published_at, Utc(2025, 11, 28, 9, 30, 0));

  auto before_1970 = ParseArticleLine(
      R"({"id": "a", "embedding": [1], "published_at": -86400})", {});
  ASSERT_TRUE(before_1970.ok()) << before_1970.status();
  EXPECT_EQ(before_1970->metadata.published_at, Utc(1969, 12, 31, 0, 0, 0));
}

TEST(IsBlankLineTest, OnlyWhitespaceIsBlank) {
  EXPECT_TRUE(IsBlankLine(""));
  EXPECT_TRUE(IsBlankLine(" \t\r"));
  EXPECT_FALSE(IsBlankLine(" {}"));
}

struct BadLine {
  std::string name;
  std::string line;
  // The whole message, or its start when `prefix_only`.
  std::string error;
  bool prefix_only = false;
};

class BadLineTest : public ::testing::TestWithParam<BadLine> {};

TEST_P(BadLineTest, NamesTheFieldAndWhatIsWrong) {
  const BadLine& bad = GetParam();
  auto article =
      ParseArticleLine(bad.line, {.dimension = 3, .max_id_bytes = 8});
  ASSERT_FALSE(article.ok()) << "accepted: " << bad.line;
  EXPECT_EQ(article.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(article.status().message());
  if (bad.prefix_only) {
    EXPECT_THAT(message, StartsWith(bad.error));
  } else {
    EXPECT_EQ(message, bad.error);
  }
}

// A valid line is {"id": "a", "embedding": [1, 2, 3]}; each case breaks one
// thing.
INSTANTIATE_TEST_SUITE_P(
    AllFields, BadLineTest,
    ::testing::Values(
        BadLine{"NotJson", "not json", "json: not valid JSON: column 2", true},
        BadLine{"TruncatedJson", R"({"id": "a", "embedding": [1, 2)",
                "json: not valid JSON: ", true},
        BadLine{"InvalidUtf8", "{\"id\": \"a\xC3\", \"embedding\": [1, 2, 3]}",
                "json: not valid JSON: ", true},
        BadLine{"NotAnObject", "[1, 2, 3]",
                "json: expected an object, got array"},
        BadLine{"IdMissing", R"({"embedding": [1, 2, 3]})", "id: missing"},
        BadLine{"IdNull", R"({"id": null, "embedding": [1, 2, 3]})",
                "id: expected a string, got null"},
        BadLine{"IdNumber", R"({"id": 42, "embedding": [1, 2, 3]})",
                "id: expected a string, got number"},
        BadLine{"IdEmpty", R"({"id": "", "embedding": [1, 2, 3]})",
                "id: must not be empty"},
        BadLine{"IdControlCharacter",
                R"({"id": "a\nb", "embedding": [1, 2, 3]})",
                "id: control character at byte 1"},
        BadLine{"IdTooLong", R"({"id": "abcdefghi", "embedding": [1, 2, 3]})",
                "id: 9 bytes, longer than the limit of 8 bytes"},
        BadLine{"EmbeddingMissing", R"({"id": "a"})",
                "embedding: missing (give an embedding, or text for the server "
                "to embed)"},
        BadLine{"EmbeddingNotArray", R"({"id": "a", "embedding": "1,2,3"})",
                "embedding: expected an array of numbers, got string"},
        BadLine{"EmbeddingEmpty", R"({"id": "a", "embedding": []})",
                "embedding: must not be empty"},
        BadLine{"EmbeddingWrongDimension",
                R"({"id": "a", "embedding": [1, 2]})",
                "embedding: expected 3 values, got 2"},
        BadLine{"EmbeddingString", R"({"id": "a", "embedding": [1, "2", 3]})",
                "embedding[1]: expected a number, got string"},
        BadLine{"EmbeddingBoolean", R"({"id": "a", "embedding": [1, 2, true]})",
                "embedding[2]: expected a number, got boolean"},
        BadLine{"EmbeddingBeyondDouble",
                R"({"id": "a", "embedding": [1, 2, 1e999]})",
                "json: number overflow parsing '1e999'"},
        BadLine{"EmbeddingBeyondFloat",
                R"({"id": "a", "embedding": [1e39, 2, 3]})",
                "embedding[0]: 1e+39 is outside the float range"},
        BadLine{"EmbeddingAllZero", R"({"id": "a", "embedding": [0, 0.0, -0]})",
                "embedding: the zero vector", true},
        BadLine{"EmbeddingUnderflowsToZero",
                R"({"id": "a", "embedding": [1e-46, 0, 0]})",
                "embedding: the zero vector", true},
        BadLine{
            "PublishedAtWords",
            R"({"id": "a", "embedding": [1, 2, 3], "published_at": "yesterday"})",
            "published_at: cannot parse \"yesterday\"", true},
        BadLine{
            "PublishedAtDateOnly",
            R"({"id": "a", "embedding": [1, 2, 3], "published_at": "2026-11-28"})",
            "published_at: cannot parse \"2026-11-28\"", true},
        BadLine{"PublishedAtNoOffset",
                R"({"id": "a", "embedding": [1, 2, 3],)"
                R"( "published_at": "2026-11-28T09:30:00"})",
                "published_at: cannot parse \"2026-11-28T09:30:00\"", true},
        BadLine{
            "PublishedAtInfinite",
            R"({"id": "a", "embedding": [1, 2, 3], "published_at": "infinite-future"})",
            "published_at: outside the years 0001 to 9999"},
        BadLine{"PublishedAtFractionalSeconds",
                R"({"id": "a", "embedding": [1, 2, 3], "published_at": 1.5})",
                "published_at: expected an RFC 3339 timestamp such as "
                "\"2026-11-28T09:30:00Z\" or integer unix seconds, got 1.5"},
        BadLine{"PublishedAtBoolean",
                R"({"id": "a", "embedding": [1, 2, 3], "published_at": true})",
                "published_at: expected an RFC 3339", true},
        BadLine{
            "PublishedAtAfter9999",
            R"({"id": "a", "embedding": [1, 2, 3], "published_at": 253402300800})",
            "published_at: 253402300800 is after the year 9999"},
        BadLine{
            "PublishedAtBefore0001",
            R"({"id": "a", "embedding": [1, 2, 3], "published_at": -62135596801})",
            "published_at: outside the years 0001 to 9999"},
        BadLine{"TitleNumber",
                R"({"id": "a", "embedding": [1, 2, 3], "title": 7})",
                "title: expected a string, got number"},
        BadLine{"UrlArray", R"({"id": "a", "embedding": [1, 2, 3], "url": []})",
                "url: expected a string, got array"},
        BadLine{"SectionObject",
                R"({"id": "a", "embedding": [1, 2, 3], "section": {}})",
                "section: expected a string, got object"},
        BadLine{"LanguageBoolean",
                R"({"id": "a", "embedding": [1, 2, 3], "language": false})",
                "language: expected a string, got boolean"},
        BadLine{"AttributesNotObject",
                R"({"id": "a", "embedding": [1, 2, 3], "attributes": ["x"]})",
                "attributes: expected an object of string values, got array"},
        BadLine{
            "AttributeNotString",
            R"({"id": "a", "embedding": [1, 2, 3], "attributes": {"ok": "1", "n": 2}})",
            "attributes.n: expected a string, got number"}),
    [](const ::testing::TestParamInfo<BadLine>& info) {
      return info.param.name;
    });

TEST(ParseArticleLineTest, ReportsTheFirstBadFieldInAFixedOrder) {
  auto article = ParseArticleLine(R"({"id": "", "embedding": [], "title": 1})",
                                  {.dimension = 3});
  ASSERT_FALSE(article.ok());
  EXPECT_THAT(std::string(article.status().message()), HasSubstr("id: "));
}

}  // namespace
}  // namespace related::cli
