#include "client/cli/output.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace related::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr absl::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026, 1 column

// Decodes the UTF-8 sequence at the start of `s` (non-empty) into `code_point`
// and returns its length in bytes, or returns 0 if it is malformed (bad lead
// or continuation byte, truncated, overlong, surrogate, beyond U+10FFFF).
size_t DecodeUtf8(absl::string_view s, char32_t& code_point) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(0);
  size_t length;
  char32_t cp;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    cp = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    cp = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    cp = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  constexpr char32_t kSmallestOfLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kSmallestOfLength[length] || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  code_point = cp;
  return length;
}

// Columns one code point takes. A short table rather than wcwidth(3), whose
// answer depends on the process locale; it covers the scripts news titles
// use, and errs by a column at worst.
int CodePointWidth(char32_t cp) {
  struct Range {
    char32_t first, last;
  };
  static constexpr Range kZeroWidth[] = {
      {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},
      {0x064B, 0x065F}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F},
      {0x2060, 0x2064}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
  };
  static constexpr Range kWide[] = {
      {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},
      {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
      {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE30, 0xFE4F},
      {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
      {0x1F680, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x1FA70, 0x1FAFF},
      {0x20000, 0x3FFFD},
  };
  const auto in = [cp](const auto& ranges) {
    return std::any_of(
        std::begin(ranges), std::end(ranges),
        [cp](const Range& r) { return cp >= r.first && cp <= r.last; });
  };
  if (in(kZeroWidth)) return 0;
  if (in(kWide)) return 2;
  return 1;
}

// Shortest decimal that reads back as the same float, as a double: JSON
// numbers are doubles, and widening 0.1f prints as 0.10000000149011612.
double FloatForJson(float value) {
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  double result = value;
  if (error == std::errc()) std::from_chars(buffer, end, result);
  return result;
}

std::string FloatText(float value) {
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (error != std::errc()) return absl::StrCat(value);
  return std::string(buffer, end);
}

Json TimeJson(const std::optional<absl::Time>& time) {
  if (!time.has_value()) return nullptr;
  return FormatTimestamp(time);
}

Json DurationJson(const std::optional<absl::Duration>& duration) {
  if (!duration.has_value()) return nullptr;
  return absl::FormatDuration(*duration);
}

Json FloatJson(const std::optional<float>& value) {
  if (!value.has_value()) return nullptr;
  return FloatForJson(*value);
}

// The counts of RankingDebug, in the proto's order.
std::vector<std::pair<const char*, int64_t>> DebugCounts(
    const client::RankingDebug& debug) {
  return {{"removed_by_section", debug.removed_by_section},
          {"removed_by_language", debug.removed_by_language},
          {"removed_by_date", debug.removed_by_date},
          {"removed_by_attributes", debug.removed_by_attributes},
          {"removed_by_exclude_ids", debug.removed_by_exclude_ids},
          {"removed_by_min_score", debug.removed_by_min_score},
          {"removed_as_near_duplicate", debug.removed_as_near_duplicate},
          {"candidates_considered", debug.candidates_considered},
          {"search_rounds", debug.search_rounds}};
}

std::string PadRight(const std::string& text, int columns) {
  return text + std::string(std::max(0, columns - DisplayWidth(text)), ' ');
}

std::string PadLeft(const std::string& text, int columns) {
  return std::string(std::max(0, columns - DisplayWidth(text)), ' ') + text;
}

void AppendLine(std::string& out, absl::string_view key,
                absl::string_view value) {
  absl::StrAppend(&out, key, ": ", SingleLine(value), "\n");
}

}  // namespace

std::string SingleLine(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    char32_t cp = 0;
    const size_t length = DecodeUtf8(text, cp);
    if (length == 0) {
      out.append(kReplacement.data(), kReplacement.size());
      text.remove_prefix(1);
      continue;
    }
    if (cp == '\t' || cp == '\n' || cp == '\r') {
      out.push_back(' ');
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      out.append(kReplacement.data(), kReplacement.size());
    } else {
      out.append(text.data(), length);
    }
    text.remove_prefix(length);
  }
  return out;
}

int DisplayWidth(absl::string_view text) {
  int width = 0;
  while (!text.empty()) {
    char32_t cp = 0;
    const size_t length = DecodeUtf8(text, cp);
    width += length == 0 ? 1 : CodePointWidth(cp);
    text.remove_prefix(length == 0 ? 1 : length);
  }
  return width;
}

std::string TruncateToWidth(absl::string_view text, int max_columns) {
  if (max_columns < 1) return "";
  std::string clean = SingleLine(text);
  if (DisplayWidth(clean) <= max_columns) return clean;
  // Keep whole code points while they leave room for the ellipsis. Stop at
  // the first one that does not fit: combining marks after it belong to it.
  const int budget = max_columns - 1;
  absl::string_view rest = clean;
  int width = 0;
  size_t kept = 0;
  while (!rest.empty()) {
    char32_t cp = 0;
    const size_t length = DecodeUtf8(rest, cp);  // `clean` is well-formed
    const int w = CodePointWidth(cp);
    if (length == 0 || width + w > budget) break;
    width += w;
    kept += length;
    rest.remove_prefix(length);
  }
  clean.resize(kept);
  // "A headline…" reads better than "A headline …".
  while (!clean.empty() && clean.back() == ' ') clean.pop_back();
  clean.append(kEllipsis.data(), kEllipsis.size());
  return clean;
}

