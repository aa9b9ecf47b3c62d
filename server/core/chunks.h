// Work split into chunks, so that a lock is held for one chunk at a time.
#ifndef RELATED_SERVER_CORE_CHUNKS_H_
#define RELATED_SERVER_CORE_CHUNKS_H_

#include <cstddef>
#include <vector>

#include "absl/types/span.h"

namespace related {

// Calls `apply` with consecutive chunks of at most `size` of `items`.
template <typename T, typename Apply>
void ForEachChunk(const std::vector<T>& items, size_t size, Apply&& apply) {
  for (size_t begin = 0; begin < items.size(); begin += size) {
    apply(absl::MakeConstSpan(items).subspan(begin, size));
  }
}

}  // namespace related

#endif  // RELATED_SERVER_CORE_CHUNKS_H_
