#include "common/input_rules.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace related {
namespace {

// Length in bytes of the UTF-8 sequence starting at s[i], or 0 if it is not a
// well-formed, shortest-form encoding of a scalar value; sets `code_point`.
int Utf8SequenceLength(absl::string_view s, size_t i, uint32_t& code_point) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  int len;
  uint32_t cp;
  if (b0 < 0x80) {
    code_point = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (int k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  code_point = cp;
  return len;
}

}  // namespace

absl::Status ValidateArticleId(absl::string_view id, int max_bytes,
                               absl::string_view field) {
  if (id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not be empty"));
  }
  if (static_cast<int64_t>(id.size()) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", id.size(),
                     " bytes, longer than the limit of ", max_bytes, " bytes"));
  }
  for (size_t i = 0; i < id.size();) {
    uint32_t cp = 0;
    const int len = Utf8SequenceLength(id, i, cp);
    if (len == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": not valid UTF-8 at byte ", i));
    }
    // C0, DEL and C1 controls.
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": control character at byte ", i));
    }
    i += len;
  }
  return absl::OkStatus();
}

absl::Status NormalizeEmbedding(std::vector<float>& embedding, int dimension,
                                absl::string_view field) {
  if (embedding.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not be empty"));
  }
  if (dimension != 0 && static_cast<int>(embedding.size()) != dimension) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": expected ", dimension, " values, got ", embedding.size()));
  }
  double squared_norm = 0;
  for (size_t i = 0; i < embedding.size(); ++i) {
    if (!std::isfinite(embedding[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "]: not a finite number (NaN or infinity)"));
    }
    squared_norm += static_cast<double>(embedding[i]) * embedding[i];
  }
  const double norm = std::sqrt(squared_norm);
  // Below this the direction is numerically meaningless; above it, squaring
  // overflowed float range already handled by double.
  if (!(norm > 1e-30) || !std::isfinite(norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ": the zero vector (or one too small to normalise) has no "
                     "direction for cosine similarity"));
  }
  // A vector this normalised before (a stored one coming back through a
  // log replay or a compaction) is left as it is: dividing by a norm a few
  // float steps from 1 would move its last bits on every pass.
  if (std::abs(norm - 1.0) <= 4e-7) return absl::OkStatus();
  for (float& v : embedding) v = static_cast<float>(v / norm);
  return absl::OkStatus();
}

}  // namespace related
