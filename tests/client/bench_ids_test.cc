// ReadArticleIds: the article IDs `related-cli bench --ids_file` queries.
#include <sstream>
#include <string>

#include "client/cli/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace related::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<std::vector<std::string>> Read(const std::string& text) {
  std::istringstream input(text);
  return ReadArticleIds(input);
}

TEST(ReadArticleIdsTest, OneIdPerLineWithBlankLinesAndSpacesAround) {
  auto ids = Read("2026/11/28/world/a\n\n  b c  \r\nd");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre("2026/11/28/world/a", "b c", "d"));
}

TEST(ReadArticleIdsTest, AnImportFileGivesItsIds) {
  auto ids = Read(R"({"id": "x", "title": "T", "embedding": [1, 2]})"
                  "\n"
                  R"({"title": "no matter", "id": "y"})"
                  "\n");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre("x", "y"));
}

TEST(ReadArticleIdsTest, ALineWithoutAnIdNamesItsNumber) {
  for (const std::string bad :
       {R"({"title": "T"})", R"({"id": 7})", R"({"id": ""})", "{not json"}) {
    auto ids = Read("a\n\n" + bad + "\nb\n");
    ASSERT_FALSE(ids.ok()) << bad;
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(ids.status().message(), HasSubstr("line 3:")) << bad;
  }
}

TEST(ReadArticleIdsTest, NoIdsAtAllIsAnError) {
  for (const std::string empty : {"", "\n  \n\r\n"}) {
    auto ids = Read(empty);
    ASSERT_FALSE(ids.ok());
    EXPECT_THAT(ids.status().message(), HasSubstr("no article IDs"));
  }
}

}  // namespace
}  // namespace related::cli
