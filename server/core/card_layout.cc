#include "server/core/card_layout.h"

#include <algorithm>
#include <cstdint>

namespace related {

std::vector<Slot> CardOrder(const ArticleTable& articles,
                            const RelatedLists* lists) {
  const Slot slots = articles.slot_count();
  std::vector<bool> placed(slots, false);
  std::vector<Slot> order;
  order.reserve(slots);
  const auto place = [&](Slot slot) {
    if (placed[slot] || !articles.Occupied(slot)) return;
    placed[slot] = true;
    order.push_back(slot);
  };
  for (Slot root = 0; root < slots; ++root) {
    // `order` doubles as the queue: the walk is at `next`.
    size_t next = order.size();
    place(root);
    for (; next < order.size(); ++next) {
      const StoredBox* box =
          lists != nullptr ? lists->Box(order[next]) : nullptr;
      if (box == nullptr) continue;
      for (const BoxedArticle& entry : box->chosen) place(entry.slot);
    }
  }
  return order;
}

CardLayout LayOutCards(const ArticleTable& articles,
                       const RelatedLists* lists) {
  CardLayout layout;
  layout.card_at.assign(articles.slot_count(), kNoCard);
  for (Slot slot : CardOrder(articles, lists)) {
    layout.card_at[slot] =
        layout.cards.Copy(articles.cards(), articles.CardAt(slot));
  }
  return layout;
}

void InstallLayout(CardLayout& layout, ArticleTable& articles,
                   RelatedLists* lists) {
  if (lists != nullptr) {
    lists->RemapCards(
        [&](const BoxedArticle& entry) { return layout.card_at[entry.slot]; });
  }
  articles.SwapCards(layout.cards, layout.card_at);
}

bool CardsNeedLayout(const ArticleCards& cards) {
  return cards.RetiredBytes() >= std::max<int64_t>(cards.LiveBytes(), 1 << 20);
}

double CardPagesPerBox(const ArticleCards& cards, const RelatedLists* lists,
                       Slot slot_count) {
  if (lists == nullptr) return 0;
  int64_t boxes = 0, pages = 0;
  std::vector<uintptr_t> box_pages;
  for (Slot slot = 0; slot < slot_count; ++slot) {
    const StoredBox* box = lists->Box(slot);
    if (box == nullptr || box->chosen.empty()) continue;
    box_pages.clear();
    for (const BoxedArticle& entry : box->chosen) {
      if (entry.card == kNoCard) continue;
      box_pages.push_back(
          reinterpret_cast<uintptr_t>(cards.Address(entry.card)) >> 12);
    }
    std::sort(box_pages.begin(), box_pages.end());
    pages +=
        std::unique(box_pages.begin(), box_pages.end()) - box_pages.begin();
    ++boxes;
  }
  return boxes == 0 ? 0 : double(pages) / double(boxes);
}

}  // namespace related
