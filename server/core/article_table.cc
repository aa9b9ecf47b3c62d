#include "server/core/article_table.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace related {

std::optional<Slot> ArticleTable::Find(absl::string_view id) const {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return std::nullopt;
  return it->second;
}

std::optional<Slot> ArticleTable::Put(Slot slot, const ArticleId& id,
                                      const ArticleMetadata& metadata) {
  if (slot >= slot_count()) card_at_.resize(slot + 1, kNoCard);
  CardRef& card = card_at_[slot];
  if (card != kNoCard) cards_.Retire(card);
  card = cards_.Add(id, metadata);
  auto [entry, inserted] = slot_of_.try_emplace(id, slot);
  if (inserted || entry->second == slot) return std::nullopt;
  return std::exchange(entry->second, slot);
}

std::optional<Slot> ArticleTable::Unmap(absl::string_view id) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return std::nullopt;
  const Slot slot = it->second;
  slot_of_.erase(it);
  return slot;
}

void ArticleTable::Remove(Slot slot, std::optional<SlotMove> move) {
  cards_.Retire(card_at_[slot]);
  if (!move.has_value()) {
    card_at_[slot] = kNoCard;
    return;
  }
  // The moved article's ID is read from its own card.
  const CardRef moved = card_at_[move->from];
  slot_of_.find(cards_.Get(moved).id)->second = move->to;
  card_at_[move->to] = moved;
  card_at_.resize(move->from);
}

void ArticleTable::ForEach(
    absl::FunctionRef<void(absl::string_view id, Slot slot)> visit) const {
  for (const auto& [id, slot] : slot_of_) visit(id, slot);
}

void ArticleTable::Save(StateWriter& out) const {
  out.Array(card_at_);
  cards_.Save(out);
}

absl::StatusOr<ArticleTable> ArticleTable::Load(StateReader& in) {
  ArticleTable table;
  in.Array(table.card_at_);
  auto cards = ArticleCards::Load(in);
  if (!cards.ok()) return cards.status();
  table.cards_ = *std::move(cards);
  for (Slot slot = 0; slot < table.slot_count(); ++slot) {
    const CardRef card = table.card_at_[slot];
    if (card == kNoCard) continue;
    if (!table.cards_.Valid(card) || table.cards_.Retired(card)) {
      return absl::DataLossError(
          absl::StrCat("slot ", slot, " refers to no live card"));
    }
    const absl::string_view id = table.cards_.Get(card).id;
    if (!table.slot_of_.try_emplace(id, slot).second) {
      return absl::DataLossError(
          absl::StrCat("article '", id, "' is stored at two slots"));
    }
  }
  return table;
}

void ArticleTable::SwapCards(ArticleCards& cards,
                             std::vector<CardRef>& card_at) {
  std::swap(cards_, cards);
  card_at_.swap(card_at);
}

}  // namespace related
