// BoxCache: encoded default boxes, valid for one index state generation.
#include "server/service/box_cache.h"

#include <string>

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
