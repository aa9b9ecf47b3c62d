#include "client/cli/lookup_flags.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "common/input_rules.h"

namespace related::cli {
namespace {

// The range of google.protobuf.Timestamp (0001-01-01 to 9999-12-31), which
// the server enforces.
constexpr int64_t kMinUnixSeconds = -62135596800;
constexpr int64_t kEndUnixSeconds = 253402300800;  // 10000-01-01T00:00:00Z

absl::Status FlagError(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", what));
}

absl::Status CannotParse(absl::string_view flag, absl::string_view text,
                         absl::string_view expected) {
  return FlagError(
      flag, absl::StrCat("cannot parse \"", text, "\"; expected ", expected));
}

std::vector<std::string> ParseList(absl::string_view text) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

absl::StatusOr<std::map<std::string, std::string>> ParseAttributes(
    absl::string_view flag, absl::string_view text) {
  std::map<std::string, std::string> attributes;
  for (absl::string_view pair : absl::StrSplit(text, ',')) {
    if (absl::StripAsciiWhitespace(pair).empty()) continue;
    const size_t equals = pair.find('=');
    const absl::string_view key =
        absl::StripAsciiWhitespace(pair.substr(0, equals));
    if (equals == absl::string_view::npos || key.empty()) {
      return CannotParse(flag, pair, "key=value, e.g. type=news");
    }
    const absl::string_view value =
        absl::StripAsciiWhitespace(pair.substr(equals + 1));
    if (!attributes.emplace(key, value).second) {
      return FlagError(flag, absl::StrCat("'", key, "' is given twice"));
    }
  }
  return attributes;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view flag,
                                                 absl::string_view text) {
  absl::Duration duration;
  if (!absl::ParseDuration(absl::StripAsciiWhitespace(text), &duration) ||
      duration == absl::InfiniteDuration() ||
      duration == -absl::InfiniteDuration()) {
    return CannotParse(flag, text, "a duration such as 90m or 48h");
  }
  return duration;
}

absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view flag,
                                         absl::string_view text) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, absl::StripAsciiWhitespace(text),
                       &time, &error)) {
    return CannotParse(flag, text,
                       "an RFC 3339 time such as 2026-11-28T09:30:00Z");
  }
  // Also rejects "infinite-future" and "infinite-past", which ParseTime
  // accepts.
  if (time < absl::FromUnixSeconds(kMinUnixSeconds) ||
      time >= absl::FromUnixSeconds(kEndUnixSeconds)) {
    return FlagError(flag, "outside the years 0001 to 9999");
  }
  return time;
}

absl::StatusOr<float> ParseFloatFlag(absl::string_view flag,
                                     absl::string_view text) {
  float value;
  if (!absl::SimpleAtof(text, &value) || !std::isfinite(value)) {
    return CannotParse(flag, text, "a number");
  }
  return value;
}

