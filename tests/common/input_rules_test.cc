#include "common/input_rules.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace related {
namespace {

using ::testing::HasSubstr;

TEST(ValidateArticleId, AcceptsCmsPathsAndUnicode) {
  EXPECT_TRUE(
      ValidateArticleId("2026/11/28/world/vietnam-leader-beijing", 256, "id")
          .ok());
  EXPECT_TRUE(ValidateArticleId("münchen/ß-straße-日本", 256, "id").ok());
  EXPECT_TRUE(ValidateArticleId("a", 1, "id").ok());
}

TEST(ValidateArticleId, RejectsEmptyLongMalformedAndControl) {
  auto empty = ValidateArticleId("", 256, "articles[2].id");
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.message()), HasSubstr("articles[2].id"));

  auto long_id = ValidateArticleId(std::string(257, 'x'), 256, "id");
  EXPECT_EQ(long_id.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(long_id.message()), HasSubstr("256"));

  for (const std::string& bad : {std::string("ab\xff"), std::string("\xc3"),
                                 std::string("\xc0\xaf"),      // overlong '/'
                                 std::string("\xed\xa0\x80"),  // surrogate
                                 std::string("a\nb"), std::string("a\x7f"),
                                 std::string("a\xc2\x85")}) {  // U+0085 NEL
    EXPECT_EQ(ValidateArticleId(bad, 256, "id").code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(NormalizeEmbedding, ScalesToUnitLength) {
  std::vector<float> v = {3, 4};
  ASSERT_TRUE(NormalizeEmbedding(v, 2, "e").ok());
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
}

TEST(NormalizeEmbedding, RejectsBadVectorsNamingTheField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    std::vector<float> v;
    std::string expected;
  } cases[] = {
      {{1, 2, 3}, "expected 2 values, got 3"},
      {{}, "must not be empty"},
      {{nan, 1}, "articles[0].embedding[0]"},
      {{1, inf}, "articles[0].embedding[1]"},
      {{0, 0}, "zero vector"},
  };
  for (auto& c : cases) {
    auto s = NormalizeEmbedding(c.v, 2, "articles[0].embedding");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.expected));
  }
  std::vector<float> huge = {3e38f,
                             3e38f};  // squares overflow float, not double
  EXPECT_TRUE(NormalizeEmbedding(huge, 2, "e").ok());
  EXPECT_NEAR(huge[0], std::sqrt(0.5f), 1e-6);
}

TEST(NormalizeEmbedding, NormalisingTwiceChangesNoBit) {
  std::vector<float> v = {0.3f, -1.7f, 2.2f, 0.05f, 9.0f, -4.4f, 1e-3f, 7.7f};
  ASSERT_TRUE(NormalizeEmbedding(v, 8, "v").ok());
  const std::vector<float> once = v;
  ASSERT_TRUE(NormalizeEmbedding(v, 8, "v").ok());
  EXPECT_EQ(v, once);  // bit for bit: a replayed vector stays the same
}

}  // namespace
}  // namespace related
