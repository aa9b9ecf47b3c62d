// BoxCache: encoded default boxes, valid for one index state generation.
#include "server/service/box_cache.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace related {
namespace {

std::string Text(const grpc::Slice& slice) {
  return std::string(reinterpret_cast<const char*>(slice.begin()),
                     slice.size());
}

TEST(BoxCache, FindsWhatWasStoredForTheSameGenerationOnly) {
  BoxCache cache(16);
  EXPECT_FALSE(cache.Find("a", 1).has_value());
  cache.Store("a", 1, grpc::Slice(std::string("box of a")));
  auto found = cache.Find("a", 1);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(Text(*found), "box of a");
  EXPECT_FALSE(cache.Find("a", 2).has_value()) << "a later state";
  EXPECT_FALSE(cache.Find("b", 1).has_value()) << "another article";
}

TEST(BoxCache, ANewerEntryReplacesItsSlotAndAnOlderOneDoesNot) {
  BoxCache cache(1);  // every article shares the one slot
  cache.Store("a", 5, grpc::Slice(std::string("a at 5")));
  cache.Store("b", 6, grpc::Slice(std::string("b at 6")));
  EXPECT_FALSE(cache.Find("a", 5).has_value());
  ASSERT_TRUE(cache.Find("b", 6).has_value());
  // A reader that read generation 4 finishes late: it must not replace the
  // entry of the newer state.
  cache.Store("a", 4, grpc::Slice(std::string("a at 4")));
  EXPECT_FALSE(cache.Find("a", 4).has_value());
  EXPECT_EQ(Text(*cache.Find("b", 6)), "b at 6");
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
    cache.Store(id, 1, grpc::Slice(std::string(100, 'x')));
  }
  int found = 0;
  for (const std::string& id : ids) found += cache.Find(id, 1).has_value();
  // Direct-mapped, one article per occupied slot stays: 407 of the 512.
  EXPECT_GE(found, kArticles * 98 / 100);
}

TEST(BoxCache, AFullSetGivesUpItsStaleThenItsLeastRecentlyUsedEntry) {
  BoxCache cache(8);  // one set of eight ways: every article shares it
  for (int i = 0; i < 8; ++i) {
    cache.Store("old-" + std::to_string(i), 1, grpc::Slice(std::string("o")));
  }
  // A newer state: its entries replace the stale ones before any current.
  for (int i = 0; i < 7; ++i) {
    cache.Store("new-" + std::to_string(i), 2, grpc::Slice(std::string("n")));
  }
  for (int i = 0; i < 7; ++i) {
    EXPECT_TRUE(cache.Find("new-" + std::to_string(i), 2).has_value()) << i;
  }
  EXPECT_TRUE(cache.Find("old-7", 1).has_value()) << "one stale entry left";
  // Full of generation 2 (new-0 used last): the least recently used goes.
  cache.Store("new-7", 2, grpc::Slice(std::string("n")));
  EXPECT_TRUE(cache.Find("new-0", 2).has_value());
  cache.Store("new-8", 2, grpc::Slice(std::string("n")));
  EXPECT_FALSE(cache.Find("new-1", 2).has_value()) << "least recently used";
  EXPECT_TRUE(cache.Find("new-0", 2).has_value()) << "used since";
  EXPECT_TRUE(cache.Find("new-8", 2).has_value());
}

TEST(BoxCache, ARereadOfTheSameArticleReplacesItsOwnEntry) {
  BoxCache cache(8);
  cache.Store("a", 1, grpc::Slice(std::string("a at 1")));
  cache.Store("a", 2, grpc::Slice(std::string("a at 2")));
  EXPECT_FALSE(cache.Find("a", 1).has_value());
  EXPECT_EQ(Text(*cache.Find("a", 2)), "a at 2");
  // Seven others still fit beside it: "a" took one way, not two.
  for (int i = 0; i < 7; ++i) {
    cache.Store("b" + std::to_string(i), 2, grpc::Slice(std::string("b")));
  }
  EXPECT_TRUE(cache.Find("a", 2).has_value());
  for (int i = 0; i < 7; ++i) {
    EXPECT_TRUE(cache.Find("b" + std::to_string(i), 2).has_value()) << i;
  }
}

TEST(BoxCache, ZeroEntriesKeepsNothing) {
  BoxCache cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.Store("a", 1, grpc::Slice(std::string("box")));
  EXPECT_FALSE(cache.Find("a", 1).has_value());
}

TEST(BoxCache, TheStoredBytesAreSharedNotCopied) {
  BoxCache cache(4);
  // (Longer than what a slice holds inline, as every box is.)
  grpc::Slice bytes(std::string(200, 'x'));
  cache.Store("a", 1, bytes);
  EXPECT_EQ(cache.Find("a", 1)->begin(), bytes.begin());
}

}  // namespace
}  // namespace related
