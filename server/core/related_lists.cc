#include "server/core/related_lists.h"

#include <algorithm>
#include <utility>

namespace related {

RelatedLists::RelatedLists(int pool_size, int box_size,
                           bool box_follows_similarity)
    : pool_size_(pool_size),
      box_size_(box_size),
      box_follows_similarity_(box_follows_similarity) {}

RelatedLists::List& RelatedLists::At(Slot slot) {
  if (static_cast<size_t>(slot) >= lists_.size()) {
    // Slots grow by one per written vector; the vector's own capacity growth
    // amortises that. Only lists up to the highest slot are constructed, so
    // the spare capacity is never touched (a list with its inline box is 168
    // bytes; resizing to 1.5x the size would construct up to 84 MB of lists
    // for no slot at 1M).
    lists_.resize(slot + 1);
  }
  return lists_[slot];
}

namespace {

// Empties a box in place. (Assigning StoredBox{} copies the empty inline
// storage, which GCC 12 reports as a use of uninitialised memory.)
void Clear(StoredBox& box) {
  box.chosen.clear();
  box.candidates_considered = 0;
  box.removed_by_min_score = 0;
  box.removed_as_near_duplicate = 0;
  box.widened = false;
}

}  // namespace

void RelatedLists::MarkStale(List& list) {
  ++list.version;
  if (!list.fresh) return;
  list.fresh = false;
  Clear(list.box);
  ++stale_count_;
}

void RelatedLists::SetCandidates(Slot slot,
                                 const std::vector<Neighbor>& candidates) {
  List& list = At(slot);
  list.candidates.clear();
  const size_t keep =
      std::min(candidates.size(), static_cast<size_t>(pool_size_));
  // Room for a full list up front: later offers then never reallocate (a
  // vector growing by doubling would hold up to twice the pool).
  list.candidates.reserve(pool_size_);
  for (size_t i = 0; i < keep; ++i) {
    list.candidates.push_back(
        {static_cast<uint32_t>(candidates[i].slot), candidates[i].score});
  }
  list.listed = true;
  MarkStale(list);
}

void RelatedLists::AwaitCandidates(Slot slot) {
  List& list = At(slot);
  list.candidates.clear();
  list.listed = false;
  MarkStale(list);
}

bool RelatedLists::Listed(Slot slot) const {
  return static_cast<size_t>(slot) < lists_.size() && lists_[slot].listed;
}

bool RelatedLists::Offer(Slot owner, Slot candidate, float score) {
  if (!Listed(owner)) return false;
  List& list = lists_[owner];
  auto& c = list.candidates;
  for (const ListedNeighbor& n : c) {
    // Already listed (two new articles of one write find each other).
    if (n.slot == static_cast<uint32_t>(candidate)) return false;
  }
  if (c.size() >= static_cast<size_t>(pool_size_)) {
    // Removed articles still listed (in lists they were not withdrawn
    // from) make room first, so they never keep a live one out.
    c.erase(std::remove_if(c.begin(), c.end(),
                           [this](const ListedNeighbor& n) {
                             return n.slot < released_.size() &&
                                    released_[n.slot];
                           }),
            c.end());
  }
  // After the equal scores already there: ties keep the older article first.
  auto position = std::upper_bound(
      c.begin(), c.end(), score,
      [](float s, const ListedNeighbor& n) { return s > n.score; });
  if (c.size() >= static_cast<size_t>(pool_size_)) {
    if (position == c.end()) return false;  // not among the most similar
    c.pop_back();  // the least similar makes room (position is before it)
  }
  c.insert(position, {static_cast<uint32_t>(candidate), score});

  if (!list.fresh) return true;
  const auto& chosen = list.box.chosen;
  if (box_follows_similarity_ && !list.box.widened &&
      chosen.size() >= static_cast<size_t>(box_size_) &&
      score < chosen.back().score) {
    // Picks go in order of similarity, and the box filled up before this
    // candidate's turn: the same box.
    return false;
  }
  MarkStale(list);
  return true;
}

bool RelatedLists::Withdraw(Slot owner, Slot gone) {
  if (!Listed(owner)) return false;
  List& list = lists_[owner];
  // Matches candidates (ListedNeighbor) and box entries (BoxedArticle).
  const auto is_gone = [gone](const auto& n) {
    return n.slot == static_cast<uint32_t>(gone);
  };
  auto& c = list.candidates;
  c.erase(std::remove_if(c.begin(), c.end(), is_gone), c.end());
  if (!list.fresh) return true;
  // A candidate the box did not choose leaves the box as it was.
  if (std::none_of(list.box.chosen.begin(), list.box.chosen.end(), is_gone)) {
    return false;
  }
  MarkStale(list);
  return true;
}

std::vector<ListedNeighbor> RelatedLists::Release(Slot slot) {
  if (static_cast<size_t>(slot) >= released_.size()) {
    released_.resize(std::max<size_t>(slot + 1, released_.size() * 3 / 2));
  }
  released_[slot] = true;
  if (static_cast<size_t>(slot) >= lists_.size()) return {};
  List& list = lists_[slot];
  ++list.version;
  std::vector<ListedNeighbor> candidates = std::move(list.candidates);
  list.candidates = {};
  if (!list.fresh) --stale_count_;
  Clear(list.box);
  list.fresh = true;  // nothing waits for a removed article's box
  list.listed = false;
  return candidates;
}

const std::vector<ListedNeighbor>& RelatedLists::Candidates(Slot slot) const {
  static const std::vector<ListedNeighbor> kNone;
  if (static_cast<size_t>(slot) >= lists_.size()) return kNone;
  return lists_[slot].candidates;
}

const StoredBox* RelatedLists::Box(Slot slot) const {
  if (static_cast<size_t>(slot) >= lists_.size() || !lists_[slot].fresh) {
    return nullptr;
  }
  return &lists_[slot].box;
}

uint32_t RelatedLists::Version(Slot slot) const {
  return static_cast<size_t>(slot) < lists_.size() ? lists_[slot].version : 0;
}

void RelatedLists::SetBox(Slot slot, StoredBox box) {
  List& list = At(slot);
  ++list.version;
  if (!list.fresh) --stale_count_;
  list.fresh = true;
  list.box = std::move(box);
}

void RelatedLists::RemapCards(
    absl::FunctionRef<CardRef(const BoxedArticle&)> card_of) {
  for (List& list : lists_) {
    for (BoxedArticle& entry : list.box.chosen) entry.card = card_of(entry);
  }
}

namespace {

// A list as a snapshot holds it: flags, then the candidates and the box.
struct SavedBoxHeader {
  uint16_t candidates_considered;
  uint16_t removed_by_min_score;
  uint16_t removed_as_near_duplicate;
  uint8_t widened;
  uint8_t fresh;
  uint8_t listed;
  uint8_t unused = 0;  // no padding: every byte written is defined
};

}  // namespace

void RelatedLists::Save(absl::string_view fingerprint, StateWriter& out) const {
  out.Array(fingerprint.data(), fingerprint.size());
  out.Value<int32_t>(pool_size_);
  out.Value<int32_t>(box_size_);
  out.Value<uint8_t>(box_follows_similarity_);
  out.Value<uint64_t>(lists_.size());
  for (const List& list : lists_) {
    const StoredBox& box = list.box;
    out.Value(SavedBoxHeader{
        box.candidates_considered, box.removed_by_min_score,
        box.removed_as_near_duplicate, static_cast<uint8_t>(box.widened),
        static_cast<uint8_t>(list.fresh), static_cast<uint8_t>(list.listed)});
    out.Array(list.candidates);
    out.Array(box.chosen.data(), box.chosen.size());
  }
  std::vector<uint8_t> released(released_.begin(), released_.end());
  out.Array(released);
}

namespace {

// Whether a loaded list's candidates and box fit their sizes and name only
// slots and cards that exist.
bool RefersToWhatExists(const std::vector<ListedNeighbor>& candidates,
                        const std::vector<BoxedArticle>& chosen,
                        int32_t max_candidates, int32_t max_chosen,
                        Slot slot_count, const ArticleCards& cards) {
  const auto bad_slot = [&](uint32_t s) {
    return s >= static_cast<uint64_t>(slot_count);
  };
  return candidates.size() <= static_cast<size_t>(max_candidates) &&
         chosen.size() <= static_cast<size_t>(max_chosen) &&
         std::none_of(
             candidates.begin(), candidates.end(),
             [&](const ListedNeighbor& n) { return bad_slot(n.slot); }) &&
         std::none_of(chosen.begin(), chosen.end(), [&](const BoxedArticle& e) {
           return bad_slot(e.slot) ||
                  (e.card != kNoCard && !cards.Valid(e.card));
         });
}

}  // namespace

absl::Status RelatedLists::Load(absl::string_view fingerprint, Slot slot_count,
                                const ArticleCards& cards, StateReader& in) {
  std::vector<char> saved;
  in.Array(saved);
  const int32_t pool = in.Value<int32_t>();
  const int32_t box_size = in.Value<int32_t>();
  const bool by_similarity = in.Value<uint8_t>() != 0;
  if (in.status().ok() &&
      (absl::string_view(saved.data(), saved.size()) != fingerprint ||
       pool != pool_size_ || box_size != box_size_ ||
       by_similarity != box_follows_similarity_)) {
    in.Fail("the lists were ranked under another default policy or limit");
  }
  const uint64_t count = in.Value<uint64_t>();
  if (in.status().ok() && count > static_cast<uint64_t>(slot_count)) {
    in.Fail("more lists than slots");
  }
  lists_.clear();
  stale_count_ = 0;
  // Room past the loaded lists for the writes after a restart: growing a
  // vector of lists moves every list.
  if (in.status().ok()) lists_.reserve(count + count / 2);
  for (uint64_t slot = 0; slot < count && in.status().ok(); ++slot) {
    List& list = lists_.emplace_back();
    const auto header = in.Value<SavedBoxHeader>();
    // Room for a full list, as SetCandidates makes.
    if (header.listed) list.candidates.reserve(pool_size_);
    in.Array(list.candidates);
    std::vector<BoxedArticle> chosen;
    in.Array(chosen);
    if (!in.status().ok()) break;
    if (!RefersToWhatExists(list.candidates, chosen, pool_size_,
                            std::max(box_size_, pool_size_), slot_count,
                            cards)) {
      in.Fail("a list refers to slots or cards that do not exist");
      break;
    }
    list.box.chosen.assign(chosen.begin(), chosen.end());
    list.box.candidates_considered = header.candidates_considered;
    list.box.removed_by_min_score = header.removed_by_min_score;
    list.box.removed_as_near_duplicate = header.removed_as_near_duplicate;
    list.box.widened = header.widened != 0;
    list.fresh = header.fresh != 0;
    list.listed = header.listed != 0;
    if (!list.fresh) ++stale_count_;
  }
  std::vector<uint8_t> released;
  in.Array(released);
  released_.assign(released.begin(), released.end());
  if (!in.status().ok()) {
    lists_.clear();
    released_.clear();
    stale_count_ = 0;
  }
  return in.status();
}

int64_t RelatedLists::MemoryBytes() const {
  int64_t bytes = static_cast<int64_t>(lists_.capacity() * sizeof(List) +
                                       released_.capacity() / 8);
  for (const List& list : lists_) {
    bytes += static_cast<int64_t>(list.candidates.capacity() *
                                  sizeof(ListedNeighbor));
    // A box larger than kInlineBoxSize lives on the heap.
    if (list.box.chosen.capacity() > kInlineBoxSize) {
      bytes += static_cast<int64_t>(list.box.chosen.capacity() *
                                    sizeof(BoxedArticle));
    }
  }
  return bytes;
}

}  // namespace related
