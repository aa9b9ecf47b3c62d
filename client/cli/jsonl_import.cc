#include "client/cli/jsonl_import.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace related::cli {
namespace {

using Json = nlohmann::json;

// The range of google.protobuf.Timestamp (0001-01-01 to 9999-12-31), which
// the server enforces; integer seconds outside it would also overflow
// absl::Time arithmetic in the client library.
constexpr int64_t kMinUnixSeconds = -62135596800;
constexpr int64_t kEndUnixSeconds = 253402300800;  // 10000-01-01T00:00:00Z

// The server refuses to normalise a vector shorter than this (see
// server/core/validation.cc); checked here too so that such a line is
// reported alone rather than failing the batch it would be sent in.
constexpr double kMinEmbeddingNorm = 1e-30;

absl::Status FieldError(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status WrongType(absl::string_view field, absl::string_view expected,
                       const Json& value) {
  return FieldError(field,
                    absl::StrCat("expected ", expected, ", got ", value.type_name()));
}

// Returns the member `key` of `object`, or nullptr if it is absent or null.
const Json* OptionalMember(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status ParseId(const Json& object, const ImportLimits& limits,
                     std::string& id) {
  auto it = object.find("id");
  if (it == object.end()) return FieldError("id", "missing");
  if (!it->is_string()) return WrongType("id", "a string", *it);
  id = it->get<std::string>();
  if (id.empty()) return FieldError("id", "must not be empty");
  if (limits.max_id_bytes > 0 && id.size() > static_cast<size_t>(limits.max_id_bytes)) {
    return FieldError("id", absl::StrCat(id.size(), " bytes, longer than the server's limit of ",
                                         limits.max_id_bytes, " bytes"));
  }
  // The parser has already checked that the string is valid UTF-8; control
  // characters are the other thing the server refuses in an ID.
  for (size_t i = 0; i < id.size(); ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c == 0x7F) {
      return FieldError("id", absl::StrCat("control character at byte ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseEmbedding(const Json& object, const ImportLimits& limits,
                            std::vector<float>& embedding) {
  auto it = object.find("embedding");
  if (it == object.end()) return FieldError("embedding", "missing");
  if (!it->is_array()) return WrongType("embedding", "an array of numbers", *it);
  if (it->empty()) return FieldError("embedding", "must not be empty");
  if (limits.dimension > 0 && it->size() != static_cast<size_t>(limits.dimension)) {
    return FieldError("embedding", absl::StrCat("expected ", limits.dimension,
                                                " values, got ", it->size()));
  }
  embedding.reserve(it->size());
  double squared_norm = 0;
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& value = (*it)[i];
    const std::string field = absl::StrCat("embedding[", i, "]");
    if (!value.is_number()) return WrongType(field, "a number", value);
    const double d = value.get<double>();
    // The parser turns literals such as 1e999 into infinity; and a double
    // beyond the float range cannot be converted without overflow.
    if (!std::isfinite(d)) return FieldError(field, "not a finite number");
    if (std::fabs(d) > FLT_MAX) {
      return FieldError(field, absl::StrCat(value.dump(), " is outside the float range"));
    }
    const float f = static_cast<float>(d);
    squared_norm += static_cast<double>(f) * f;
    embedding.push_back(f);
  }
  if (!(std::sqrt(squared_norm) > kMinEmbeddingNorm)) {
    return FieldError("embedding",
                      "all values are zero (or too small): such a vector has no "
                      "direction for cosine similarity");
  }
  return absl::OkStatus();
}

absl::Status ParsePublishedAt(const Json& object, std::optional<absl::Time>& published_at) {
  const Json* value = OptionalMember(object, "published_at");
  if (value == nullptr) return absl::OkStatus();
  constexpr absl::string_view kExpected =
      "an RFC 3339 timestamp such as \"2026-11-28T09:30:00Z\" or integer unix seconds";
  absl::Time time;
  if (value->is_string()) {
    const std::string text = value->get<std::string>();
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
      return FieldError("published_at",
                        absl::StrCat("cannot parse \"", text, "\" (", error, "); expected ",
                                     kExpected));
    }
  } else if (value->is_number_unsigned()) {
    const uint64_t seconds = value->get<uint64_t>();
    if (seconds >= static_cast<uint64_t>(kEndUnixSeconds)) {
      return FieldError("published_at",
                        absl::StrCat(seconds, " is after the year 9999"));
    }
    time = absl::FromUnixSeconds(static_cast<int64_t>(seconds));
  } else if (value->is_number_integer()) {
    time = absl::FromUnixSeconds(value->get<int64_t>());
  } else {
    return FieldError("published_at", absl::StrCat("expected ", kExpected, ", got ",
                                                   value->is_number() ? value->dump()
                                                                      : value->type_name()));
  }
  // Also rejects absl's "infinite-future" / "infinite-past", which ParseTime
  // accepts.
  if (time < absl::FromUnixSeconds(kMinUnixSeconds) ||
      time >= absl::FromUnixSeconds(kEndUnixSeconds)) {
    return FieldError("published_at", "outside the years 0001 to 9999");
  }
  published_at = time;
  return absl::OkStatus();
}

absl::Status ParseOptionalString(const Json& object, const char* key, std::string& out) {
  const Json* value = OptionalMember(object, key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_string()) return WrongType(key, "a string", *value);
  out = value->get<std::string>();
  return absl::OkStatus();
}

absl::Status ParseAttributes(const Json& object,
                             std::map<std::string, std::string>& attributes) {
  const Json* value = OptionalMember(object, "attributes");
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_object()) {
    return WrongType("attributes", "an object of string values", *value);
  }
  for (const auto& [key, item] : value->items()) {
    if (!item.is_string()) {
      return WrongType(absl::StrCat("attributes.", key), "a string", item);
    }
    attributes[key] = item.get<std::string>();
  }
  return absl::OkStatus();
}

// nlohmann's message starts with "[json.exception.parse_error.101] parse
// error at line 1, "; the line is always 1 here and the caller reports its
// own line number, so keep only the column and the reason.
std::string DescribeParseError(const Json::exception& e) {
  absl::string_view what = e.what();
  constexpr absl::string_view kPrefix = "line 1, ";
  const size_t at = what.find(kPrefix);
  if (at != absl::string_view::npos) what.remove_prefix(at + kPrefix.size());
  return std::string(what);
}

}  // namespace

absl::StatusOr<client::Article> ParseArticleLine(absl::string_view line,
                                                 const ImportLimits& limits) {
  if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
  Json object;
  try {
    object = Json::parse(line.begin(), line.end());
  } catch (const Json::exception& e) {
    return FieldError("json", absl::StrCat("not valid JSON: ", DescribeParseError(e)));
  }
  if (!object.is_object()) return WrongType("json", "an object", object);

  client::Article article;
  client::Metadata& metadata = article.metadata;
  absl::Status status = ParseId(object, limits, article.id);
  if (status.ok()) status = ParseEmbedding(object, limits, article.embedding);
  if (status.ok()) status = ParsePublishedAt(object, metadata.published_at);
  if (status.ok()) status = ParseOptionalString(object, "title", metadata.title);
  if (status.ok()) status = ParseOptionalString(object, "url", metadata.url);
  if (status.ok()) status = ParseOptionalString(object, "section", metadata.section);
  if (status.ok()) status = ParseOptionalString(object, "language", metadata.language);
  if (status.ok()) status = ParseAttributes(object, metadata.attributes);
  if (!status.ok()) return status;
  return article;
}

bool IsBlankLine(absl::string_view line) {
  return absl::StripAsciiWhitespace(line).empty();
}

}  // namespace related::cli
