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

BoxCache::Slot* BoxCache::Stored(const Place& place,
                                 absl::string_view article_id) {
  const size_t way = WayOf(place, article_id);
  return way == kWays ? nullptr : &slots_[place.set * ways_ + way];
}

std::optional<grpc::Slice> BoxCache::Find(absl::string_view article_id,
                                          uint64_t generation,
                                          StillCurrent still_current) {
  if (sets_ == 0) return std::nullopt;
  const Place place = PlaceOf(article_id);
  Stripe& stripe = StripeOf(place);
  BoxSource source;
  grpc::Slice bytes;
  uint64_t stored_at = 0;
  {
    absl::MutexLock lock(&stripe.mutex);
    Slot* slot = Stored(place, article_id);
    // (Newer than the caller's generation: the caller reads for itself.)
    if (slot == nullptr || slot->generation > generation) return std::nullopt;
    if (slot->generation == generation) {
      slot->last_used = ++stripe.clock;
      return slot->bytes;
    }
    source = slot->source;
    bytes = slot->bytes;
    stored_at = slot->generation;
  }
  // Outside the lock: the check waits for the index's shared lock.
  const std::optional<uint64_t> current = still_current(source);
  if (!current.has_value()) return std::nullopt;
  absl::MutexLock lock(&stripe.mutex);
  Slot* slot = Stored(place, article_id);
  // Unless another reader replaced the entry meanwhile, it now holds for
  // the current generation. (One that stored it again at the same
  // generation read the same state, so the same bytes.)
  if (slot != nullptr && slot->generation == stored_at) {
    slot->generation = *current;
    slot->last_used = ++stripe.clock;
  }
  return bytes;
}

void BoxCache::Store(absl::string_view article_id, uint64_t generation,
                     const grpc::Slice& bytes, BoxSource source) {
  if (sets_ == 0) return;
  const Place place = PlaceOf(article_id);
  Stripe& stripe = StripeOf(place);
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
  slot.source = std::move(source);
}

}  // namespace related
