// ArticleCards keeps what a box shows of an article exactly as written, in
// one record per article, and reclaims nothing until it is laid out anew.
#include "server/core/article_cards.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace related {
namespace {

ArticleMetadata FullMetadata() {
  ArticleMetadata m;
  m.title = "Ministers agree on a budget after a night of talks";
  m.url = "https://news.example/2026/11/29/politics/budget-agreed";
  m.section = "politics";
  m.language = "en";
  m.published_at = absl::FromUnixSeconds(-14182940) + absl::Nanoseconds(5);
  m.attributes = {{"author", "A. Writer"}, {"", "empty key"}, {"tag", ""}};
  return m;
}


TEST(ArticleCards, CardsReadBackAsWritten) {
  ArticleCards cards;
  const ArticleMetadata full = FullMetadata();
  ArticleMetadata bare;  // every field empty, no publication time
  ArticleMetadata future;
  future.published_at = absl::InfiniteFuture();
  ArticleMetadata past;
  past.published_at = absl::InfinitePast();
  const std::vector<std::pair<ArticleId, ArticleMetadata>> written = {
      {"2026/11/29/politics/budget", full},
      {"x", bare},
      {"future", future},
      {"past", past}};
  std::vector<CardRef> refs;
  for (const auto& [id, metadata] : written) {
    refs.push_back(cards.Add(id, metadata));
  }
  for (size_t i = 0; i < written.size(); ++i) {
    const ArticleCard card = cards.Get(refs[i]);
    EXPECT_EQ(card.id, written[i].first);
    EXPECT_EQ(MetadataOf(card), written[i].second) << written[i].first;
    EXPECT_FALSE(cards.Retired(refs[i]));
  }
  // Key order, as the std::map the attributes came from.
  std::vector<std::string> keys;
  ForEachAttribute(cards.Get(refs[0]),
                   [&](absl::string_view key, absl::string_view) {
                     keys.emplace_back(key);
                   });
  EXPECT_EQ(keys, (std::vector<std::string>{"", "author", "tag"}));

  const OwnedCard owned("2026/11/29/politics/budget", full);
  EXPECT_EQ(owned.card().id, "2026/11/29/politics/budget");
  EXPECT_EQ(MetadataOf(owned.card()), full);
}

TEST(ArticleCards, RetiringCountsBytesAndCopiesAreLive) {
  ArticleCards cards;
  const CardRef first = cards.Add("first", FullMetadata());
  const CardRef second = cards.Add("second", FullMetadata());
  const int64_t live = cards.LiveBytes();
  EXPECT_GT(live, 0);
  EXPECT_EQ(cards.RetiredBytes(), 0);

  cards.Retire(first);
  cards.Retire(first);  // once only
  EXPECT_TRUE(cards.Retired(first));
  EXPECT_FALSE(cards.Retired(second));
  EXPECT_EQ(cards.LiveBytes() + cards.RetiredBytes(), live);
  EXPECT_EQ(cards.RetiredBytes(), live / 2);
  // A retired card still reads back: a reader may hold its box.
  EXPECT_EQ(cards.Get(first).id, "first");

  ArticleCards laid_out;
  const CardRef copy = laid_out.Copy(cards, first);
  EXPECT_FALSE(laid_out.Retired(copy));
  EXPECT_EQ(laid_out.Get(copy).id, "first");
  EXPECT_EQ(MetadataOf(laid_out.Get(copy)), FullMetadata());
  EXPECT_EQ(laid_out.RetiredBytes(), 0);
}

// Cards fill blocks one after the other; a card larger than a block gets
// its own, and the cards around it stay readable.
TEST(ArticleCards, ManyAndLargeCards) {
  ArticleCards cards;
  ArticleMetadata large;
  large.title = std::string(3 << 20, 't');  // larger than a block
  std::vector<CardRef> refs;
  for (int i = 0; i < 30000; ++i) {
    ArticleMetadata m;
    m.title = "Article " + std::to_string(i);
    refs.push_back(cards.Add("id-" + std::to_string(i), m));
    if (i == 15000) refs.push_back(cards.Add("large", large));
  }
  EXPECT_GE(cards.MemoryBytes(), cards.LiveBytes());
  for (int i = 0, r = 0; i < 30000; ++i, ++r) {
    const ArticleCard card = cards.Get(refs[r]);
    ASSERT_EQ(card.id, "id-" + std::to_string(i));
    ASSERT_EQ(card.title, "Article " + std::to_string(i));
    if (i == 15000) {
      ++r;
      EXPECT_EQ(cards.Get(refs[r]).title.size(), size_t{3} << 20);
    }
  }
}

}  // namespace
}  // namespace related
