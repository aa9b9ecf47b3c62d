// BoxCache: encoded default boxes, valid for one index state generation.
#include "server/service/box_cache.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace related {
namespace {

// For a cache that must not look further than the generation.
std::optional<uint64_t> Never(const BoxSource&) {
  ADD_FAILURE() << "an entry of the asked generation needs no check";
  return std::nullopt;
}

// For an index state in which every stored box has changed.
std::optional<uint64_t> Changed(const BoxSource&) { return std::nullopt; }

std::string Text(const grpc::Slice& slice) {
  return std::string(reinterpret_cast<const char*>(slice.begin()),
                     slice.size());
}

TEST(BoxCache, FindsWhatWasStoredForTheSameGenerationOnly) {
  BoxCache cache(16);
  EXPECT_FALSE(cache.Find("a", 1, Never).has_value());
  cache.Store("a", 1, grpc::Slice(std::string("box of a")), {});
  auto found = cache.Find("a", 1, Never);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(Text(*found), "box of a");
  EXPECT_FALSE(cache.Find("a", 2, Changed).has_value())
      << "a later state that changed the box";
  EXPECT_FALSE(cache.Find("b", 1, Never).has_value()) << "another article";
}

TEST(BoxCache, ANewerEntryReplacesItsSlotAndAnOlderOneDoesNot) {
  BoxCache cache(1);  // every article shares the one slot
  cache.Store("a", 5, grpc::Slice(std::string("a at 5")), {});
  cache.Store("b", 6, grpc::Slice(std::string("b at 6")), {});
  EXPECT_FALSE(cache.Find("a", 5, Never).has_value());
  ASSERT_TRUE(cache.Find("b", 6, Never).has_value());
  // A reader that read generation 4 finishes late: it must not replace the
  // entry of the newer state.
  cache.Store("a", 4, grpc::Slice(std::string("a at 4")), {});
  EXPECT_FALSE(cache.Find("a", 4, Never).has_value());
  EXPECT_EQ(Text(*cache.Find("b", 6, Never)), "b at 6");
}

// As many articles as the cache has entries, read in turn: with one slot per
// hash, the articles whose hashes met evicted each other on every turn
// (about a third of them at half load). Sets of ways keep each of them
// unless more land in one set than it has ways, which is rare.
TEST(BoxCache, ArticlesWhoseHashesMeetKeepTheirEntries) {
  constexpr int kEntries = 1024;
  constexpr int kArticles = kEntries / 2;
  BoxCache cache(kEntries);
  std::vector<std::string> ids;
  for (int i = 0; i < kArticles; ++i) ids.push_back("ag-" + std::to_string(i));
  for (const std::string& id : ids) {
    cache.Store(id, 1, grpc::Slice(std::string(100, 'x')), {});
  }
  int found = 0;
  for (const std::string& id : ids)
    found += cache.Find(id, 1, Never).has_value();
  // Direct-mapped, one article per occupied slot stays: 407 of the 512.
  EXPECT_GE(found, kArticles * 98 / 100);
}

TEST(BoxCache, AFullSetGivesUpItsStaleThenItsLeastRecentlyUsedEntry) {
  BoxCache cache(8);  // one set of eight ways: every article shares it
  for (int i = 0; i < 8; ++i) {
    cache.Store("old-" + std::to_string(i), 1, grpc::Slice(std::string("o")),
                {});
  }
  // A newer state: its entries replace the stale ones before any current.
  for (int i = 0; i < 7; ++i) {
    cache.Store("new-" + std::to_string(i), 2, grpc::Slice(std::string("n")),
                {});
  }
  for (int i = 0; i < 7; ++i) {
    EXPECT_TRUE(cache.Find("new-" + std::to_string(i), 2, Never).has_value())
        << i;
  }
  EXPECT_TRUE(cache.Find("old-7", 1, Never).has_value())
      << "one stale entry left";
  // Full of generation 2 (new-0 used last): the least recently used goes.
  cache.Store("new-7", 2, grpc::Slice(std::string("n")), {});
  EXPECT_TRUE(cache.Find("new-0", 2, Never).has_value());
  cache.Store("new-8", 2, grpc::Slice(std::string("n")), {});
  EXPECT_FALSE(cache.Find("new-1", 2, Never).has_value())
      << "least recently used";
  EXPECT_TRUE(cache.Find("new-0", 2, Never).has_value()) << "used since";
  EXPECT_TRUE(cache.Find("new-8", 2, Never).has_value());
}

TEST(BoxCache, ARereadOfTheSameArticleReplacesItsOwnEntry) {
  BoxCache cache(8);
  cache.Store("a", 1, grpc::Slice(std::string("a at 1")), {});
  cache.Store("a", 2, grpc::Slice(std::string("a at 2")), {});
  EXPECT_FALSE(cache.Find("a", 1, Never).has_value());
  EXPECT_EQ(Text(*cache.Find("a", 2, Never)), "a at 2");
  // Seven others still fit beside it: "a" took one way, not two.
  for (int i = 0; i < 7; ++i) {
    cache.Store("b" + std::to_string(i), 2, grpc::Slice(std::string("b")), {});
  }
  EXPECT_TRUE(cache.Find("a", 2, Never).has_value());
  for (int i = 0; i < 7; ++i) {
    EXPECT_TRUE(cache.Find("b" + std::to_string(i), 2, Never).has_value()) << i;
  }
}

TEST(BoxCache, AnEntryWhoseBoxReadsTheSameServesLaterGenerations) {
  BoxCache cache(16);
  BoxSource source;
  source.precomputed = true;
  source.slot = 7;
  source.shown = {{3, 1}, {9, 2}};
  cache.Store("a", 1, grpc::Slice(std::string("box of a")), source);
  // A write elsewhere: generation 4; the index finds a's box unchanged.
  int checks = 0;
  auto found = cache.Find("a", 4, [&](const BoxSource& asked) {
    ++checks;
    EXPECT_EQ(asked.slot, 7u);
    EXPECT_EQ(asked.shown, source.shown) << "the source stored with it";
    return std::optional<uint64_t>(4);
  });
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(Text(*found), "box of a");
  EXPECT_EQ(checks, 1);
  // From then on it holds for generation 4 without a check.
  EXPECT_EQ(Text(*cache.Find("a", 4, Never)), "box of a");
  // A write that changed it: a miss, and the entry is not served again
  // until it is stored anew.
  EXPECT_FALSE(cache.Find("a", 5, Changed).has_value());
  EXPECT_FALSE(cache.Find("a", 5, Changed).has_value());
  cache.Store("a", 5, grpc::Slice(std::string("new box of a")), source);
  EXPECT_EQ(Text(*cache.Find("a", 5, Never)), "new box of a");
}

TEST(BoxCache, ZeroEntriesKeepsNothing) {
  BoxCache cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.Store("a", 1, grpc::Slice(std::string("box")), {});
  EXPECT_FALSE(cache.Find("a", 1, Never).has_value());
}

TEST(BoxCache, TheStoredBytesAreSharedNotCopied) {
  BoxCache cache(4);
  // (Longer than what a slice holds inline, as every box is.)
  grpc::Slice bytes(std::string(200, 'x'));
  cache.Store("a", 1, bytes, {});
  EXPECT_EQ(cache.Find("a", 1, Never)->begin(), bytes.begin());
}

}  // namespace
}  // namespace related