// Stores the parsed value of one flag in `policy`.
absl::Status ParsePolicyFlag(absl::string_view flag, absl::string_view text,
                             client::RankingPolicy& policy) {
  // Assigns Parse(flag, text) to `target`, or returns its error.
  const auto assign = [&](auto parse, auto& target) -> absl::Status {
    auto value = parse(flag, text);
    if (!value.ok()) return value.status();
    target = *std::move(value);
    return absl::OkStatus();
  };
  if (flag == "sections") {
    policy.sections = ParseList(text);
  } else if (flag == "exclude_sections") {
    policy.exclude_sections = ParseList(text);
  } else if (flag == "languages") {
    policy.languages = ParseList(text);
  } else if (flag == "require") {
    return assign(ParseAttributes, policy.required_attributes);
  } else if (flag == "max_age") {
    return assign(ParseDurationFlag, policy.max_age);
  } else if (flag == "recency_half_life") {
    return assign(ParseDurationFlag, policy.recency_half_life);
  } else if (flag == "published_after") {
    return assign(ParseTimeFlag, policy.published_after);
  } else if (flag == "published_before") {
    return assign(ParseTimeFlag, policy.published_before);
  } else if (flag == "now") {
    return assign(ParseTimeFlag, policy.now);
  } else if (flag == "min_score") {
    return assign(ParseFloatFlag, policy.min_score);
  } else if (flag == "duplicate_threshold") {
    return assign(ParseFloatFlag, policy.duplicate_threshold);
  } else if (flag == "diversity") {
    return assign(ParseFloatFlag, policy.diversity_lambda);
  } else if (flag == "recency_weight") {
    return assign(ParseFloatFlag, policy.recency_weight);
  } else if (flag == "candidates") {
    if (!absl::SimpleAtoi(text, &policy.candidates)) {
      return CannotParse(flag, text, "an integer");
    }
    if (policy.candidates < 0) return FlagError(flag, "must not be negative");
  } else if (flag == "same_language") {
    bool value = false;
    if (!absl::SimpleAtob(text, &value)) {
      return CannotParse(flag, text, "true or false");
    }
    policy.same_language = value;
  } else if (flag == "debug") {
    if (!absl::SimpleAtob(text, &policy.debug)) {
      return CannotParse(flag, text, "true or false");
    }
  } else {
    return FlagError(flag, "not a ranking policy flag");
  }
  return absl::OkStatus();
}

// The checks the server makes of an embedding, except its dimension.
absl::Status CheckVector(absl::string_view flag,
                         const std::vector<float>& vector) {
  std::vector<float> copy = vector;
  return NormalizeEmbedding(copy, 0, absl::StrCat("--", flag));
}

}  // namespace

absl::StatusOr<client::RankingPolicy> ParsePolicyFlags(
    const std::map<std::string, std::string>& given) {
  client::RankingPolicy policy;
  for (const auto& [flag, text] : given) {
    if (absl::Status s = ParsePolicyFlag(flag, text, policy); !s.ok()) {
      return s;
    }
  }
  return policy;
}

absl::StatusOr<std::vector<float>> ParseVectorText(absl::string_view text) {
  constexpr absl::string_view kFlag = "vector";
  std::vector<float> vector;
  if (absl::StripAsciiWhitespace(text).empty()) {
    return FlagError(kFlag, "must not be empty");
  }
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    float value;
    if (!absl::SimpleAtof(item, &value) || !std::isfinite(value)) {
      return FlagError(kFlag, absl::StrCat("value ", vector.size() + 1, " (\"",
                                           absl::StripAsciiWhitespace(item),
                                           "\") is not a finite number"));
    }
    vector.push_back(value);
  }
  if (absl::Status s = CheckVector(kFlag, vector); !s.ok()) return s;
  return vector;
}

absl::StatusOr<std::vector<float>> ParseVectorJson(absl::string_view json) {
  constexpr absl::string_view kFlag = "vector_file";
  using Json = nlohmann::json;
  const Json array = Json::parse(json, /*cb=*/nullptr,
                                 /*allow_exceptions=*/false);
  if (array.is_discarded()) {
    return FlagError(kFlag, "not valid JSON; expected an array of numbers");
  }
  if (!array.is_array()) {
    return FlagError(kFlag, absl::StrCat("expected an array of numbers, got ",
                                         array.type_name()));
  }
  std::vector<float> vector;
  vector.reserve(array.size());
  for (const Json& value : array) {
    // A double beyond the float range cannot be converted without overflow.
    if (!value.is_number() || !(std::fabs(value.get<double>()) <= FLT_MAX)) {
      return FlagError(
          kFlag, absl::StrCat("value ", vector.size() + 1, " (", value.dump(),
                              ") is not a finite number"));
    }
    vector.push_back(static_cast<float>(value.get<double>()));
  }
  if (absl::Status s = CheckVector(kFlag, vector); !s.ok()) return s;
  return vector;
}

}  // namespace related::cli
