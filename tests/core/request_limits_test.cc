#include "server/core/request_limits.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace related {
namespace {

using ::testing::HasSubstr;

ArticleIndexOptions SmallLimits() {
  ArticleIndexOptions options;
  options.max_batch_size = 3;
  options.max_id_bytes = 8;
  options.max_metadata_bytes = 20;
  options.default_limit = 5;
  options.max_limit = 7;
  return options;
}

std::string Message(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

Article Make(std::string id, std::vector<float> embedding) {
  return {std::move(id), std::move(embedding), {}, {}};
}

TEST(RequestLimits, IdListsAreCheckedForSizeThenEachId) {
  const ArticleIndexOptions options = SmallLimits();
  const RequestLimits limits(options);
  EXPECT_TRUE(limits.CheckIds({"a", "b", "c"}, "article_ids").ok());
  EXPECT_THAT(Message(limits.CheckIds({"a", "b", "c", "d"}, "article_ids")),
              HasSubstr("article_ids: 4 entries, more than the limit of 3"));
  EXPECT_THAT(Message(limits.CheckIds({"a", "b", ""}, "article_ids")),
              HasSubstr("article_ids[2]"));
  EXPECT_THAT(Message(limits.CheckIds({"toolong-id"}, "exclude_ids")),
              HasSubstr("exclude_ids[0]"));
}

TEST(RequestLimits, ArticlesAreCheckedWholeAndNormalised) {
  const ArticleIndexOptions options = SmallLimits();
  const RequestLimits limits(options);
  std::vector<Article> batch = {Make("a", {3, 4}), Make("b", {0, 2})};
  ASSERT_TRUE(limits.CheckArticles(batch, 2).ok());
  EXPECT_FLOAT_EQ(batch[0].embedding[0], 0.6f);
  EXPECT_FLOAT_EQ(batch[0].embedding[1], 0.8f);

  batch = {Make("a", {1, 0}), Make("a", {0, 1})};
  EXPECT_THAT(Message(limits.CheckArticles(batch, 2)),
              HasSubstr("articles[1].id: 'a' appears more than once"));
  batch = {Make("a", {1, 0}), Make("b", {1, 0, 0})};
  EXPECT_THAT(Message(limits.CheckArticles(batch, 2)),
              HasSubstr("articles[1].embedding"));
  batch = {Make("a", {1, 0}), Make("b", {NAN, 1})};
  EXPECT_THAT(Message(limits.CheckArticles(batch, 2)),
              HasSubstr("articles[1].embedding"));
  batch = {Make("a", {1, 0})};
  batch[0].metadata.title = std::string(21, 't');
  EXPECT_THAT(Message(limits.CheckArticles(batch, 2)),
              HasSubstr("articles[0].metadata: 21 bytes"));
}

TEST(RequestLimits, WithoutADimensionTheFirstArticleProposesIt) {
  const ArticleIndexOptions options = SmallLimits();
  const RequestLimits limits(options);
  std::vector<Article> batch = {Make("a", {1, 0, 0}), Make("b", {0, 1, 0})};
  EXPECT_TRUE(limits.CheckArticles(batch, 0).ok());
  batch = {Make("a", {1, 0, 0}), Make("b", {0, 1})};
  EXPECT_THAT(Message(limits.CheckArticles(batch, 0)),
              HasSubstr("articles[1].embedding"));
}

TEST(RequestLimits, ALookupIsCheckedWhole) {
  const ArticleIndexOptions options = SmallLimits();
  const RequestLimits limits(options);
  RelatedQuery query{"a", 0, {}, {}};
  EXPECT_TRUE(limits.CheckLookup(query).ok());
  query.article_id = "";
  EXPECT_THAT(Message(limits.CheckLookup(query)), HasSubstr("article_id"));
  query = {"a", 8, {}, {}};
  EXPECT_THAT(Message(limits.CheckLookup(query)),
              HasSubstr("limit: must be between 1 and 7"));
  query = {"a", -1, {}, {}};
  EXPECT_THAT(Message(limits.CheckLookup(query)), HasSubstr("limit"));
  query = {"a", 7, {"b", "bad\x01"}, {}};
  EXPECT_THAT(Message(limits.CheckLookup(query)), HasSubstr("exclude_ids[1]"));
  query = {"a", 7, {}, {}};
  query.policy.diversity_lambda = 2;
  EXPECT_THAT(Message(limits.CheckLookup(query)),
              HasSubstr("policy.diversity_lambda"));
}

TEST(RequestLimits, ADraftsVectorIsCheckedAndNormalised) {
  const ArticleIndexOptions options = SmallLimits();
  const RequestLimits limits(options);
  VectorQuery query{{0, 5}, 0, {}, {}};
  ASSERT_TRUE(limits.CheckLookup(query, 2).ok());
  EXPECT_FLOAT_EQ(query.embedding[1], 1.0f);
  query = {{0, 5, 1}, 0, {}, {}};
  EXPECT_THAT(Message(limits.CheckLookup(query, 2)), HasSubstr("embedding"));
  query = {{0, 0}, 0, {}, {}};
  EXPECT_THAT(Message(limits.CheckLookup(query, 0)), HasSubstr("embedding"));
  query = {{1, 0}, 9, {}, {}};
  EXPECT_THAT(Message(limits.CheckLookup(query, 2)), HasSubstr("limit"));
}

TEST(RequestLimits, ABatchLookupChecksItsIdsThenTheSharedSettings) {
  const ArticleIndexOptions options = SmallLimits();
  const RequestLimits limits(options);
  EXPECT_TRUE(limits.CheckBatchLookup({"a", "b"}, 0, {}, {}).ok());
  EXPECT_THAT(Message(limits.CheckBatchLookup({"a", "b", "c", "d"}, 0, {}, {})),
              HasSubstr("article_ids: 4 entries"));
  EXPECT_THAT(Message(limits.CheckBatchLookup({"a", ""}, 0, {}, {})),
              HasSubstr("article_ids[1]"));
  EXPECT_THAT(Message(limits.CheckBatchLookup({"a"}, 0, {"x", ""}, {})),
              HasSubstr("exclude_ids[1]"));
}

TEST(RequestLimits, BoxSizeIsTheLimitOrTheDefault) {
  const ArticleIndexOptions options = SmallLimits();
  const RequestLimits limits(options);
  EXPECT_EQ(limits.BoxSize(0), 5);
  EXPECT_EQ(limits.BoxSize(3), 3);
}

}  // namespace
}  // namespace related
