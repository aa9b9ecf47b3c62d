// How related-cli shows results: aligned tables and "key: value" lines for
// people, JSON for scripts (--json). Pure functions from client types to
// text, so that they can be tested without a server.
#ifndef RELATED_CLIENT_CLI_OUTPUT_H_
#define RELATED_CLIENT_CLI_OUTPUT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/related_client.h"
#include "nlohmann/json.hpp"

namespace related::cli {

// --- Terminal text -----------------------------------------------------------

// Returns `text` fit for one line of a terminal: tabs and line breaks become
// spaces, other control characters and malformed UTF-8 become U+FFFD. Titles
// and attributes come from the site's CMS and may contain anything.
std::string SingleLine(absl::string_view text);

// The number of terminal columns `text` takes, approximately as wcwidth(3)
// counts them: East Asian wide characters and most emoji take 2, combining
// marks 0, everything else 1. Malformed UTF-8 counts 1 per byte.
int DisplayWidth(absl::string_view text);

// SingleLine(text), cut to at most `max_columns` columns, ending in "…" when
// something was cut. Cuts only between code points, so the result is always
// valid UTF-8. A `max_columns` below 1 gives "".
std::string TruncateToWidth(absl::string_view text, int max_columns);

// RFC 3339 in UTC with a "Z" and as many fractional digits as needed, e.g.
// "2026-11-28T09:30:00Z"; nullopt gives "".
std::string FormatTimestamp(const std::optional<absl::Time>& time);

// --- Human-readable output ---------------------------------------------------

// The related-articles table: columns rank, score (3 decimals), id, title,
// section, aligned, ending with a newline. IDs are never cut (they are what
// one copies into the next command); titles are cut so that a row fits in
// `terminal_columns`, but keep at least 20 columns. 0 means no limit.
std::string RelatedTable(const std::vector<client::RelatedItem>& items,
                         int terminal_columns);

// One "key: value" line per field: id, title, url, section, language,
// published_at, one "attributes.<key>" line per attribute, and "embedding"
// when the article carries one.
std::string ArticleLines(const client::Article& article);

// One "key: value" line per field of Stats.
std::string StatsLines(const client::Stats& stats);

// Why a box looks as it does, printed after its table: one
// "applied_policy.<control>: value" line per control the server applied
// (lists comma-separated, one "applied_policy.required_attributes.<key>"
// line per attribute, durations as "48h", times in RFC 3339), then one
// "key: value" line per count (removed_by_section, ..., search_rounds).
std::string DebugLines(const client::RankingDebug& debug);

// --- JSON --------------------------------------------------------------------

// {"rank", "score", "article_id", "title", "url", "section", "language",
//  "published_at" (RFC 3339 or null), "attributes"} per item, rank from 1.
nlohmann::ordered_json RelatedJson(
    const std::vector<client::RelatedItem>& items);

// The import format's keys (see jsonl_import.h), so that the output of
// `get --json --embedding` can be imported again; "embedding" only when the
// article carries one.
nlohmann::ordered_json ArticleJson(const client::Article& article);

nlohmann::ordered_json StatsJson(const client::Stats& stats);

// {"applied_policy": {every control: its value, null when unset; durations
// as "48h", times in RFC 3339}, "removed_by_section": N, ...,
// "search_rounds": N}.
nlohmann::ordered_json DebugJson(const client::RankingDebug& debug);

// One line of JSON. Never throws: invalid UTF-8 (which the server should
// never send) is replaced by U+FFFD.
std::string DumpJson(const nlohmann::ordered_json& json);

}  // namespace related::cli

#endif  // RELATED_CLIENT_CLI_OUTPUT_H_
