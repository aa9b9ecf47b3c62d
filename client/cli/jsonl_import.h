// Parsing of related-cli's import format: one article per line of JSON
// (JSONL), e.g.
//
//   {"id": "2026/11/28/world/some-story", "title": "...", "url": "...",
//    "section": "world", "language": "en", "published_at":
//    "2026-11-28T09:30:00Z", "embedding": [0.12, -0.5, ...], "attributes":
//    {"author": "..."}}
//
// Only `id` and `embedding` are required. `published_at` is an RFC 3339
// string or integer unix seconds. A null value counts as absent for the
// optional fields. Keys not listed here are ignored, so exports with extra
// columns import as they are.
#ifndef RELATED_CLIENT_CLI_JSONL_IMPORT_H_
#define RELATED_CLIENT_CLI_JSONL_IMPORT_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/related_client.h"

namespace related::cli {

// What the server will accept, learnt from GetStats before the import, so
// that a bad line is reported on its own instead of failing a whole batch.
struct ImportLimits {
  // Required embedding length; 0 accepts any non-empty length.
  int dimension = 0;
  // Longest ID accepted, in bytes; 0 means no limit.
  int max_id_bytes = 0;
};

// Parses one line (without its line terminator; a trailing '\r' is allowed)
// into an article. Checks what the server would check of one article, so
// that the server does not reject a batch for a line that parsed here: the ID
// is a non-empty string without control characters and within
// `limits.max_id_bytes`; the embedding has `limits.dimension` finite float
// values, not all (nearly) zero; published_at is within the years 0001 to
// 9999; metadata fields have the right JSON types. (A batch can still exceed
// the server's message size limit.)
//
// Errors are INVALID_ARGUMENT with a message of the form
// "<field>: <what is wrong>", e.g. "embedding: expected 64 values, got 3" or
// "attributes.author: expected a string, got number"; the field is "json"
// when the line cannot be read as a JSON object at all.
absl::StatusOr<client::Article> ParseArticleLine(absl::string_view line,
                                                 const ImportLimits& limits);

// True if the line holds only whitespace. Such lines (a trailing empty line,
// say) carry no article and are skipped without counting as bad.
bool IsBlankLine(absl::string_view line);

}  // namespace related::cli

#endif  // RELATED_CLIENT_CLI_JSONL_IMPORT_H_
