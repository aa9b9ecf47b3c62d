#include "client/cli/import_batcher.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace related::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

client::Article Article(std::string id, std::string title = "") {
  client::Article article;
  article.id = std::move(id);
  article.embedding = {1};
  article.metadata.title = std::move(title);
  return article;
}

std::vector<std::string> Ids(const std::vector<client::Article>& batch) {
  std::vector<std::string> ids;
  for (const client::Article& article : batch) ids.push_back(article.id);
  return ids;
}

TEST(ImportBatcherTest, ReturnsFullBatchesThenTheRest) {
  ImportBatcher batcher(2);
  EXPECT_EQ(batcher.Add(Article("a")), std::nullopt);
  auto first = batcher.Add(Article("b"));
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(Ids(*first), ElementsAre("a", "b"));
  EXPECT_EQ(batcher.Add(Article("c")), std::nullopt);
  EXPECT_THAT(Ids(batcher.TakeRest()), ElementsAre("c"));
  EXPECT_TRUE(batcher.TakeRest().empty());
}

TEST(ImportBatcherTest, ARepeatedIdClosesTheBatchSoTheLaterLineComesLater) {
  ImportBatcher batcher(10);
  EXPECT_EQ(batcher.Add(Article("a", "first")), std::nullopt);
  EXPECT_EQ(batcher.Add(Article("b")), std::nullopt);
  auto first = batcher.Add(Article("a", "second"));
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(Ids(*first), ElementsAre("a", "b"));
  EXPECT_EQ((*first)[0].metadata.title, "first");
  // The new batch holds only the later "a", so "b" may join it.
  EXPECT_EQ(batcher.Add(Article("b")), std::nullopt);
  const std::vector<client::Article> rest = batcher.TakeRest();
  EXPECT_THAT(Ids(rest), ElementsAre("a", "b"));
  EXPECT_EQ(rest[0].metadata.title, "second");
}

TEST(ImportBatcherTest, BatchSizeOneSendsEveryArticleAlone) {
  ImportBatcher batcher(1);
  EXPECT_THAT(batcher.Add(Article("a")), Optional(::testing::SizeIs(1)));
  EXPECT_THAT(batcher.Add(Article("a")), Optional(::testing::SizeIs(1)));
  EXPECT_TRUE(batcher.TakeRest().empty());
}

}  // namespace
}  // namespace related::cli
