#include "common/text/sif_training.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace related::text {
namespace {

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Two topics with their own vocabularies, sharing filler words.
std::vector<std::string> TwoTopics() {
  const std::vector<std::string> sport = {
      "striker", "goal", "league", "coach", "match", "season", "keeper"};
  const std::vector<std::string> money = {
      "shares", "profit", "investors", "bank", "market", "earnings", "stock"};
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) {
    const auto& words = i % 2 == 0 ? sport : money;
    std::string text = "the report said that";
    for (int k = 0; k < 8; ++k) {
      text += " " + words[(i * 7 + k * 3) % words.size()] + " the";
    }
    texts.push_back(text);
  }
  return texts;
}

TEST(SifTrainingTest, LearnsTopicsThatSeparate) {
  TrainingOptions options;
  options.dimension = 16;
  options.epochs = 40;
  options.threads = 1;
  int progress_calls = 0;
  options.progress = [&](const TrainingProgress&) { ++progress_calls; };
  auto model = TrainSifModel(TwoTopics(), options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->dimension(), 16);
  EXPECT_THAT(model->description(), testing::HasSubstr("300 texts"));
  auto sport = model->Embed("the coach and the striker");
  auto sport2 = model->Embed("league season keeper");
  auto money = model->Embed("investors and bank earnings");
  ASSERT_TRUE(sport.ok() && sport2.ok() && money.ok());
  EXPECT_GT(Dot(*sport, *sport2), Dot(*sport, *money));
  EXPECT_GT(progress_calls, 0);
}

TEST(SifTrainingTest, TooLittleTextIsAClearError) {
  TrainingOptions options;
  options.threads = 1;
  auto one = TrainSifModel({"just one text here"}, options);
  EXPECT_EQ(one.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(one.status().message(), testing::HasSubstr("at least 2 texts"));
  auto empty = TrainSifModel({"", "  ", "!!"}, options);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  // Words, but none seen min_count times: fastText's own error, caught.
  options.min_count = 5;
  auto rare = TrainSifModel({"alpha beta", "gamma delta"}, options);
  EXPECT_EQ(rare.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SifTrainingTest, EpochsShrinkWithTheCorpus) {
  EXPECT_EQ(EpochsFor(3'000), 40);
  EXPECT_EQ(EpochsFor(276'000), 11);
  EXPECT_EQ(EpochsFor(138'000), 22);
  EXPECT_EQ(EpochsFor(35'000'000), 2);
}

}  // namespace
}  // namespace related::text