std::string FormatTimestamp(const std::optional<absl::Time>& time) {
  if (!time.has_value()) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", *time, absl::UTCTimeZone());
}

std::string RelatedTable(const std::vector<client::RelatedItem>& items,
                         int terminal_columns) {
  if (items.empty()) return "no related articles\n";
  enum Column { kRank, kScore, kId, kTitle, kSection, kColumns };
  using Row = std::array<std::string, kColumns>;
  constexpr int kGap = 2;
  constexpr int kMinTitleColumns = 20;
  constexpr int kMaxSectionColumns = 16;

  std::vector<Row> rows = {{"rank", "score", "id", "title", "section"}};
  for (size_t i = 0; i < items.size(); ++i) {
    const client::RelatedItem& item = items[i];
    rows.push_back({absl::StrCat(i + 1), absl::StrFormat("%.3f", item.score),
                    SingleLine(item.article_id),
                    SingleLine(item.metadata.title),
                    SingleLine(item.metadata.section)});
  }
  std::array<int, kColumns> widths = {};
  for (const Row& row : rows) {
    for (int c = 0; c < kColumns; ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  widths[kSection] = std::min(widths[kSection], kMaxSectionColumns);
  if (terminal_columns > 0) {
    const int others = widths[kRank] + widths[kScore] + widths[kId] +
                       widths[kSection] + 4 * kGap;
    widths[kTitle] = std::min(
        widths[kTitle], std::max(kMinTitleColumns, terminal_columns - others));
  }

  const std::string gap(kGap, ' ');
  std::string out;
  for (const Row& row : rows) {
    absl::StrAppend(
        &out, PadLeft(row[kRank], widths[kRank]), gap,
        PadLeft(row[kScore], widths[kScore]), gap,
        PadRight(row[kId], widths[kId]), gap,
        PadRight(TruncateToWidth(row[kTitle], widths[kTitle]), widths[kTitle]),
        gap, TruncateToWidth(row[kSection], widths[kSection]), "\n");
  }
  return out;
}

std::string ArticleLines(const client::Article& article) {
  const client::Metadata& m = article.metadata;
  std::string out;
  AppendLine(out, "id", article.id);
  AppendLine(out, "title", m.title);
  AppendLine(out, "url", m.url);
  AppendLine(out, "section", m.section);
  AppendLine(out, "language", m.language);
  AppendLine(
      out, "published_at",
      m.published_at.has_value() ? FormatTimestamp(m.published_at) : "unknown");
  for (const auto& [key, value] : m.attributes) {
    AppendLine(out, absl::StrCat("attributes.", SingleLine(key)), value);
  }
  if (!article.embedding.empty()) {
    absl::StrAppend(
        &out, "embedding: [",
        absl::StrJoin(article.embedding, ", ",
                      [](std::string* s, float v) { s->append(FloatText(v)); }),
        "]\n");
  }
  return out;
}

std::string StatsLines(const client::Stats& stats) {
  return absl::StrCat(
      "article_count: ", stats.article_count, "\n",
      "dimension: ", stats.dimension, "\n",
      "index_kind: ", SingleLine(stats.index_kind), "\n",
      "index_memory_bytes: ", stats.index_memory_bytes, "\n",
      "default_limit: ", stats.default_limit, "\n",
      "max_limit: ", stats.max_limit, "\n",
      "max_batch_size: ", stats.max_batch_size, "\n",
      "max_id_bytes: ", stats.max_id_bytes, "\n",
      "max_metadata_bytes: ", stats.max_metadata_bytes, "\n",
      "related_lists_precomputed: ",
      stats.related_lists_precomputed ? "true" : "false", "\n",
      "related_lists_memory_bytes: ", stats.related_lists_memory_bytes, "\n",
      "related_lists_stale: ", stats.related_lists_stale, "\n",
      "embedder_model: ", SingleLine(stats.embedder_model), "\n",
      "max_text_bytes: ", stats.max_text_bytes, "\n",
      "held_text_articles: ", stats.held_text_articles, "\n",
      "embedder_train_after: ", stats.embedder_train_after, "\n");
}

std::string DebugLines(const client::RankingDebug& debug) {
  const client::RankingPolicy& p = debug.applied_policy;
  std::string out;
  const auto line = [&out](absl::string_view control, absl::string_view value) {
    AppendLine(out, absl::StrCat("applied_policy.", control), value);
  };
  const auto list = [&line](absl::string_view control,
                            const std::vector<std::string>& values) {
    if (!values.empty()) line(control, absl::StrJoin(values, ","));
  };
  const auto timestamp = [&line](absl::string_view control,
                                 const std::optional<absl::Time>& value) {
    if (value.has_value()) line(control, FormatTimestamp(value));
  };
  const auto duration = [&line](absl::string_view control,
                                const std::optional<absl::Duration>& value) {
    if (value.has_value()) line(control, absl::FormatDuration(*value));
  };
  const auto number = [&line](absl::string_view control,
                              const std::optional<float>& value) {
    if (value.has_value()) line(control, FloatText(*value));
  };
  list("sections", p.sections);
  list("exclude_sections", p.exclude_sections);
  list("languages", p.languages);
  if (p.same_language.has_value()) {
    line("same_language", *p.same_language ? "true" : "false");
  }
  timestamp("published_after", p.published_after);
  timestamp("published_before", p.published_before);
  duration("max_age", p.max_age);
  for (const auto& [key, value] : p.required_attributes) {
    line(absl::StrCat("required_attributes.", SingleLine(key)), value);
  }
  number("min_score", p.min_score);
  number("duplicate_threshold", p.duplicate_threshold);
  number("diversity_lambda", p.diversity_lambda);
  duration("recency_half_life", p.recency_half_life);
  number("recency_weight", p.recency_weight);
  timestamp("now", p.now);
  // 0 stands for the server's own rule, max(4 x limit, 50).
  if (p.candidates > 0) line("candidates", absl::StrCat(p.candidates));
  for (const auto& [key, count] : DebugCounts(debug)) {
    absl::StrAppend(&out, key, ": ", count, "\n");
  }
  absl::StrAppend(&out, "precomputed: ", debug.precomputed ? "true" : "false",
                  "\n");
  return out;
}

Json RelatedJson(const std::vector<client::RelatedItem>& items) {
  Json related = Json::array();
  for (size_t i = 0; i < items.size(); ++i) {
    const client::RelatedItem& item = items[i];
    const client::Metadata& m = item.metadata;
    related.push_back({{"rank", i + 1},
                       {"score", FloatForJson(item.score)},
                       {"article_id", item.article_id},
                       {"title", m.title},
                       {"url", m.url},
                       {"section", m.section},
                       {"language", m.language},
                       {"published_at", TimeJson(m.published_at)},
                       {"attributes", m.attributes}});
  }
  return related;
}

Json ArticleJson(const client::Article& article) {
  const client::Metadata& m = article.metadata;
  Json json = {{"id", article.id},
               {"title", m.title},
               {"url", m.url},
               {"section", m.section},
               {"language", m.language},
               {"published_at", TimeJson(m.published_at)},
               {"attributes", m.attributes}};
  if (!article.embedding.empty()) {
    Json embedding = Json::array();
    for (float v : article.embedding) embedding.push_back(FloatForJson(v));
    json["embedding"] = std::move(embedding);
  }
  return json;
}

Json StatsJson(const client::Stats& stats) {
  return {{"article_count", stats.article_count},
          {"dimension", stats.dimension},
          {"index_kind", stats.index_kind},
          {"index_memory_bytes", stats.index_memory_bytes},
          {"default_limit", stats.default_limit},
          {"max_limit", stats.max_limit},
          {"max_batch_size", stats.max_batch_size},
          {"max_id_bytes", stats.max_id_bytes},
          {"max_metadata_bytes", stats.max_metadata_bytes},
          {"related_lists_precomputed", stats.related_lists_precomputed},
          {"related_lists_memory_bytes", stats.related_lists_memory_bytes},
          {"related_lists_stale", stats.related_lists_stale},
          {"embedder_model", stats.embedder_model},
          {"max_text_bytes", stats.max_text_bytes},
          {"held_text_articles", stats.held_text_articles},
          {"embedder_train_after", stats.embedder_train_after}};
}

Json DebugJson(const client::RankingDebug& debug) {
  const client::RankingPolicy& p = debug.applied_policy;
  Json json = {{"applied_policy",
                {{"sections", p.sections},
                 {"exclude_sections", p.exclude_sections},
                 {"languages", p.languages},
                 {"same_language", p.same_language.has_value()
                                       ? Json(*p.same_language)
                                       : Json(nullptr)},
                 {"published_after", TimeJson(p.published_after)},
                 {"published_before", TimeJson(p.published_before)},
                 {"max_age", DurationJson(p.max_age)},
                 {"required_attributes", p.required_attributes},
                 {"min_score", FloatJson(p.min_score)},
                 {"duplicate_threshold", FloatJson(p.duplicate_threshold)},
                 {"diversity_lambda", FloatJson(p.diversity_lambda)},
                 {"recency_half_life", DurationJson(p.recency_half_life)},
                 {"recency_weight", FloatJson(p.recency_weight)},
                 {"now", TimeJson(p.now)},
                 {"candidates", p.candidates}}}};
  for (const auto& [key, count] : DebugCounts(debug)) json[key] = count;
  json["precomputed"] = debug.precomputed;
  return json;
}

std::string DumpJson(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace related::cli
