// RelatedLists: every article's related list, computed when the article is
// written and kept fresh on later writes, so that a GetRelated with the
// server's default policy is a lookup, not a search.
//
// Per article (by slot) it keeps
//  - the candidates: its `pool_size` most similar articles, best first, as
//    the index search found them when the article was written, plus every
//    later article that came closer than the last of them;
//  - the box: what the default policy chose from those candidates, or
//    nothing while the box is stale (a write changed the candidates in a way
//    that may change the box).
//
// This class only stores and decides "may the box have changed?"; ranking a
// box needs vectors and metadata, so ArticleIndex does it. Slots must be
// stable (the HNSW index never moves a vector). Not thread-safe: ArticleIndex
// guards it with its index lock.
#ifndef RELATED_SERVER_CORE_RELATED_LISTS_H_
#define RELATED_SERVER_CORE_RELATED_LISTS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/core/article_cards.h"
#include "server/core/state_io.h"
#include "server/core/vector_index.h"

namespace related {

// 8 bytes instead of Neighbor's 16: a million articles keep ~60M of these.
struct ListedNeighbor {
  uint32_t slot;
  float score;
};

// One article of a ranked box: its card (what the box shows of it, as it
// was when the box was ranked), its slot, and its similarity to the box's
// article. Reading the card straight from the box spares a lookup the slot
// table: at a million articles each random memory access costs about a
// microsecond on this project's machines (docs/performance.md).
struct BoxedArticle {
  CardRef card = kNoCard;
  uint32_t slot = 0;
  float score = 0;
};

// The default box size. A box up to this size is stored inside its list,
// so a lookup reads the box where it finds the list.
inline constexpr size_t kInlineBoxSize = 10;

// A ranked box, as stored: the chosen articles in box order and what the
// ranking removed on the way.
struct StoredBox {
  absl::InlinedVector<BoxedArticle, kInlineBoxSize> chosen;
  uint16_t candidates_considered = 0;
  uint16_t removed_by_min_score = 0;
  uint16_t removed_as_near_duplicate = 0;
  // The ranking searched beyond the candidates (many near-duplicates).
  bool widened = false;
};

class RelatedLists {
 public:
  // `box_follows_similarity`: the default policy picks in order of
  // similarity (no diversity, no recency), so an article less similar than
  // the last one in a full box cannot change the box.
  RelatedLists(int pool_size, int box_size, bool box_follows_similarity);

  int pool_size() const { return pool_size_; }

  // A new article's candidates (best first; at most pool_size are kept).
  // Its box starts stale.
  void SetCandidates(Slot slot, const std::vector<Neighbor>& candidates);

  // A new article whose candidates come later (a bulk load sets them when
  // it finishes). Until SetCandidates its box is stale, it is not Listed,
  // and offers to it are ignored: its own search will find them.
  void AwaitCandidates(Slot slot);

  // Whether `slot`'s candidates were set. A lookup for an article that is
  // not listed must search.
  bool Listed(Slot slot) const;

  // Offers article `candidate`, at similarity `score`, to `owner`'s list.
  // Returns true if owner's box may have changed (it is then marked stale);
  // false also if owner is not Listed.
  bool Offer(Slot owner, Slot candidate, float score);

  // Takes article `gone` out of `owner`'s list. Returns true if owner's box
  // may have changed (it is then marked stale); false if owner is not
  // Listed.
  bool Withdraw(Slot owner, Slot gone);

  // Forgets the list of a removed article and returns its candidates: by
  // the symmetry of similarity, the lists most likely to hold it.
  std::vector<ListedNeighbor> Release(Slot slot);

  // The candidates of `slot`, best first (empty for an unknown slot).
  const std::vector<ListedNeighbor>& Candidates(Slot slot) const;

  // The box of `slot`, or nullptr while it is stale.
  const StoredBox* Box(Slot slot) const;
  // Changes each time what Box(slot) returns may change (0 for a slot never
  // listed; a remap of the cards does not count). See box_source.h.
  uint32_t Version(Slot slot) const;
  void SetBox(Slot slot, StoredBox box);
  // Sets every stored box entry's card to `card_of(entry)` (the cards were
  // laid out anew).
  void RemapCards(absl::FunctionRef<CardRef(const BoxedArticle&)> card_of);

  // Boxes waiting to be ranked again.
  int64_t StaleCount() const { return stale_count_; }

  // Every list and box for a snapshot, with `fingerprint`: what the boxes
  // were ranked under (default policy and limit), so that a server started
  // with other defaults ranks them again instead of serving these.
  void Save(absl::string_view fingerprint, StateWriter& out) const;
  // DATA_LOSS if the state is not what Save wrote for lists like these
  // (pool and box size, `fingerprint`) over `slot_count` slots whose cards
  // are in `cards`.
  absl::Status Load(absl::string_view fingerprint, Slot slot_count,
                    const ArticleCards& cards, StateReader& in);
  // Heap bytes held by the lists.
  int64_t MemoryBytes() const;

 private:
  struct List {
    std::vector<ListedNeighbor> candidates;
    StoredBox box;
    // Stale from SetCandidates until SetBox. A slot with no article is
    // fresh: nothing waits for it.
    bool fresh = true;
    // SetCandidates was called (see AwaitCandidates).
    bool listed = false;
    uint32_t version = 0;  // see Version
  };
  List& At(Slot slot);
  void MarkStale(List& list);

  const int pool_size_;
  const int box_size_;
  const bool box_follows_similarity_;
  std::vector<List> lists_;  // by slot
  // Slots released (removed articles): a bit each, small enough to stay in
  // cache while offers purge them from full lists.
  std::vector<bool> released_;
  int64_t stale_count_ = 0;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_RELATED_LISTS_H_
