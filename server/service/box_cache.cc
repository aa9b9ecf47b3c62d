#include "server/service/box_cache.h"

#include "absl/hash/hash.h"

namespace related {

BoxCache::BoxCache(int entries)
    : slots_(entries > 0 ? static_cast<size_t>(entries) : 0) {}

size_t BoxCache::SlotOf(absl::string_view article_id) const {
  return absl::Hash<absl::string_view>{}(article_id) % slots_.size();
}

std::optional<grpc::Slice> BoxCache::Find(absl::string_view article_id,
                                          uint64_t generation) const {
  if (slots_.empty()) return std::nullopt;
  const size_t index = SlotOf(article_id);
  absl::MutexLock lock(&stripes_[index % kStripes]);
  const Slot& slot = slots_[index];
  if (slot.bytes.size() == 0 || slot.generation != generation ||
      slot.article_id != article_id) {
    return std::nullopt;
  }
  return slot.bytes;
}

void BoxCache::Store(absl::string_view article_id, uint64_t generation,
                     const grpc::Slice& bytes) {
  if (slots_.empty()) return;
  const size_t index = SlotOf(article_id);
  grpc::Slice replaced;  // released after the lock, not under it
  absl::MutexLock lock(&stripes_[index % kStripes]);
  Slot& slot = slots_[index];
  // A reader of an older state must not replace a newer entry.
  if (slot.bytes.size() != 0 && slot.generation > generation) return;
  slot.article_id.assign(article_id.data(), article_id.size());
  slot.generation = generation;
  replaced = std::move(slot.bytes);
  slot.bytes = bytes;
}

}  // namespace related
