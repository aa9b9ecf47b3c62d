#include "common/text/tokenizer.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace related::text {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TokenizerTest, LowerCasesAndSplitsOnPunctuation) {
  EXPECT_THAT(Words("Fears for T N pension, after talks!"),
              ElementsAre("fears", "for", "pension", "after", "talks"));
}

TEST(TokenizerTest, SkipsNumbersAndOneLetterWords) {
  EXPECT_THAT(Words("a 2004 Q3 win by 10 points"),
              ElementsAre("q3", "win", "by", "points"));
}

TEST(TokenizerTest, DumpArtifactsSeparateWords) {
  // AG News's bodies hold "\\" for line breaks and " #36;" for "$".
  EXPECT_THAT(Words("second\\team of #36;10 million"),
              ElementsAre("second", "team", "of", "million"));
}

TEST(TokenizerTest, CurlyQuotesDashesAndNoBreakSpacesSeparate) {
  EXPECT_THAT(Words("\xE2\x80\x9CRates\xE2\x80\x9D\xE2\x80\x94up\xC2\xA0"
                    "again\xE2\x80\xA6"),
              ElementsAre("rates", "up", "again"));
}

TEST(TokenizerTest, KeepsOtherScriptsWholeAndLowerCasesLatin1) {
  EXPECT_THAT(Words("\xC3\x89lection Wahl \xD0\xB2\xD1\x8B\xD0\xB1\xD0\xBE"
                    "\xD1\x80\xD1\x8B"),
              ElementsAre("\xC3\xA9lection", "wahl",
                          "\xD0\xB2\xD1\x8B\xD0\xB1\xD0\xBE\xD1\x80\xD1\x8B"));
}

TEST(TokenizerTest, DropsOverlongWordsWhole) {
  const std::string url_like(kMaxWordBytes + 1, 'x');
  EXPECT_THAT(Words("see " + url_like + " now"), ElementsAre("see", "now"));
  EXPECT_THAT(Words(std::string(kMaxWordBytes, 'y')), testing::SizeIs(1));
}

TEST(TokenizerTest, NothingToSplit) {
  EXPECT_THAT(Words(""), IsEmpty());
  EXPECT_THAT(Words(" \t\n\r "), IsEmpty());
  EXPECT_THAT(Words("!!! --- 123 ..."), IsEmpty());
}

TEST(TokenizerTest, InvalidUtf8NeverBreaksIt) {
  // A truncated sequence at the end and stray continuation bytes.
  EXPECT_THAT(Words("ok \xE2\x80"), ElementsAre("ok", "\xE2\x80"));
  EXPECT_THAT(Words("\x80\x80 fine \xC3"), ElementsAre("\x80\x80", "fine"));
}

}  // namespace
}  // namespace related::text
