#include "server/service/box_cache.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"

namespace related {

BoxCache::BoxCache(int entries) {
  if (entries <= 0) return;
  const size_t wanted = static_cast<size_t>(entries);
  ways_ = std::min(kWays, wanted);
  sets_ = (wanted + ways_ - 1) / ways_;
  hashes_.resize(sets_ * ways_);
  slots_.resize(sets_ * ways_);
}

BoxCache::Place BoxCache::PlaceOf(absl::string_view article_id) const {
  const uint64_t hash = absl::Hash<absl::string_view>{}(article_id);
  return {hash % sets_, hash};
}

size_t BoxCache::WayOf(const Place& place, absl::string_view article_id) const {
  const size_t first = place.set * ways_;
  for (size_t way = 0; way < ways_; ++way) {
    const Slot& slot = slots_[first + way];
    if (hashes_[first + way] == place.hash && slot.bytes.size() != 0 &&
        slot.article_id == article_id) {
      return way;
    }
  }
  return kWays;
}

size_t BoxCache::VictimIn(size_t set, uint64_t generation) const {
  const size_t first = set * ways_;
  size_t victim = kWays;
  // Empty first, then an older generation, then the least recently used.
  auto rank = [&](const Slot& slot) {
    return std::make_pair(
        slot.bytes.size() != 0 && slot.generation == generation,
        slot.last_used);
  };
  for (size_t way = 0; way < ways_; ++way) {
    const Slot& slot = slots_[first + way];
    if (slot.bytes.size() != 0 && slot.generation > generation) continue;
    if (slot.bytes.size() == 0) return way;
    if (victim == kWays || rank(slot) < rank(slots_[first + victim])) {
      victim = way;
    }
  }
  return victim;
}

std::optional<grpc::Slice> BoxCache::Find(absl::string_view article_id,
                                          uint64_t generation) {
  if (sets_ == 0) return std::nullopt;
  const Place place = PlaceOf(article_id);
  Stripe& stripe = stripes_[place.set % kStripes];
  absl::MutexLock lock(&stripe.mutex);
  const size_t way = WayOf(place, article_id);
  if (way == kWays) return std::nullopt;
  Slot& slot = slots_[place.set * ways_ + way];
  if (slot.generation != generation) return std::nullopt;
  slot.last_used = ++stripe.clock;
  return slot.bytes;
}

void BoxCache::Store(absl::string_view article_id, uint64_t generation,
                     const grpc::Slice& bytes) {
  if (sets_ == 0) return;
  const Place place = PlaceOf(article_id);
  Stripe& stripe = stripes_[place.set % kStripes];
  grpc::Slice replaced;  // released after the lock, not under it
  absl::MutexLock lock(&stripe.mutex);
  size_t way = WayOf(place, article_id);
  if (way == kWays) {
    way = VictimIn(place.set, generation);
    // Every way holds a newer state's box: a reader of an older state must
    // not replace one.
    if (way == kWays) return;
  } else if (slots_[place.set * ways_ + way].generation > generation) {
    return;
  }
  const size_t index = place.set * ways_ + way;
  Slot& slot = slots_[index];
  hashes_[index] = place.hash;
  slot.article_id.assign(article_id.data(), article_id.size());
  slot.generation = generation;
  slot.last_used = ++stripe.clock;
  replaced = std::move(slot.bytes);
  slot.bytes = bytes;
}

}  // namespace related
