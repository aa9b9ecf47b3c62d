// Where the articles' cards sit in memory. A precomputed GetRelated reads
// the ten cards of one box; at a million articles what it costs is the
// number of distinct pages those reads touch (docs/performance.md). So after
// a bulk load, and whenever retired cards outweigh the live ones, every
// live card is copied again, in the order of a breadth-first walk over the
// stored boxes: an article's box members follow it, then theirs, and a
// cluster of related articles ends up on a few consecutive pages.
//
// Building a layout only reads the table and the lists (the caller holds
// the index lock shared); installing it writes them (exclusive).
#ifndef RELATED_SERVER_CORE_CARD_LAYOUT_H_
#define RELATED_SERVER_CORE_CARD_LAYOUT_H_

#include <vector>

#include "server/core/article_cards.h"
#include "server/core/article_table.h"
#include "server/core/related_lists.h"

namespace related {

// The live slots in layout order: breadth first over the stored boxes from
// each slot not yet placed, in slot order. `lists` may be null (no lists
// kept): then slot order.
std::vector<Slot> CardOrder(const ArticleTable& articles,
                            const RelatedLists* lists);

// A new copy of every live card, in CardOrder, without the retired ones.
struct CardLayout {
  ArticleCards cards;
  std::vector<CardRef> card_at;  // by slot; kNoCard for an empty slot
};
CardLayout LayOutCards(const ArticleTable& articles, const RelatedLists* lists);

// Puts `layout` in place (the caller holds the index lock exclusively):
// every stored box entry then shows its slot's new card, a deleted
// article's entry kNoCard (its box counts as not fresh). The old cards come
// back in `layout`, so that the caller can free them after the lock.
void InstallLayout(CardLayout& layout, ArticleTable& articles,
                   RelatedLists* lists);

// Whether the retired cards outweigh the live ones (and 1 MiB): reclaiming
// them then costs a layout paid for by as many bytes of writes, and the
// cards never take more than about twice their live size.
bool CardsNeedLayout(const ArticleCards& cards);

// The mean number of distinct 4 KB pages the cards of a stored box span
// (0 without lists, i.e. `lists` null, or boxes). Reads only the box entries'
// references, which right after a layout are every entry's current card.
double CardPagesPerBox(const ArticleCards& cards, const RelatedLists* lists,
                       Slot slot_count);

}  // namespace related

#endif  // RELATED_SERVER_CORE_CARD_LAYOUT_H_
