// ArticleTable: the articles by slot. An article lives at a slot, the
// position of its vector in the VectorIndex; the table maps its ID to that
// slot and the slot to the article's card (its ID and metadata: the one copy
// of them the index keeps, see article_cards.h) and its text. Every change of
// which article is where goes through here, so the two maps cannot drift apart.
//
// Not thread-safe: ArticleIndex holds its index lock around every call
// (shared for the const methods, exclusive for the others).
#ifndef RELATED_SERVER_CORE_ARTICLE_TABLE_H_
#define RELATED_SERVER_CORE_ARTICLE_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/article.h"
#include "server/core/article_cards.h"
#include "server/core/state_io.h"
#include "server/core/vector_index.h"

namespace related {

class ArticleTable {
 public:
  // The slot of article `id`, or nullopt if it is not stored.
  std::optional<Slot> Find(absl::string_view id) const;

  // Articles stored.
  int64_t size() const { return static_cast<int64_t>(slot_of_.size()); }
  // One past the highest slot ever filled and not given back by a move
  // (slots in between may be empty).
  Slot slot_count() const { return static_cast<Slot>(card_at_.size()); }
  bool Occupied(Slot slot) const { return card_at_[slot] != kNoCard; }

  // The card of the article at `slot`; kNoCard if the slot is empty.
  CardRef CardAt(Slot slot) const { return card_at_[slot]; }
  // Changes each time `slot` gets another card or loses its card (Put,
  // Unmap, Remove); 0 for a slot never filled. See box_source.h.
  uint32_t VersionAt(Slot slot) const {
    return slot < static_cast<Slot>(version_at_.size()) ? version_at_[slot] : 0;
  }
  const ArticleCards& cards() const { return cards_; }
  // The card of the article at an occupied `slot`.
  ArticleCard CardOf(Slot slot) const { return cards_.Get(card_at_[slot]); }

  // Stores article `id` with `metadata` and `text` at `slot`, which is either
  // the slot it has (new metadata, same vector) or a slot just added to the
  // vector index (`slot` >= slot_count() or empty). The slot's previous card is
  // retired, unless the slot holds the article already with the same
  // metadata and text: then nothing changes, not even VersionAt(slot). If the
  // article was at another slot, returns that slot: it still holds the old
  // card and must be removed with Remove.
  std::optional<Slot> Put(Slot slot, const ArticleId& id,
                          const ArticleMetadata& metadata,
                          const std::string& text = {});

  // The text of the article at an occupied `slot` (empty if it has none).
  const std::string& TextAt(Slot slot) const;
  // Bytes of text held (for stats: what keeping texts costs).
  int64_t text_bytes() const { return text_bytes_; }

  // Forgets article `id` (a delete) and returns its slot, which must then be
  // removed with Remove; nullopt if it is not stored.
  std::optional<Slot> Unmap(absl::string_view id);

  // Empties `slot`, whose article was replaced or deleted, retiring its
  // card. `move` is what the vector index did to fill the hole (see
  // VectorIndex::Remove): the article at move->from now lives at `slot`.
  void Remove(Slot slot, std::optional<SlotMove> move);

  // Calls `visit` for every stored article, in no particular order.
  void ForEach(
      absl::FunctionRef<void(absl::string_view id, Slot slot)> visit) const;

  // Replaces the cards with `cards`, where the article at slot s has card
  // `card_at[s]` (a new layout, see card_layout.h). Hands the old cards
  // back through the arguments, so that the caller can free them outside
  // its lock.
  void SwapCards(ArticleCards& cards, std::vector<CardRef>& card_at);

  // The table for a snapshot: each slot's card reference, then the cards,
  // then (only if any article has text, so that a table without texts
  // reads as before) each slot's text.
  void Save(StateWriter& out) const;
  // DATA_LOSS if the state is not what Save wrote: a reference outside the
  // cards, an ID stored twice.
  static absl::StatusOr<ArticleTable> Load(StateReader& in);

 private:
  // Whether article `id` is at `slot` with exactly `metadata` and `text`.
  bool Holds(Slot slot, absl::string_view id, const ArticleMetadata& metadata,
             const std::string& text) const;
  void SetText(Slot slot, std::string text);
  void Bump(Slot slot);
  absl::Status LoadTexts(StateReader& in);

  absl::flat_hash_map<ArticleId, Slot> slot_of_;
  std::vector<CardRef> card_at_;  // by slot
  // By slot (see VersionAt); not saved: a loaded table starts a new epoch.
  std::vector<uint32_t> version_at_;
  // By slot; shorter than card_at_ while the highest slots have no text.
  std::vector<std::string> text_at_;
  int64_t text_bytes_ = 0;
  ArticleCards cards_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_ARTICLE_TABLE_H_
