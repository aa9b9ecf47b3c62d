// Checks of client input. Every error is INVALID_ARGUMENT with a message that
// starts with the field path the caller gave, so a client can act on it.
#ifndef RELATED_COMMON_INPUT_RULES_H_
#define RELATED_COMMON_INPUT_RULES_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace related {

// OK if `id` is non-empty, at most `max_bytes` bytes, valid UTF-8 and free of
// control characters (IDs end up in logs, URLs and CLI tables).
absl::Status ValidateArticleId(absl::string_view id, int max_bytes,
                               absl::string_view field);

// Checks that `embedding` has `dimension` finite values, not all zero, and
// scales it to unit length in place (cosine similarity becomes inner
// product). A vector already of unit length (within float rounding) is
// left exactly as it is, so normalising twice changes nothing. `dimension`
// 0 accepts any non-empty length.
absl::Status NormalizeEmbedding(std::vector<float>& embedding, int dimension,
                                absl::string_view field);

}  // namespace related

#endif  // RELATED_COMMON_INPUT_RULES_H_
