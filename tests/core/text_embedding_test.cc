#include "server/core/text_embedding.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/storage/embedder_identity.h"
#include "support/text_articles.h"

namespace related {
namespace {

using ::testing::HasSubstr;

using ::related::testing::SmallEmbedder;
using ::related::testing::TextArticle;

TEST(TextEmbedding, EmbedsTitleAndTextAndKeepsGivenEmbeddings) {
  TextEmbedding embedding(1000);
  embedding.SetModel(SmallEmbedder());
  std::vector<Article> articles = {TextArticle("a", "Election", "night"),
                                   TextArticle("b", "", "the match"),
                                   TextArticle("c", "", "election")};
  articles[2].embedding = {0.0f, 3.0f};  // given: kept as it is
  ASSERT_TRUE(embedding.EmbedArticles(articles).ok());
  EXPECT_EQ(articles[0].embedding, std::vector<float>({1.0f, 0.0f}));
  EXPECT_EQ(articles[1].embedding, std::vector<float>({0.0f, 1.0f}));
  EXPECT_EQ(articles[2].embedding, std::vector<float>({0.0f, 3.0f}));
}

TEST(TextEmbedding, ABadArticleFailsTheWholeBatchNamingIt) {
  TextEmbedding embedding(20);
  embedding.SetModel(SmallEmbedder());
  const auto fails = [&](Article bad, absl::StatusCode code,
                         const std::string& message) {
    std::vector<Article> batch = {TextArticle("ok", "", "election"),
                                  std::move(bad)};
    absl::Status s = embedding.EmbedArticles(batch);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(message));
    EXPECT_TRUE(batch[0].embedding.empty()) << "all or nothing";
  };
  fails(TextArticle("x", "", ""), absl::StatusCode::kInvalidArgument,
        "articles[1].embedding: empty, and no text to embed");
  fails(TextArticle("x", "", "   "), absl::StatusCode::kInvalidArgument,
        "articles[1].text: text has no words");
  fails(TextArticle("x", "", "zebra"), absl::StatusCode::kInvalidArgument,
        "articles[1].text: none of the text's 1 words");
  fails(TextArticle("x", "", std::string(21, 'e')),
        absl::StatusCode::kInvalidArgument,
        "articles[1].text: 21 bytes, more than the limit of 20");
}

TEST(TextEmbedding, WithoutAModelTextIsAFailedPrecondition) {
  TextEmbedding embedding(1000);
  std::vector<Article> batch = {TextArticle("a", "", "election")};
  absl::Status s = embedding.EmbedArticles(batch);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--embedder_model"));
  EXPECT_EQ(embedding.EmbedQuery("election").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Articles with embeddings need no model.
  std::vector<Article> vectors = {TextArticle("a", "", "")};
  vectors[0].embedding = {1.0f, 0.0f};
  EXPECT_TRUE(embedding.EmbedArticles(vectors).ok());
}

TEST(EmbedderIdentity, ADataDirectoryKeepsItsModel) {
  const std::string dir = ::testing::TempDir() + "/embedder_identity_" +
                          std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // No model, no record: nothing to check.
  EXPECT_TRUE(storage::CheckEmbedderIdentity(dir, "").ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/EMBEDDER"));
  // The first model is recorded, and accepted again.
  EXPECT_TRUE(storage::CheckEmbedderIdentity(dir, "sif-aaaa").ok());
  EXPECT_TRUE(storage::CheckEmbedderIdentity(dir, "sif-aaaa").ok());
  // Another model, or none, is refused with what to do.
  absl::Status other = storage::CheckEmbedderIdentity(dir, "sif-bbbb");
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(other.message()),
              HasSubstr("holds vectors of embedder model sif-aaaa, not of "
                        "--embedder_model's sif-bbbb"));
  absl::Status none = storage::CheckEmbedderIdentity(dir, "");
  EXPECT_EQ(none.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(none.message()), HasSubstr("has no model"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace related
