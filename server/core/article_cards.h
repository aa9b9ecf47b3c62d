// ArticleCards: what a related box shows of each article (ID, title, URL,
// section, language, publication time, attributes), packed into one small
// contiguous record per article, the article's "card", in large blocks.
//
// The cards are the only copy of the articles' metadata the index keeps:
// filters, recency, GetArticle and snapshots read them too. Why this form:
// at a million articles a precomputed lookup costs what its memory reads
// cost, and on this project's machines that is the number of distinct pages
// it touches (docs/performance.md). An ArticleMetadata is a 200-byte object
// whose title and URL are further heap blocks, somewhere in gigabytes of
// heap; a card holds the same in ~130 bytes, and the cards are laid out
// again after a bulk load so that the cards of one box sit next to each
// other (server/core/card_layout.h).
//
// Cards are immutable except for their `retired` mark; a rewritten article
// gets a new card. Not thread-safe: ArticleIndex guards it with its lock.
#ifndef RELATED_SERVER_CORE_ARTICLE_CARDS_H_
#define RELATED_SERVER_CORE_ARTICLE_CARDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/article.h"
#include "server/core/state_io.h"

namespace related {

// Where a card is: its block and its offset in 8-byte units (32 bits: a box
// entry stays 12 bytes).
using CardRef = uint32_t;
inline constexpr CardRef kNoCard = UINT32_MAX;

// A card as read: views into the store, valid until the store changes.
struct ArticleCard {
  absl::string_view id;
  absl::string_view title;
  absl::string_view url;
  absl::string_view section;
  absl::string_view language;
  std::optional<absl::Time> published_at;
  // Key/value pairs in key order; read them with ForEachAttribute.
  absl::string_view encoded_attributes;
};

void ForEachAttribute(
    const ArticleCard& card,
    absl::FunctionRef<void(absl::string_view key, absl::string_view value)>
        visit);

// The value of the card's attribute `key`, or nullopt if it has none.
std::optional<absl::string_view> FindAttribute(const ArticleCard& card,
                                               absl::string_view key);

// The metadata the card holds, copied out of the store.
ArticleMetadata MetadataOf(const ArticleCard& card);

// One card outside any store, for code that has an ArticleMetadata and
// wants to treat it as a card (the service encodes both the same way).
class OwnedCard {
 public:
  OwnedCard(const ArticleId& id, const ArticleMetadata& metadata);
  const ArticleCard& card() const { return card_; }

 private:
  std::string bytes_;
  ArticleCard card_;
};

class ArticleCards {
 public:
  ArticleCards() = default;
  ArticleCards(ArticleCards&&) = default;
  ArticleCards& operator=(ArticleCards&&) = default;

  CardRef Add(const ArticleId& id, const ArticleMetadata& metadata);
  // Appends a copy of `from`'s card (used to lay cards out anew).
  CardRef Copy(const ArticleCards& from, CardRef card);

  ArticleCard Get(CardRef card) const;

  // Marks a card as no longer its article's: the article was rewritten or
  // deleted. Its bytes stay until the cards are laid out again.
  void Retire(CardRef card);
  bool Retired(CardRef card) const { return *Bytes(card) != 0; }

  // Where the card is in memory (to count the pages a box touches).
  const void* Address(CardRef card) const { return Bytes(card); }

  // Starts loading the card into the CPU caches.
  void Prefetch(CardRef card) const;

  // Bytes of the cards not retired, and of those retired.
  int64_t LiveBytes() const { return live_bytes_; }
  int64_t RetiredBytes() const { return retired_bytes_; }
  // Heap bytes held (whole blocks).
  int64_t MemoryBytes() const { return allocated_bytes_; }

  // Whether `card` is a card of this store: inside a block, with a header
  // and lengths that fit. For references read back from a snapshot.
  bool Valid(CardRef card) const;

  // The blocks as they are, so that a restart finds every card where it was
  // (and so every box's pages as they were laid out).
  void Save(StateWriter& out) const;
  // DATA_LOSS if the state is not what Save wrote.
  static absl::StatusOr<ArticleCards> Load(StateReader& in);

 private:
  // Large enough that a block's page-table entries are few; a card larger
  // than this (metadata can be up to 64 KB by default, more if configured)
  // gets a block of its own.
  static constexpr size_t kBlockBytes = size_t{1} << 20;
  static constexpr int kOffsetBits = 17;  // kBlockBytes / 8 offsets

  const char* Bytes(CardRef card) const {
    return blocks_[card >> kOffsetBits].get() +
           size_t{card & ((CardRef{1} << kOffsetBits) - 1)} * 8;
  }
  // Room for `size` bytes; returns the card's place.
  CardRef Allocate(size_t size, char** at);

  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<size_t> block_bytes_;    // each block's size
  size_t used_in_last_ = kBlockBytes;  // no block yet: the next one is new
  int64_t live_bytes_ = 0;
  int64_t retired_bytes_ = 0;
  int64_t allocated_bytes_ = 0;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_ARTICLE_CARDS_H_
