#include "client/cli/output.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "client/cli/jsonl_import.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace related::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// nlohmann refuses to serialise a string that is not valid UTF-8: an oracle
// independent of the code under test.
bool IsValidUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

TEST(SingleLineTest, ReplacesLineBreaksControlsAndMalformedUtf8) {
  EXPECT_EQ(SingleLine("a\tb\nc\rd"), "a b c d");
  EXPECT_EQ(SingleLine("a\x01z"), "a\uFFFDz");
  EXPECT_EQ(SingleLine("caf\xC3"), "caf\uFFFD");      // truncated sequence
  EXPECT_EQ(SingleLine("\xC0\xAF"), "\uFFFD\uFFFD");  // overlong '/'
  EXPECT_EQ(SingleLine("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate
  EXPECT_EQ(SingleLine("Ünïcödé 東京 🚀"), "Ünïcödé 東京 🚀");
}

TEST(DisplayWidthTest, CountsColumnsNotBytes) {
  EXPECT_EQ(DisplayWidth("abc"), 3);
  EXPECT_EQ(DisplayWidth("Ünïcödé"), 7);
  EXPECT_EQ(DisplayWidth("e\u0301"), 1);  // e + combining acute accent
  EXPECT_EQ(DisplayWidth("東京タワー"), 10);
  EXPECT_EQ(DisplayWidth("🚀"), 2);
}

TEST(TruncateToWidthTest, KeepsShortTextAndCutsLongTextWithEllipsis) {
  EXPECT_EQ(TruncateToWidth("Hello", 5), "Hello");
  EXPECT_EQ(TruncateToWidth("Hello world", 5), "Hell…");
  EXPECT_EQ(TruncateToWidth("Hello", 1), "…");
  EXPECT_EQ(TruncateToWidth("Hello", 0), "");
  EXPECT_EQ(TruncateToWidth("Ünïcödé", 4), "Ünï…");
}

TEST(TruncateToWidthTest, NeverSplitsAWideCharacterAcrossTheLimit) {
  EXPECT_EQ(TruncateToWidth("東京タワー", 5), "東京…");
  EXPECT_EQ(TruncateToWidth("東京タワー", 4), "東…");
  EXPECT_EQ(TruncateToWidth("ab東京", 3), "ab…");
}

TEST(TruncateToWidthTest, KeepsCombiningMarksWithTheirBase) {
  // "e" + U+0301 takes one column; the accent must not be left dangling.
  EXPECT_EQ(TruncateToWidth("e\u0301e\u0301e\u0301", 3),
            "e\u0301e\u0301e\u0301");
  EXPECT_EQ(TruncateToWidth("e\u0301e\u0301e\u0301", 2), "e\u0301…");
}

TEST(TruncateToWidthTest, AnyWidthGivesValidUtf8WithinTheLimit) {
  // 1-, 2-, 3- and 4-byte sequences, wide characters and a combining mark.
  const std::string text =
      "aé€𝄞東京🚀 Zoë — naïve e\u0301 ок ☃ 日本語のニュース";
  ASSERT_TRUE(IsValidUtf8(text));
  for (int width = 0; width <= DisplayWidth(text) + 1; ++width) {
    const std::string cut = TruncateToWidth(text, width);
    EXPECT_TRUE(IsValidUtf8(cut)) << "width " << width;
    EXPECT_LE(DisplayWidth(cut), width) << cut;
    std::string kept = cut;
    if (absl::EndsWith(kept, "…")) kept.resize(kept.size() - 3);
    EXPECT_THAT(text, StartsWith(kept)) << "width " << width;
  }
}

TEST(FormatTimestampTest, Rfc3339InUtc) {
  const absl::Time t = absl::FromCivil(
      absl::CivilSecond(2026, 11, 28, 9, 30, 0), absl::UTCTimeZone());
  EXPECT_EQ(FormatTimestamp(t), "2026-11-28T09:30:00Z");
  EXPECT_EQ(FormatTimestamp(t + absl::Milliseconds(250)),
            "2026-11-28T09:30:00.25Z");
  EXPECT_EQ(FormatTimestamp(std::nullopt), "");
}

client::RelatedItem Item(std::string id, float score, std::string title,
                         std::string section) {
  client::RelatedItem item;
  item.article_id = std::move(id);
  item.score = score;
  item.metadata.title = std::move(title);
  item.metadata.section = std::move(section);
  return item;
}

// The display column where `needle` starts in `line`.
int ColumnOf(const std::string& line, const std::string& needle) {
  const size_t at = line.find(needle);
  EXPECT_NE(at, std::string::npos) << needle << " not in: " << line;
  return DisplayWidth(line.substr(0, at));
}

TEST(RelatedTableTest, AlignsColumnsAndCutsLongTitlesToTheTerminal) {
  const std::vector<client::RelatedItem> items = {
      Item("2026/a", 0.98765f, "Short", "world"),
      Item("2026/économie/東京", 0.5f,
           "東京タワー: a very long headline that cannot fit in a narrow "
           "terminal window",
           "économie"),
      Item("c", -0.25f,
           "Ünïcödé headline, also quite long for the space it gets", "sport"),
  };
  const std::vector<std::string> lines = Lines(RelatedTable(items, 70));
  ASSERT_EQ(lines.size(), 4u);
  // A negative score makes the score column 6 wide.
  EXPECT_THAT(lines[0], StartsWith("rank   score  id"));
  EXPECT_THAT(lines[1], StartsWith("   1   0.988  2026/a"));
  EXPECT_THAT(lines[2], HasSubstr("0.500"));
  EXPECT_THAT(lines[3], HasSubstr("-0.250"));
  // The ID column is never cut; the section column starts at the same
  // display column on every line.
  EXPECT_THAT(lines[2], HasSubstr("2026/économie/東京  "));
  const int section_column = ColumnOf(lines[0], "section");
  EXPECT_EQ(ColumnOf(lines[1], "world"), section_column);
  EXPECT_EQ(ColumnOf(lines[2], "  économie") + 2, section_column);
  EXPECT_EQ(ColumnOf(lines[3], "sport"), section_column);
  for (const std::string& line : lines) {
    EXPECT_TRUE(IsValidUtf8(line)) << line;
    EXPECT_LE(DisplayWidth(line), 70) << line;
  }
  EXPECT_THAT(lines[2], HasSubstr("東京タワー: a very"));
  EXPECT_THAT(lines[2], HasSubstr("…"));
}

TEST(RelatedTableTest, KeepsSomeOfTheTitleInANarrowTerminal) {
  const std::string title = "A headline of more than twenty columns";
  const std::vector<std::string> lines = Lines(RelatedTable(
      {Item("a-rather-long-article-id-that-fills-the-line", 0.5f, title, "s")},
      40));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[1], HasSubstr("A headline of more…"));
}

TEST(RelatedTableTest, CutsLongSectionsToSixteenColumns) {
  const std::vector<std::string> lines = Lines(
      RelatedTable({Item("a", 1, "t", "a-section-name-far-too-long")}, 0));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[1], EndsWith("  a-section-name-…"));
}

