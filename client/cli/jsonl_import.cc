#include "client/cli/jsonl_import.h"

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "common/input_rules.h"

namespace related::cli {
namespace {

using Json = nlohmann::json;

// The range of google.protobuf.Timestamp (0001-01-01 to 9999-12-31), which
// the server enforces; integer seconds outside it would also overflow
// absl::Time arithmetic in the client library.
constexpr int64_t kMinUnixSeconds = -62135596800;
constexpr int64_t kEndUnixSeconds = 253402300800;  // 10000-01-01T00:00:00Z

absl::Status FieldError(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status WrongType(absl::string_view field, absl::string_view expected,
                       const Json& value) {
  return FieldError(
      field, absl::StrCat("expected ", expected, ", got ", value.type_name()));
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
  // The server's own rules (common/input_rules.h), so a line the server
  // would refuse is reported alone instead of failing its whole batch.
  return ValidateArticleId(
      id, limits.max_id_bytes > 0 ? limits.max_id_bytes : INT_MAX, "id");
}

absl::Status ParseEmbedding(const Json& object, const ImportLimits& limits,
                            std::vector<float>& embedding) {
  auto it = object.find("embedding");
  if (it == object.end()) {
    return FieldError("embedding",
                      "missing (give an embedding, or text for the server "
                      "to embed)");
  }
  if (!it->is_array()) {
    return WrongType("embedding", "an array of numbers", *it);
  }
  if (it->empty()) return FieldError("embedding", "must not be empty");
  if (limits.dimension > 0 &&
      it->size() != static_cast<size_t>(limits.dimension)) {
    return FieldError("embedding", absl::StrCat("expected ", limits.dimension,
                                                " values, got ", it->size()));
  }
  embedding.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& value = (*it)[i];
    const std::string field = absl::StrCat("embedding[", i, "]");
    if (!value.is_number()) return WrongType(field, "a number", value);
    const double d = value.get<double>();
    // The parser rejects literals beyond the double range (1e999), but a
    // double beyond the float range cannot be converted without overflow.
    if (!(std::fabs(d) <= FLT_MAX)) {
      return FieldError(
          field, absl::StrCat(value.dump(), " is outside the float range"));
    }
    embedding.push_back(static_cast<float>(d));
  }
  // The server's check, on a copy: the file's values are sent as they are.
  std::vector<float> normalized = embedding;
  return NormalizeEmbedding(normalized, limits.dimension, "embedding");
}

absl::Status ParsePublishedAt(const Json& object,
                              std::optional<absl::Time>& published_at) {
  const Json* value = OptionalMember(object, "published_at");
  if (value == nullptr) return absl::OkStatus();
  constexpr absl::string_view kExpected =
      "an RFC 3339 timestamp such as \"2026-11-28T09:30:00Z\" or integer unix "
      "seconds";
  absl::Time time;
  if (value->is_string()) {
    const std::string text = value->get<std::string>();
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
      return FieldError("published_at",
                        absl::StrCat("cannot parse \"", text, "\" (", error,
                                     "); expected ", kExpected));
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
    return FieldError(
        "published_at",
        absl::StrCat("expected ", kExpected, ", got ",
                     value->is_number() ? value->dump() : value->type_name()));
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

absl::Status ParseOptionalString(const Json& object, const char* key,
                                 std::string& out) {
  const Json* value = OptionalMember(object, key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_string()) return WrongType(key, "a string", *value);
  out = value->get<std::string>();
  return absl::OkStatus();
}

// "text", or a string "body" when there is no "text" (the name in many news
// dumps; a "body" of another type is some other field, ignored as unknown
// keys are).
absl::Status ParseText(const Json& object, std::string& text) {
  absl::Status status = ParseOptionalString(object, "text", text);
  const Json* body = OptionalMember(object, "body");
  if (status.ok() && text.empty() && body != nullptr && body->is_string()) {
    text = body->get<std::string>();
  }
  return status;
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

absl::Status ParseMetadata(const Json& object, client::Metadata& metadata) {
  const std::pair<const char*, std::string*> strings[] = {
      {"title", &metadata.title},
      {"url", &metadata.url},
      {"section", &metadata.section},
      {"language", &metadata.language}};
  for (const auto& [key, value] : strings) {
    absl::Status status = ParseOptionalString(object, key, *value);
    if (!status.ok()) return status;
  }
  absl::Status status = ParsePublishedAt(object, metadata.published_at);
  if (!status.ok()) return status;
  return ParseAttributes(object, metadata.attributes);
}

// nlohmann's messages start with an exception ID, and parse errors with the
// line, which is always 1 here: the caller reports its own line number.
std::string DescribeJsonError(const Json::exception& e) {
  absl::string_view what = e.what();
  const size_t id_end = what.find("] ");
  if (id_end != absl::string_view::npos) what.remove_prefix(id_end + 2);
  absl::ConsumePrefix(&what, "parse error at line 1, ");
  return std::string(what);
}

}  // namespace

absl::StatusOr<client::Article> ParseArticleLine(absl::string_view line,
                                                 const ImportLimits& limits) {
  if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
  Json object;
  try {
    object = Json::parse(line.begin(), line.end());
  } catch (const Json::parse_error& e) {
    return FieldError("json",
                      absl::StrCat("not valid JSON: ", DescribeJsonError(e)));
  } catch (const Json::exception& e) {
    // Valid syntax that cannot be represented, such as a number beyond the
    // double range.
    return FieldError("json", DescribeJsonError(e));
  }
  if (!object.is_object()) return WrongType("json", "an object", object);

  client::Article article;
  absl::Status status = ParseId(object, limits, article.id);
  if (status.ok()) status = ParseText(object, article.text);
  // With text, the embedding is optional: the server embeds the text.
  if (status.ok() && (article.text.empty() || object.contains("embedding"))) {
    status = ParseEmbedding(object, limits, article.embedding);
  }
  if (status.ok()) status = ParseMetadata(object, article.metadata);
  if (!status.ok()) return status;
  return article;
}

bool IsBlankLine(absl::string_view line) {
  return absl::StripAsciiWhitespace(line).empty();
}

}  // namespace related::cli
