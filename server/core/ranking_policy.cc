#include "server/core/ranking_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace related {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

absl::Status InvalidPolicy(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("policy.", field, ": ", problem));
}

}  // namespace

absl::Status ValidateRankingPolicy(const RankingPolicy& p) {
  if (p.min_score.has_value() &&
      !(*p.min_score >= -1.0f && *p.min_score <= 1.0f)) {
    return InvalidPolicy("min_score", "must be within [-1, 1]");
  }
  if (p.duplicate_threshold.has_value() &&
      !(*p.duplicate_threshold >= -1.0f && *p.duplicate_threshold <= 1.0f)) {
    return InvalidPolicy("duplicate_threshold",
                         "must be within [-1, 1] (1: off)");
  }
  if (!(p.diversity_lambda >= 0.0f && p.diversity_lambda <= 1.0f)) {
    return InvalidPolicy("diversity_lambda", "must be within [0, 1] (1: off)");
  }
  if (!(p.recency_weight >= 0.0f && p.recency_weight <= 1.0f)) {
    return InvalidPolicy("recency_weight", "must be within [0, 1] (0: off)");
  }
  if (p.recency_half_life.has_value() &&
      *p.recency_half_life <= absl::ZeroDuration()) {
    return InvalidPolicy("recency_half_life", "must be positive");
  }
  if (p.recency_weight > 0 && !p.recency_half_life.has_value()) {
    return InvalidPolicy("recency_half_life",
                         "must be set when recency_weight > 0");
  }
  if (p.max_age.has_value() && *p.max_age <= absl::ZeroDuration()) {
    return InvalidPolicy("max_age", "must be positive");
  }
  if (p.published_after.has_value() && p.published_before.has_value() &&
      *p.published_after > *p.published_before) {
    return InvalidPolicy("published_after",
                         "is later than policy.published_before");
  }
  if (p.candidates < 0) return InvalidPolicy("candidates", "must be >= 0");
  for (const std::string& section : p.sections) {
    if (Contains(p.exclude_sections, section)) {
      return InvalidPolicy(
          "sections",
          absl::StrCat("'", section, "' is also in exclude_sections"));
    }
  }
  return absl::OkStatus();
}

bool SameRankingIgnoringClock(const RankingPolicy& a, const RankingPolicy& b) {
  return a.sections == b.sections && a.exclude_sections == b.exclude_sections &&
         a.languages == b.languages && a.same_language == b.same_language &&
         a.published_after == b.published_after &&
         a.published_before == b.published_before && a.max_age == b.max_age &&
         a.required_attributes == b.required_attributes &&
         a.min_score == b.min_score &&
         a.duplicate_threshold == b.duplicate_threshold &&
         a.diversity_lambda == b.diversity_lambda &&
         a.recency_half_life == b.recency_half_life &&
         a.recency_weight == b.recency_weight && a.candidates == b.candidates;
}

int CandidatePoolSize(const RankingPolicy& policy, int limit) {
  return policy.candidates > 0 ? policy.candidates : std::max(4 * limit, 50);
}

}  // namespace related
