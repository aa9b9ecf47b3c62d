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
// and what the box was read from (BoxSource: the versions of the article's
// list and of the cards it shows). While the generation is the same, the
// entry is served as it is. Every write, delete, import, card layout or
// compaction starts a new generation; then the entry is served only if
// ArticleIndex::BoxStillCurrent finds every version unchanged (a few reads
// under the index's shared lock), and from then on holds for the new
// generation. So a write costs only the boxes it can change a new
// encoding. (With any write ending every entry, as first built, one write
// a second over 7,600 articles read in turn left 24% of calls hits, and
// ten writes a second none: docs/performance.md.) Only precomputed boxes
// are stored: they depend on the index state alone, not on the clock.
//
// Thread-safe. The table has a fixed number of slots in sets of up to
// kWays; an article's hash picks its set, and within it a new entry takes an
// empty slot, else one of an older generation, else the one least recently
// used. (With one slot per hash, as first built, two articles sharing a
// slot evicted each other on every turn: over 7,600 articles read in turn,
// 57% of calls were hits where 92% could be.)
#ifndef RELATED_SERVER_SERVICE_BOX_CACHE_H_
#define RELATED_SERVER_SERVICE_BOX_CACHE_H_

#include <grpcpp/support/slice.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/core/box_source.h"

namespace related {

class BoxCache {
 public:
  // `entries` slots; 0 disables the cache (Find always misses, Store keeps
  // nothing).
  explicit BoxCache(int entries);

  bool enabled() const { return sets_ > 0; }

  // Asked for an entry of an older generation: the generation its box
  // still reads the same at (ArticleIndex::BoxStillCurrent), or nullopt.
  using StillCurrent =
      absl::FunctionRef<std::optional<uint64_t>(const BoxSource& source)>;

  // The bytes stored for `article_id`, if they are the answer at
  // `generation`: stored at it, or stored earlier and `still_current` says
  // the box reads the same now. A hit marks its slot as recently used.
  // `still_current` is called without this cache's locks held.
  std::optional<grpc::Slice> Find(absl::string_view article_id,
                                  uint64_t generation,
                                  StillCurrent still_current);

  // Keeps `bytes` (shared, not copied) as the answer for `article_id` at
  // `generation`, read from `source`.
  void Store(absl::string_view article_id, uint64_t generation,
             const grpc::Slice& bytes, BoxSource source);

 private:
  struct Slot {
    std::string article_id;
    uint64_t generation = 0;
    uint64_t last_used = 0;  // its stripe's clock when last found or stored
    grpc::Slice bytes;       // empty: nothing stored
    BoxSource source;
  };
  // Locks cover the sets set % kStripes, so that threads on different
  // articles rarely wait for each other.
  struct Stripe {
    absl::Mutex mutex;
    uint64_t clock = 0;  // guarded by mutex
  };
  static constexpr size_t kWays = 8;
  static constexpr size_t kStripes = 64;

  struct Place {
    size_t set;
    uint64_t hash;
  };
  Place PlaceOf(absl::string_view article_id) const;
  Stripe& StripeOf(const Place& place) {
    return stripes_[place.set % kStripes];
  }
  // The slot of `article_id`, or null.
  Slot* Stored(const Place& place, absl::string_view article_id);
  // The way of place.set holding `article_id`, or kWays.
  size_t WayOf(const Place& place, absl::string_view article_id) const;
  // The way a new entry of `generation` takes in `set`, or kWays if every
  // way holds a newer generation.
  size_t VictimIn(size_t set, uint64_t generation) const;

  size_t ways_ = 0;  // per set
  size_t sets_ = 0;
  std::array<Stripe, kStripes> stripes_;
  // Set s is slots_[s * ways_, (s + 1) * ways_), with the hashes of its
  // articles in hashes_ at the same places (compared first: one cache
  // line a set). Both guarded by stripes_[s % kStripes].
  std::vector<uint64_t> hashes_;
  std::vector<Slot> slots_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_BOX_CACHE_H_