TEST(RelatedTableTest, NoLimitKeepsWholeTitles) {
  const std::string title(200, 'x');
  const std::string table = RelatedTable({Item("a", 1, title, "s")}, 0);
  EXPECT_THAT(table, HasSubstr(title));
}

TEST(RelatedTableTest, KeepsATableOnOneLinePerRow) {
  const std::vector<std::string> lines =
      Lines(RelatedTable({Item("a", 1, "two\nlines", "s\tt")}, 80));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[1], HasSubstr("two lines"));
}

TEST(RelatedTableTest, SaysWhenThereIsNothing) {
  EXPECT_EQ(RelatedTable({}, 80), "no related articles\n");
}

TEST(RelatedJsonTest, HasTheDocumentedKeysInOrder) {
  client::RelatedItem item = Item("a", 0.25f, "T", "world");
  item.metadata.attributes = {{"author", "Ana"}};
  const nlohmann::ordered_json json =
      RelatedJson({item, Item("b", 0.1f, "U", "")});
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(DumpJson(json[0]),
            R"({"rank":1,"score":0.25,"article_id":"a","title":"T","url":"",)"
            R"("section":"world","language":"","published_at":null,)"
            R"("attributes":{"author":"Ana"}})");
  EXPECT_EQ(json[1]["rank"], 2);
  // The float's shortest form, not the double it widens to.
  EXPECT_EQ(DumpJson(json[1]["score"]), "0.1");
}

