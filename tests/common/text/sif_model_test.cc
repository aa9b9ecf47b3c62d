#include "common/text/sif_model.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace related::text {
namespace {

using ::testing::HasSubstr;

// Three words on the axes of a 3-d space, "common" along all of them.
SifModelData SmallModel() {
  SifModelData d;
  d.dimension = 3;
  d.words = {"election", "match", "market", "common"};
  d.weights = {1.0f, 1.0f, 1.0f, 0.1f};
  d.vectors = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
  d.description = "test";
  return d;
}

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

TEST(SifModelTest, EmbedsTheWeightedMeanAsAUnitVector) {
  auto model = SifModel::Build(SmallModel());
  ASSERT_TRUE(model.ok()) << model.status();
  auto v = model->Embed("The ELECTION, the election!");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_NEAR((*v)[0], 1.0f, 1e-6);
  EXPECT_NEAR(Dot(*v, *v), 1.0f, 1e-5);
  auto mixed = model->Embed("election match common");
  ASSERT_TRUE(mixed.ok());
  // Equal weights for the two topic words; "common" weighs little.
  EXPECT_NEAR((*mixed)[0], (*mixed)[1], 1e-6);
  EXPECT_LT((*mixed)[2], (*mixed)[0] / 5);
}

TEST(SifModelTest, RemovesTheCommonComponent) {
  SifModelData d = SmallModel();
  d.components = {0, 0, 1};  // "market" is what every text shares
  auto model = SifModel::Build(d);
  ASSERT_TRUE(model.ok());
  auto v = model->Embed("election market");
  ASSERT_TRUE(v.ok());
  EXPECT_NEAR((*v)[2], 0.0f, 1e-6);
  EXPECT_NEAR((*v)[0], 1.0f, 1e-6);
  // Nothing left once the component is gone.
  EXPECT_THAT(model->Embed("market").status().message(),
              HasSubstr("no direction"));
}

TEST(SifModelTest, TextItCannotEmbedIsAClearError) {
  auto model = SifModel::Build(SmallModel());
  ASSERT_TRUE(model.ok());
  for (const char* text : {"", "   \n\t", "... 42 !!"}) {
    auto v = model->Embed(text);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(v.status().message(), HasSubstr("no words")) << text;
  }
  auto unknown = model->Embed("zebra \xE9\x81\xB8\xE6\x8C\x99");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("none of the text's 2 words is in the model"));
}

TEST(SifModelTest, MegabytesOfTextEmbedFinitely) {
  auto model = SifModel::Build(SmallModel());
  ASSERT_TRUE(model.ok());
  std::string text;
  while (text.size() < (4 << 20)) text += "election match market zebra ";
  auto v = model->Embed(text);
  ASSERT_TRUE(v.ok());
  for (float x : *v) EXPECT_TRUE(std::isfinite(x));
}

TEST(SifModelTest, BuildRefusesPartsThatDoNotFit) {
  SifModelData d = SmallModel();
  d.vectors.pop_back();
  EXPECT_FALSE(SifModel::Build(d).ok());
  d = SmallModel();
  d.words[1] = "election";
  EXPECT_THAT(SifModel::Build(d).status().message(), HasSubstr("twice"));
  d = SmallModel();
  d.weights[0] = NAN;
  EXPECT_THAT(SifModel::Build(d).status().message(), HasSubstr("non-finite"));
  d = SmallModel();
  d.words.clear();
  d.weights.clear();
  d.vectors.clear();
  EXPECT_THAT(SifModel::Build(d).status().message(), HasSubstr("empty"));
}

TEST(SifModelTest, SavesAndLoadsTheSameModel) {
  auto model = SifModel::Build(SmallModel());
  ASSERT_TRUE(model.ok());
  const std::string path =
      testing::TempDir() + "/sif_model_test_" + std::to_string(getpid());
  ASSERT_TRUE(model->Save(path).ok());
  auto loaded = SifModel::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->identity(), model->identity());
  EXPECT_EQ(*loaded->Embed("match"), *model->Embed("match"));
  EXPECT_EQ(loaded->description(), "test");
  std::remove(path.c_str());
}

TEST(SifModelTest, IdentityChangesWithTheVectors) {
  auto a = SifModel::Build(SmallModel());
  SifModelData changed = SmallModel();
  changed.vectors[0] = 0.5f;
  auto b = SifModel::Build(changed);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->identity(), b->identity());
  EXPECT_THAT(a->identity(), testing::StartsWith("sif-"));
  EXPECT_EQ(a->identity().size(), 4u + 16u);
}

TEST(SifModelTest, DamagedFilesAreRefused) {
  const std::string bytes = EncodeSifModel(SmallModel());
  EXPECT_TRUE(DecodeSifModel(bytes).ok());
  EXPECT_EQ(DecodeSifModel("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeSifModel(bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::string flipped = bytes;
    flipped[i] ^= 0x40;
    EXPECT_FALSE(DecodeSifModel(flipped).ok()) << "byte " << i;
  }
  EXPECT_EQ(SifModel::Load("/nonexistent/model").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace related::text
