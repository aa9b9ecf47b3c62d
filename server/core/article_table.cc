#include "server/core/article_table.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace related {

std::optional<Slot> ArticleTable::Find(absl::string_view id) const {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return std::nullopt;
  return it->second;
}

namespace {
const std::string kNoText;
}  // namespace

std::optional<Slot> ArticleTable::Put(Slot slot, const ArticleId& id,
                                      const ArticleMetadata& metadata,
                                      const std::string& text) {
  if (slot >= slot_count()) card_at_.resize(slot + 1, kNoCard);
  // The article sent again unchanged (a CMS re-sync) keeps its card, its
  // place in the card layout and its version: boxes showing it stay cached.
  if (Holds(slot, id, metadata, text)) return std::nullopt;
  Bump(slot);
  SetText(slot, text);
  CardRef& card = card_at_[slot];
  if (card != kNoCard) cards_.Retire(card);
  card = cards_.Add(id, metadata);
  auto [entry, inserted] = slot_of_.try_emplace(id, slot);
  if (inserted || entry->second == slot) return std::nullopt;
  return std::exchange(entry->second, slot);
}

bool ArticleTable::Holds(Slot slot, absl::string_view id,
                         const ArticleMetadata& metadata,
                         const std::string& text) const {
  if (!Occupied(slot) || Find(id) != slot || TextAt(slot) != text) {
    return false;
  }
  return MetadataOf(CardOf(slot)) == metadata;
}

std::optional<Slot> ArticleTable::Unmap(absl::string_view id) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return std::nullopt;
  const Slot slot = it->second;
  slot_of_.erase(it);
  Bump(slot);
  return slot;
}

void ArticleTable::Bump(Slot slot) {
  if (slot >= static_cast<Slot>(version_at_.size())) {
    version_at_.resize(slot + 1, 0);
  }
  ++version_at_[slot];
}

const std::string& ArticleTable::TextAt(Slot slot) const {
  return slot < static_cast<Slot>(text_at_.size()) ? text_at_[slot] : kNoText;
}

void ArticleTable::SetText(Slot slot, std::string text) {
  if (text.empty() && slot >= static_cast<Slot>(text_at_.size())) return;
  if (slot >= static_cast<Slot>(text_at_.size())) text_at_.resize(slot + 1);
  text_bytes_ += static_cast<int64_t>(text.size()) -
                 static_cast<int64_t>(text_at_[slot].size());
  text_at_[slot] = std::move(text);
}

void ArticleTable::Remove(Slot slot, std::optional<SlotMove> move) {
  Bump(slot);
  if (move.has_value()) Bump(move->from);
  cards_.Retire(card_at_[slot]);
  SetText(slot, {});
  if (!move.has_value()) {
    card_at_[slot] = kNoCard;
    return;
  }
  if (move->from < static_cast<Slot>(text_at_.size())) {
    std::string moved = std::exchange(text_at_[move->from], {});
    text_bytes_ -= static_cast<int64_t>(moved.size());
    SetText(move->to, std::move(moved));
    text_at_.resize(move->from);
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
  if (text_bytes_ == 0) return;
  out.Value<uint64_t>(text_at_.size());
  for (const std::string& text : text_at_) out.Array(text.data(), text.size());
}

absl::Status ArticleTable::LoadTexts(StateReader& in) {
  const auto count = in.Value<uint64_t>();
  if (!in.status().ok()) return in.status();
  if (count > static_cast<uint64_t>(slot_count())) {
    return absl::DataLossError(
        absl::StrCat(count, " texts for ", slot_count(), " slots"));
  }
  for (Slot slot = 0; slot < static_cast<Slot>(count); ++slot) {
    std::vector<char> text;
    in.Array(text);
    if (!in.status().ok()) return in.status();
    if (!text.empty() && !Occupied(slot)) {
      return absl::DataLossError(
          absl::StrCat("slot ", slot, " has text but no article"));
    }
    SetText(slot, std::string(text.begin(), text.end()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ArticleTable> ArticleTable::Load(StateReader& in) {
  ArticleTable table;
  in.Array(table.card_at_);
  auto cards = ArticleCards::Load(in);
  if (!cards.ok()) return cards.status();
  table.cards_ = *std::move(cards);
  if (in.remaining() > 0) {
    if (absl::Status s = table.LoadTexts(in); !s.ok()) return s;
  }
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