TEST(DumpJsonTest, ReplacesInvalidUtf8InsteadOfThrowing) {
  EXPECT_EQ(DumpJson(nlohmann::ordered_json("caf\xC3")), "\"caf\uFFFD\"");
}

TEST(ArticleJsonTest, RoundTripsThroughTheImportFormat) {
  client::Article article;
  article.id = "2026/économie/東京";
  article.embedding = {0.1f, -0.2f, 0.3f};
  article.metadata = {"Ünïcödé 🚀",
                      "https://x.test/a",
                      "économie",
                      "fr",
                      absl::FromUnixSeconds(1764322200) + absl::Milliseconds(5),
                      {{"author", "Zoë"}}};
  auto parsed =
      ParseArticleLine(DumpJson(ArticleJson(article)), {.dimension = 3});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->id, article.id);
  EXPECT_EQ(parsed->embedding, article.embedding);
  EXPECT_EQ(parsed->metadata.title, article.metadata.title);
  EXPECT_EQ(parsed->metadata.url, article.metadata.url);
  EXPECT_EQ(parsed->metadata.section, article.metadata.section);
  EXPECT_EQ(parsed->metadata.language, article.metadata.language);
  EXPECT_EQ(parsed->metadata.published_at, article.metadata.published_at);
  EXPECT_EQ(parsed->metadata.attributes, article.metadata.attributes);
}

TEST(ArticleJsonTest, LeavesOutAnEmbeddingTheServerDidNotSend) {
  client::Article article;
  article.id = "a";
  EXPECT_FALSE(ArticleJson(article).contains("embedding"));
}

TEST(ArticleLinesTest, OneKeyValueLinePerField) {
  client::Article article;
  article.id = "a";
  article.metadata.title = "multi\nline";
  article.metadata.attributes = {{"author", "Ana"}};
  article.embedding = {0.5f, 0.25f};
  EXPECT_EQ(ArticleLines(article),
            "id: a\ntitle: multi line\nurl: \nsection: \nlanguage: \n"
            "published_at: unknown\nattributes.author: Ana\nembedding: [0.5, "
            "0.25]\n");
}

TEST(StatsLinesTest, NamesEveryField) {
  client::Stats stats{120,  64,  "exact",    30720, 10, 100, 1000,
                      256,  65536, true,    4096,  0,  "sif-0123", 65536,
                      7,    1000};
  EXPECT_THAT(
      Lines(StatsLines(stats)),
      ElementsAre(
          "article_count: 120", "dimension: 64", "index_kind: exact",
          "index_memory_bytes: 30720", "default_limit: 10", "max_limit: 100",
          "max_batch_size: 1000", "max_id_bytes: 256",
          "max_metadata_bytes: 65536", "related_lists_precomputed: true",
          "related_lists_memory_bytes: 4096", "related_lists_stale: 0",
          "embedder_model: sif-0123", "max_text_bytes: 65536",
          "held_text_articles: 7", "embedder_train_after: 1000"));
  EXPECT_EQ(StatsJson(stats)["related_lists_memory_bytes"], 4096);
  EXPECT_EQ(StatsJson(stats)["related_lists_precomputed"], true);
  EXPECT_EQ(StatsJson(stats)["article_count"], 120);
  EXPECT_EQ(StatsJson(stats)["held_text_articles"], 7);
}

