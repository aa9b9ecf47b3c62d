// TextBootstrap: text-only articles held while the server has no model,
// its first model trained on them, and the held articles embedded through
// the write path without ever overwriting a newer write.
#include "server/core/text_bootstrap.h"

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/text_articles.h"

namespace related {
namespace {

using ::testing::HasSubstr;

using ::related::testing::SmallEmbedder;
using ::related::testing::TextArticle;

// The writers' threads, run by the test when it chooses.
class Tasks {
 public:
  std::function<void(std::function<void()>)> Poster() {
    return [this](std::function<void()> task) {
      absl::MutexLock lock(&mu_);
      tasks_.push_back(std::move(task));
    };
  }
  // Runs tasks (and those they post) until none is left; false if none
  // came within `wait`.
  bool RunAll(absl::Duration wait = absl::ZeroDuration()) {
    const absl::Time deadline = absl::Now() + wait;
    bool ran = false;
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        if (tasks_.empty() && !ran) {
          auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return !tasks_.empty();
          };
          mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
        }
        if (tasks_.empty()) return ran;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
      ran = true;
    }
  }

 private:
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
};

class TextBootstrapTest : public ::testing::Test {
 protected:
  std::unique_ptr<TextBootstrap> Bootstrap(int64_t train_after,
                                           int dimension = 2) {
    ArticleIndexOptions options;
    options.index_kind = IndexKind::kExact;
    index_ = *ArticleIndex::Create(options);
    TextBootstrapOptions bootstrap;
    bootstrap.train_after = train_after;
    bootstrap.dimension = dimension;
    bootstrap.threads = 1;  // fastText is deterministic on one thread
    bootstrap.log = [this](const std::string& line) { log_ += line + "\n"; };
    return std::make_unique<TextBootstrap>(bootstrap, *index_, held_,
                                           embedding_, tasks_.Poster());
  }
  absl::Status Upsert(TextBootstrap& bootstrap, std::vector<Article> articles) {
    return bootstrap.Upsert(std::move(articles), [&](std::vector<Article> a) {
      return index_->Upsert(std::move(a));
    });
  }

  std::unique_ptr<ArticleIndex> index_;
  HeldTexts held_;
  TextEmbedding embedding_{1 << 16};
  Tasks tasks_;
  std::string log_;
};

// Four subjects with words of their own, ten articles each.
std::vector<Article> Corpus() {
  const std::vector<std::vector<std::string>> subjects = {
      {"election", "vote", "ballot", "senate", "campaign"},
      {"match", "goal", "league", "striker", "coach"},
      {"shares", "market", "investors", "profit", "bank"},
      {"rocket", "orbit", "telescope", "planet", "launch"}};
  std::vector<Article> out;
  for (size_t s = 0; s < subjects.size(); ++s) {
    for (int i = 0; i < 10; ++i) {
      std::string text = "the news of the day";
      for (int r = 0; r < 6; ++r) text += " " + subjects[s][(i + r) % 5];
      out.push_back(TextArticle("s" + std::to_string(s) + "-" + std::to_string(i),
                                subjects[s][i % 5] + " report", text));
    }
  }
  return out;
}

TEST_F(TextBootstrapTest, HoldsUntilEnoughThenTrainsAndEmbedsEveryArticle) {
  auto bootstrap = Bootstrap(/*train_after=*/40, /*dimension=*/16);
  std::vector<Article> corpus = Corpus();
  std::vector<Article> first(corpus.begin(), corpus.end() - 1);
  ASSERT_TRUE(Upsert(*bootstrap, first).ok());
  EXPECT_EQ(bootstrap->held(), 39);
  EXPECT_EQ(index_->Stats().article_count, 0);
  absl::Status why = bootstrap->WhyHeld("s0-0");
  EXPECT_EQ(why.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(why.message()),
              HasSubstr("when it holds 40 text-only articles (it holds 39"));
  EXPECT_TRUE(bootstrap->WhyHeld("not-held").ok());

  ASSERT_TRUE(Upsert(*bootstrap, {corpus.back()}).ok());  // the 40th
  ASSERT_TRUE(tasks_.RunAll(absl::Seconds(120))) << log_;
  ASSERT_NE(embedding_.model(), nullptr);
  EXPECT_EQ(embedding_.model()->dimension(), 16);
  EXPECT_EQ(bootstrap->held(), 0);
  EXPECT_EQ(index_->Stats().article_count, 40);
  EXPECT_TRUE(bootstrap->WhyHeld("s0-0").ok());
  EXPECT_THAT(log_, HasSubstr("every held text-only article is embedded"));
  // The model learned the subjects: most of each box of 5 is the query's
  // subject (random boxes: 9 of 39, 0.23).
  int same = 0;
  for (const Article& query : corpus) {
    auto related = index_->Related({query.id, 5, {}, {}});
    ASSERT_TRUE(related.ok()) << related.status();
    for (const RelatedArticle& a : related->articles) same += a.id[1] == query.id[1];
  }
  EXPECT_GE(same, 0.6 * 5 * 40) << "same-subject share " << same / 200.0;
  // With a model, text is embedded at once.
  ASSERT_TRUE(Upsert(*bootstrap, {TextArticle("late", "", "election vote")}).ok());
  EXPECT_EQ(bootstrap->held(), 0);
  EXPECT_TRUE(index_->Get("late").ok());
}

