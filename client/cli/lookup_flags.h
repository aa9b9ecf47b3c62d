// Parsing of the flags that `related`, `batch` and `search` share: the
// editorial ranking policy (--sections, --max_age, --debug, ...) and, for
// `search`, the query vector. Pure functions of the flags' text, so that
// they are tested without a server; main.cc defines the flags and passes on
// the ones given.
//
// Only syntax is checked here. Value ranges (a diversity above 1, an
// inverted date range, ...) are the server's to judge: it answers
// INVALID_ARGUMENT naming the "policy.<field>", from one set of rules.
#ifndef RELATED_CLIENT_CLI_LOOKUP_FLAGS_H_
#define RELATED_CLIENT_CLI_LOOKUP_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/related_client.h"

namespace related::cli {

// The policy flags, by name without "--". Each maps to one control of
// client::RankingPolicy ("diversity" to diversity_lambda, "require" to
// required_attributes, the others to the control of the same name).
inline constexpr absl::string_view kPolicyFlags[] = {
    "sections",  "exclude_sections",  "languages", "same_language",
    "max_age",   "published_after",   "published_before",
    "require",   "min_score",         "duplicate_threshold",
    "diversity", "recency_half_life", "recency_weight",
    "now",       "candidates",        "debug"};

// Builds the policy from the policy flags that were given: `given` maps a
// flag's name (one of kPolicyFlags) to its text as typed. A flag not in
// `given` leaves its control unset, so the server's default applies.
// Formats:
//   sections, exclude_sections, languages  comma-separated, e.g. "world,sport"
//   require            comma-separated key=value pairs, e.g. "type=news"
//                      (so a value cannot contain a comma)
//   max_age, recency_half_life            a duration, e.g. "90m", "48h"
//   published_after, published_before, now  RFC 3339, e.g.
//                                         "2026-11-28T09:30:00Z"
//   min_score, duplicate_threshold, diversity, recency_weight  a number
//   candidates         a non-negative integer (0: the server's default)
//   debug, same_language  "true" or "false"
// Spaces around list items, keys and values are ignored.
// INVALID_ARGUMENT "--<flag>: <what is wrong>" for text that does not parse,
// an unknown flag name, or a key given twice in --require.
absl::StatusOr<client::RankingPolicy> ParsePolicyFlags(
    const std::map<std::string, std::string>& given);

// --vector: comma-separated numbers, e.g. "0.12,-0.5,0.3". INVALID_ARGUMENT
// "--vector: ..." if a value is not a finite float, or the vector is empty
// or all zeros. (The server checks the dimension.)
absl::StatusOr<std::vector<float>> ParseVectorText(absl::string_view text);

// The content of a --vector_file: a JSON array of numbers, e.g.
// "[0.12, -0.5, 0.3]". Errors as ParseVectorText, naming "--vector_file".
absl::StatusOr<std::vector<float>> ParseVectorJson(absl::string_view json);

}  // namespace related::cli

#endif  // RELATED_CLIENT_CLI_LOOKUP_FLAGS_H_