client::RankingDebug SampleDebug() {
  client::RankingDebug debug;
  client::RankingPolicy& p = debug.applied_policy;
  p.sections = {"world", "sport"};
  p.languages = {"en"};
  p.max_age = absl::Hours(48);
  p.required_attributes = {{"type", "news"}};
  p.duplicate_threshold = 0.95f;
  p.diversity_lambda = 0.7f;
  p.recency_weight = 0;
  p.now = absl::FromUnixSeconds(1764322200);  // 2025-11-28T09:30:00Z
  p.debug = true;
  debug.removed_by_section = 97;
  debug.removed_by_date = 3;
  debug.removed_as_near_duplicate = 1;
  debug.candidates_considered = 19;
  debug.search_rounds = 2;
  return debug;
}

TEST(DebugLinesTest, ShowsTheAppliedControlsThenEveryCount) {
  EXPECT_THAT(
      Lines(DebugLines(SampleDebug())),
      ElementsAre("applied_policy.sections: world,sport",
                  "applied_policy.languages: en", "applied_policy.max_age: 48h",
                  "applied_policy.required_attributes.type: news",
                  "applied_policy.duplicate_threshold: 0.95",
                  "applied_policy.diversity_lambda: 0.7",
                  "applied_policy.recency_weight: 0",
                  "applied_policy.now: 2025-11-28T09:30:00Z",
                  "removed_by_section: 97", "removed_by_language: 0",
                  "removed_by_date: 3", "removed_by_attributes: 0",
                  "removed_by_exclude_ids: 0", "removed_by_min_score: 0",
                  "removed_as_near_duplicate: 1", "candidates_considered: 19",
                  "search_rounds: 2", "precomputed: false"));
}

TEST(DebugLinesTest, KeepsServerTextOnOneLine) {
  client::RankingDebug debug;
  debug.applied_policy.sections = {"a\nb"};
  debug.applied_policy.required_attributes = {{"k\n", "v\tw"}};
  debug.applied_policy.candidates = 80;
  const std::string text = DebugLines(debug);
  EXPECT_THAT(text, HasSubstr("applied_policy.sections: a b\n"));
  EXPECT_THAT(text, HasSubstr("applied_policy.required_attributes.k : v w\n"));
  EXPECT_THAT(text, HasSubstr("applied_policy.candidates: 80\n"));
}

TEST(DebugJsonTest, HasEveryControlAndCount) {
  const nlohmann::ordered_json json = DebugJson(SampleDebug());
  EXPECT_EQ(DumpJson(json["applied_policy"]),
            R"({"sections":["world","sport"],"exclude_sections":[],)"
            R"("languages":["en"],"same_language":null,"published_after":null,)"
            R"("published_before":null,"max_age":"48h",)"
            R"("required_attributes":{"type":"news"},"min_score":null,)"
            R"("duplicate_threshold":0.95,"diversity_lambda":0.7,)"
            R"("recency_half_life":null,"recency_weight":0.0,)"
            R"("now":"2025-11-28T09:30:00Z","candidates":0})");
  std::vector<std::string> keys;
  for (const auto& [key, value] : json.items()) keys.push_back(key);
  EXPECT_THAT(
      keys,
      ElementsAre("applied_policy", "removed_by_section", "removed_by_language",
                  "removed_by_date", "removed_by_attributes",
                  "removed_by_exclude_ids", "removed_by_min_score",
                  "removed_as_near_duplicate", "candidates_considered",
                  "search_rounds", "precomputed"));
  EXPECT_EQ(json["precomputed"], false);
  EXPECT_EQ(json["removed_by_section"], 97);
  EXPECT_EQ(json["removed_as_near_duplicate"], 1);
  EXPECT_EQ(json["search_rounds"], 2);
}

}  // namespace
}  // namespace related::cli
