// Fuzzes the input checks a request goes through before it reaches the index:
// article IDs, embeddings and ranking policies, with their promises checked.
#include <fuzzer/FuzzedDataProvider.h>

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/input_rules.h"
#include "server/core/article_cards.h"
#include "server/core/ranking.h"
#include "server/core/ranking_policy.h"

namespace {

// google.protobuf.Timestamp / Duration ranges, which the service converts
// every time and duration from.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;
constexpr int64_t kMaxDurationSeconds = 315576000000;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "validation_fuzzer: %s\n", what);
  std::abort();
}

absl::Time ConsumeTime(FuzzedDataProvider& in) {
  return absl::FromUnixSeconds(
             in.ConsumeIntegralInRange<int64_t>(kMinSeconds, kMaxSeconds)) +
         absl::Nanoseconds(in.ConsumeIntegralInRange<int32_t>(0, 999999999));
}

absl::Duration ConsumeDuration(FuzzedDataProvider& in) {
  return absl::Seconds(in.ConsumeIntegralInRange<int64_t>(
             -kMaxDurationSeconds, kMaxDurationSeconds)) +
         absl::Nanoseconds(
             in.ConsumeIntegralInRange<int32_t>(-999999999, 999999999));
}

// Mostly short strings from a small alphabet, so that lists and metadata
// collide often enough for the filters to match.
std::string ConsumeWord(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) return in.ConsumeRandomLengthString(16);
  static const char* const kWords[] = {"", "world", "sport", "en", "de", "a"};
  return kWords[in.ConsumeIntegralInRange<size_t>(0, 5)];
}

std::vector<std::string> ConsumeWords(FuzzedDataProvider& in) {
  std::vector<std::string> words(in.ConsumeIntegralInRange<size_t>(0, 3));
  for (std::string& w : words) w = ConsumeWord(in);
  return words;
}

template <typename T>
std::optional<T> Maybe(FuzzedDataProvider& in, T value) {
  return in.ConsumeBool() ? std::optional<T>(value) : std::nullopt;
}

void CheckArticleId(FuzzedDataProvider& in) {
  const int max_bytes = in.ConsumeIntegralInRange<int>(-1, 64);
  const std::string id = in.ConsumeRandomLengthString(80);
  if (!related::ValidateArticleId(id, max_bytes, "id").ok()) return;
  if (id.empty() || id.size() > static_cast<size_t>(max_bytes))
    Fail("accepted an empty or over-long ID");
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7F || c == 0xC0 || c == 0xC1 || c > 0xF4)
      Fail("accepted a control character or a byte never in UTF-8");
  }
}

void CheckEmbedding(FuzzedDataProvider& in) {
  const int dimension = in.ConsumeIntegralInRange<int>(0, 8);
  std::vector<float> embedding(in.ConsumeIntegralInRange<size_t>(0, 8));
  for (float& v : embedding) {
    v = in.ConsumeBool() ? in.ConsumeFloatingPoint<float>()
                         : in.ConsumeFloatingPointInRange<float>(-1, 1);
  }
  if (!related::NormalizeEmbedding(embedding, dimension, "embedding").ok())
    return;
  if (embedding.empty() ||
      (dimension != 0 && embedding.size() != static_cast<size_t>(dimension)))
    Fail("accepted an embedding of the wrong length");
  double squared = 0;
  for (float v : embedding) {
    if (!std::isfinite(v)) Fail("normalised to a non-finite value");
    squared += double{v} * v;
  }
  if (std::fabs(std::sqrt(squared) - 1) > 1e-4) Fail("not unit length");
}

void CheckPolicy(FuzzedDataProvider& in) {
  related::RankingPolicy p;
  p.sections = ConsumeWords(in);
  p.exclude_sections = ConsumeWords(in);
  p.languages = ConsumeWords(in);
  p.published_after = Maybe(in, ConsumeTime(in));
  p.published_before = Maybe(in, ConsumeTime(in));
  p.max_age = Maybe(in, ConsumeDuration(in));
  for (size_t n = in.ConsumeIntegralInRange<size_t>(0, 2); n > 0; --n)
    p.required_attributes[ConsumeWord(in)] = ConsumeWord(in);
  p.min_score = Maybe(in, in.ConsumeFloatingPoint<float>());
  p.duplicate_threshold = Maybe(in, in.ConsumeFloatingPoint<float>());
  p.diversity_lambda = in.ConsumeFloatingPoint<float>();
  p.recency_half_life = Maybe(in, ConsumeDuration(in));
  p.recency_weight = in.ConsumeBool()
                         ? in.ConsumeFloatingPoint<float>()
                         : in.ConsumeFloatingPointInRange<float>(0, 1);
  p.now = Maybe(in, ConsumeTime(in));
  p.candidates = in.ConsumeIntegral<int>();
  if (!related::ValidateRankingPolicy(p).ok()) return;

  related::ArticleMetadata m;
  m.section = ConsumeWord(in);
  m.language = ConsumeWord(in);
  m.published_at = Maybe(in, ConsumeTime(in));
  for (size_t n = in.ConsumeIntegralInRange<size_t>(0, 2); n > 0; --n)
    m.attributes[ConsumeWord(in)] = ConsumeWord(in);
  const absl::Time now = p.now.value_or(ConsumeTime(in));

  const related::OwnedCard owned("fuzzed-article", m);
  const related::FilterRule rule = related::FailedFilter(p, owned.card(), now);
  if (rule == related::FilterRule::kNone && !m.published_at.has_value() &&
      (p.published_after || p.published_before || p.max_age))
    Fail("an undated article passed a date filter");
  const float factor = related::RecencyFactor(p, m.published_at, now);
  // relevance = similarity * factor: the boost may only scale it down.
  if (!(factor >= 1 - p.recency_weight - 1e-6f && factor <= 1 + 1e-6f))
    Fail("recency factor outside [1 - weight, 1]");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  switch (in.ConsumeIntegralInRange<int>(0, 2)) {
    case 0:
      CheckArticleId(in);
      break;
    case 1:
      CheckEmbedding(in);
      break;
    default:
      CheckPolicy(in);
      break;
  }
  return 0;
}
