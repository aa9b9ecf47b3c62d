// BoxCache: GetRelated's encoded answers to default requests (no policy, no
// exclusions, the default limit), one per article, each valid for the
// index state it was read from.
//
// Why: most calls ask for the default box of an article that many readers
// are on, and at saturation the lookup, the policy and the wire encoding of
// ten items were about 1.8 us of a GetRelated call's 16.2 us of server CPU
// (4 connections x 16 streams, server pinned to one core; the same bytes
// served ready-made took 14.4 us, docs/performance.md). A hit costs a hash,
// a striped lock and a reference to the bytes: gRPC sends the cached slice
// itself, without a copy.
//
// Why it never serves a stale box: an entry carries the index's state
// generation (ArticleIndex::state_generation) read while the box was read,
// and is used only while the generation is still the same. Every write,
// delete, import, card layout or compaction starts a new generation, so
// after any change every entry misses until it is encoded again. Only
// precomputed boxes are stored: they depend on the index state alone, not
// on the clock.
//
// Thread-safe. The table has a fixed number of slots, chosen by the hash of
// the article ID; a newer entry replaces whatever held its slot.
#ifndef RELATED_SERVER_SERVICE_BOX_CACHE_H_
#define RELATED_SERVER_SERVICE_BOX_CACHE_H_

#include <grpcpp/support/slice.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace related {

class BoxCache {
 public:
  // `entries` slots; 0 disables the cache (Find always misses, Store keeps
  // nothing).
  explicit BoxCache(int entries);

  bool enabled() const { return !slots_.empty(); }

  // The bytes stored for `article_id` at `generation`, if any.
  std::optional<grpc::Slice> Find(absl::string_view article_id,
                                  uint64_t generation) const;

  // Keeps `bytes` (shared, not copied) as the answer for `article_id` at
  // `generation`.
  void Store(absl::string_view article_id, uint64_t generation,
             const grpc::Slice& bytes);

 private:
  struct Slot {
    std::string article_id;
    uint64_t generation = 0;
    grpc::Slice bytes;  // empty: nothing stored
  };
  // Locks cover slots index % kStripes, so that threads on different
  // articles rarely wait for each other.
  static constexpr size_t kStripes = 64;

  size_t SlotOf(absl::string_view article_id) const;

  mutable std::array<absl::Mutex, kStripes> stripes_;
  std::vector<Slot> slots_;  // each guarded by stripes_[index % kStripes]
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_BOX_CACHE_H_
