// GetRelated's directly encoded response must parse as the GetRelatedResponse
// the proto conversion builds for the same results, whatever the metadata.
#include "server/service/related_encoding.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/service/proto_conversion.h"

namespace related {
namespace {

RelatedArticle Related(std::string id, float score, ArticleMetadata metadata) {
  return {std::move(id), score,
          std::make_shared<const ArticleMetadata>(std::move(metadata))};
}

// What the service sent before it encoded responses itself.
v1::GetRelatedResponse Expected(const std::vector<RelatedArticle>& related) {
  v1::GetRelatedResponse response;
  RelatedToProto(related, response.mutable_articles());
  return response;
}

v1::GetRelatedResponse Parsed(const std::string& bytes) {
  v1::GetRelatedResponse response;
  EXPECT_TRUE(response.ParseFromString(bytes));
  return response;
}

void ExpectSameAsProto(const std::vector<RelatedArticle>& related) {
  std::string bytes;
  AppendRelatedArticles(related, bytes);
  const v1::GetRelatedResponse expected = Expected(related);
  const v1::GetRelatedResponse parsed = Parsed(bytes);
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(expected, parsed))
      << "expected:\n"
      << expected.DebugString() << "parsed:\n"
      << parsed.DebugString();
  // Without a map, protobuf's own serialisation is deterministic: the bytes
  // themselves must match.
  bool has_attributes = false;
  for (const RelatedArticle& r : related) {
    has_attributes = has_attributes || !r.metadata->attributes.empty();
  }
  if (!has_attributes) {
    EXPECT_EQ(bytes, expected.SerializeAsString());
  }
}

TEST(RelatedEncoding, EmptyBoxIsEmpty) {
  std::string bytes;
  AppendRelatedArticles({}, bytes);
  EXPECT_EQ(bytes, "");
}

TEST(RelatedEncoding, TypicalBoxOfTen) {
  std::vector<RelatedArticle> box;
  for (int i = 0; i < 10; ++i) {
    box.push_back(Related(
        "2026/11/29/world/story-" + std::to_string(i), 0.9f - 0.01f * i,
        {"Story number " + std::to_string(i),
         "https://news.example.com/2026/11/29/world/story-" + std::to_string(i),
         "world",
         "en",
         absl::FromUnixSeconds(1795000000 + i) + absl::Milliseconds(250),
         {}}));
  }
  ExpectSameAsProto(box);
}

TEST(RelatedEncoding, EveryFieldAndEdgeValue) {
  ExpectSameAsProto({
      // Everything set, attributes included (one with an empty value).
      Related("a", 0.5f,
              {"Título con acentos · 标题",
               "https://x.example/a",
               "culture",
               "es",
               absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(1),
               {{"author", "Ana"}, {"type", ""}, {"", "empty key"}}}),
      // Nothing but the ID: the metadata message is still present, empty.
      Related("b", 0.25f, {}),
      // Scores the proto leaves out or writes specially.
      Related("zero", 0.0f, {"t", "", "", "", std::nullopt, {}}),
      Related("negative", -1.0f, {"t", "", "", "", std::nullopt, {}}),
      Related("negative-zero", -0.0f, {"t", "", "", "", std::nullopt, {}}),
      // Before 1970 (negative seconds: a ten-byte varint) and the epoch
      // itself (a timestamp message with no fields).
      Related("old", 0.1f,
              {"Moon landing",
               "",
               "",
               "",
               absl::FromUnixSeconds(-14182940) + absl::Milliseconds(5),
               {}}),
      Related("epoch", 0.1f, {"Epoch", "", "", "", absl::UnixEpoch(), {}}),
  });
}

TEST(RelatedEncoding, LongFieldsNeedMultiByteLengths) {
  // Lengths of 127, 128, 16383 and 16384 bytes cross varint byte counts.
  for (size_t length : {127, 128, 16383, 16384, 70000}) {
    SCOPED_TRACE(length);
    ExpectSameAsProto({Related(std::string(length, 'i'), 0.75f,
                               {std::string(length, 't'),
                                std::string(length, 'u'),
                                "",
                                "",
                                std::nullopt,
                                {{std::string(length, 'k'), "v"}}})});
  }
}

TEST(RelatedEncoding, DebugFollowsTheArticles) {
  std::vector<RelatedArticle> box = {
      Related("a", 0.5f, {"A", "", "", "", {}, {}})};
  RankingDebug debug;
  debug.candidates_considered = 30;
  debug.removed_as_near_duplicate = 2;
  debug.precomputed = true;
  RankingPolicy applied;
  applied.duplicate_threshold = 0.95f;

  v1::GetRelatedResponse expected = Expected(box);
  DebugToProto(debug, applied, expected.mutable_debug());

  std::string bytes;
  AppendRelatedArticles(box, bytes);
  AppendRankingDebug(expected.debug(), bytes);
  const v1::GetRelatedResponse parsed = Parsed(bytes);
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(expected, parsed))
      << parsed.DebugString();
  EXPECT_EQ(parsed.debug().candidates_considered(), 30);
  EXPECT_TRUE(parsed.debug().precomputed());
}

}  // namespace
}  // namespace related