TEST_F(TextBootstrapTest, ANewerWriteIsNeverOverwrittenByItsOlderHeldVersion) {
  auto bootstrap = Bootstrap(/*train_after=*/1000);
  ASSERT_TRUE(Upsert(*bootstrap, {TextArticle("x", "Old", "election"),
                                  TextArticle("y", "", "match")})
                  .ok());
  embedding_.SetModel(SmallEmbedder());  // as if training just ended
  bootstrap->Resume();                   // posts the embedding of x and y
  // Before that runs, a newer x arrives and is embedded at once.
  ASSERT_TRUE(Upsert(*bootstrap, {TextArticle("x", "New", "match")}).ok());
  EXPECT_EQ(bootstrap->held(), 1);
  ASSERT_TRUE(tasks_.RunAll());
  EXPECT_EQ(bootstrap->held(), 0);
  EXPECT_EQ(index_->Get("x")->metadata.title, "New");
  EXPECT_EQ(index_->Get("x")->embedding, std::vector<float>({0.0f, 1.0f}));
  EXPECT_TRUE(index_->Get("y").ok());
}

TEST_F(TextBootstrapTest, TextTheModelCannotEmbedStaysHeldAndSaysWhy) {
  auto bootstrap = Bootstrap(/*train_after=*/1000);
  ASSERT_TRUE(Upsert(*bootstrap, {TextArticle("known", "", "election"),
                                  TextArticle("unknown", "", "qqzx vvyw")})
                  .ok());
  embedding_.SetModel(SmallEmbedder());
  bootstrap->Resume();
  ASSERT_TRUE(tasks_.RunAll());
  EXPECT_TRUE(index_->Get("known").ok());
  EXPECT_EQ(bootstrap->held(), 1);
  const absl::Status why = bootstrap->WhyHeld("unknown");
  EXPECT_EQ(why.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(why.message()), HasSubstr("cannot embed"));
  EXPECT_THAT(std::string(why.message()), HasSubstr("delete it"));
  // Deleting it releases it, and counts it as deleted.
  auto deleted = bootstrap->Delete({"unknown", "never-there"},
                                   [&](const std::vector<ArticleId>& ids) {
                                     return index_->Delete(ids);
                                   });
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(bootstrap->held(), 0);
}

TEST_F(TextBootstrapTest, BadTextOnlyBatchesAreRefusedWhole) {
  auto bootstrap = Bootstrap(/*train_after=*/1000);
  Article with_vector = TextArticle("v", "", "");
  with_vector.embedding = {1.0f, 0.0f};
  const auto refused = [&](std::vector<Article> batch, const std::string& message) {
    absl::Status s = Upsert(*bootstrap, std::move(batch));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(message));
  };
  refused({TextArticle("a", "", "election"), with_vector},
          "articles[1]: has an embedding");
  refused({TextArticle("a", "", "election"), TextArticle("a", "", "match")},
          "appears more than once");
  refused({TextArticle("a", "Title", "")}, "no text to embed");
  refused({with_vector, TextArticle("a", "Title", "")},
          "articles[1].embedding: empty, and no text to embed");
  refused({TextArticle("a", "", "42 !!")}, "no words to embed");
  EXPECT_EQ(bootstrap->held(), 0);
  // Vectors alone are written as ever.
  ASSERT_TRUE(Upsert(*bootstrap, {with_vector}).ok());
  EXPECT_TRUE(index_->Get("v").ok());
}

TEST_F(TextBootstrapTest, ARefusedDeleteReleasesNothingAndIdsCountOnce) {
  auto bootstrap = Bootstrap(/*train_after=*/1000);
  ASSERT_TRUE(Upsert(*bootstrap, {TextArticle("a", "", "election")}).ok());
  const auto remove = [&](const std::vector<ArticleId>& ids) {
    return index_->Delete(ids);
  };
  auto refused = bootstrap->Delete({"a", ""}, remove);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bootstrap->held(), 1) << "a refused delete changes nothing";
  auto deleted = bootstrap->Delete({"a", "a"}, remove);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(bootstrap->held(), 0);
}

TEST_F(TextBootstrapTest, StopTwiceIsSafe) {
  auto bootstrap = Bootstrap(/*train_after=*/1000);
  bootstrap->Stop();
  bootstrap->Stop();  // and the destructor stops once more
}

TEST_F(TextBootstrapTest, WithTrainingOffTextNeedsAModel) {
  auto bootstrap = Bootstrap(/*train_after=*/0);
  absl::Status s = Upsert(*bootstrap, {TextArticle("a", "", "election")});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--embedder_model"));
  EXPECT_EQ(bootstrap->held(), 0);
}

}  // namespace
}  // namespace related
