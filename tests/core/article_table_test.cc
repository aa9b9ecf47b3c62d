#include "server/core/article_table.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/article_writes.h"
#include "support/test_data.h"

namespace related {
namespace {

using testing::ClusteredVectors;
using ::testing::UnorderedElementsAre;

ArticleMetadata Titled(std::string title) {
  ArticleMetadata m;
  m.title = std::move(title);
  return m;
}

std::string TitleAt(const ArticleTable& table, Slot slot) {
  return std::string(table.CardOf(slot).title);
}

TEST(ArticleTable, PutMapsIdsToSlotsAndSlotsToCards) {
  ArticleTable table;
  EXPECT_EQ(table.Put(0, "a", Titled("A")), std::nullopt);
  EXPECT_EQ(table.Put(1, "b", Titled("B")), std::nullopt);
  EXPECT_EQ(table.size(), 2);
  EXPECT_EQ(table.slot_count(), 2);
  EXPECT_EQ(table.Find("a"), 0);
  EXPECT_EQ(table.Find("b"), 1);
  EXPECT_EQ(table.Find("c"), std::nullopt);
  EXPECT_EQ(table.CardOf(1).id, "b");
  EXPECT_EQ(TitleAt(table, 0), "A");
}

TEST(ArticleTable, TextsFollowTheirArticlesThroughMovesAndSnapshots) {
  ArticleTable table;
  table.Put(0, "a", Titled("A"), "text of a");
  table.Put(1, "b", Titled("B"));
  table.Put(2, "c", Titled("C"), "text of c");
  EXPECT_EQ(table.TextAt(0), "text of a");
  EXPECT_EQ(table.TextAt(1), "");
  EXPECT_EQ(table.text_bytes(), 18);
  // "a" is deleted and the exact index moves slot 2 ("c") into its hole.
  table.Unmap("a");
  table.Remove(0, SlotMove{2, 0});
  EXPECT_EQ(table.TextAt(0), "text of c");
  EXPECT_EQ(table.TextAt(2), "");
  EXPECT_EQ(table.text_bytes(), 9);
  // New text replaces the old.
  table.Put(1, "b", Titled("B"), "now b has text");
  EXPECT_EQ(table.text_bytes(), 9 + 14);

  StringStateWriter out;
  table.Save(out);
  StringStateReader in(out.bytes());
  auto loaded = ArticleTable::Load(in);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->TextAt(0), "text of c");
  EXPECT_EQ(loaded->TextAt(1), "now b has text");
  EXPECT_EQ(loaded->text_bytes(), table.text_bytes());
}

TEST(ArticleTable, NewMetadataAtTheSameSlotRetiresTheOldCard) {
  ArticleTable table;
  table.Put(0, "a", Titled("Old"));
  const CardRef old_card = table.CardAt(0);
  EXPECT_EQ(table.Put(0, "a", Titled("New")), std::nullopt);
  EXPECT_EQ(TitleAt(table, 0), "New");
  EXPECT_TRUE(table.cards().Retired(old_card));
  EXPECT_FALSE(table.cards().Retired(table.CardAt(0)));
  EXPECT_EQ(table.size(), 1);
}

TEST(ArticleTable, TheSameArticleAgainKeepsItsCardAndVersion) {
  ArticleTable table;
  ArticleMetadata metadata = Titled("A");
  metadata.language = "en";
  metadata.published_at = absl::FromUnixNanos(1796000000123456789);
  metadata.attributes = {{"author", "Ana"}, {"type", "news"}};
  table.Put(0, "a", metadata, "text of a");
  const CardRef card = table.CardAt(0);
  const uint32_t version = table.VersionAt(0);
  const int64_t retired = table.cards().RetiredBytes();

  EXPECT_EQ(table.Put(0, "a", metadata, "text of a"), std::nullopt);
  EXPECT_EQ(table.CardAt(0), card);
  EXPECT_EQ(table.VersionAt(0), version);
  EXPECT_EQ(table.cards().RetiredBytes(), retired);

  // Any difference, however small, is a new card and a new version.
  ArticleMetadata later = metadata;
  later.published_at = *later.published_at + absl::Nanoseconds(1);
  ArticleMetadata other_author = metadata;
  other_author.attributes["author"] = "Bo";
  for (const auto& [changed, text] :
       std::vector<std::pair<ArticleMetadata, std::string>>{
           {later, "text of a"},
           {other_author, "text of a"},
           {later, "new text of a"}}) {
    const uint32_t before = table.VersionAt(0);
    table.Put(0, "a", changed, text);
    EXPECT_NE(table.VersionAt(0), before);
    EXPECT_EQ(MetadataOf(table.CardOf(0)), changed);
    EXPECT_EQ(table.TextAt(0), text);
  }
}

TEST(ArticleTable, AnArticleAtANewSlotHandsBackItsOldSlot) {
  ArticleTable table;
  table.Put(0, "a", Titled("A"));
  table.Put(1, "b", Titled("B"));
  // "a" got a new vector at slot 2: slot 0 still shows the old card until
  // it is removed.
  EXPECT_EQ(table.Put(2, "a", Titled("A2")), 0);
  EXPECT_EQ(table.Find("a"), 2);
  EXPECT_TRUE(table.Occupied(0));
  table.Remove(0, std::nullopt);
  EXPECT_FALSE(table.Occupied(0));
  EXPECT_EQ(table.CardAt(0), kNoCard);
  EXPECT_EQ(table.size(), 2);
  EXPECT_EQ(TitleAt(table, 2), "A2");
}

TEST(ArticleTable, ARemovalThatMovesTheLastSlotFollowsTheMove) {
  ArticleTable table;
  for (int i = 0; i < 4; ++i) {
    table.Put(i, "id" + std::to_string(i), Titled("T" + std::to_string(i)));
  }
  const CardRef removed_card = table.CardAt(1);
  ASSERT_EQ(table.Unmap("id1"), 1);
  table.Remove(1, SlotMove{3, 1});  // the index moved slot 3 into the hole
  EXPECT_EQ(table.slot_count(), 3);
  EXPECT_EQ(table.Find("id3"), 1);
  EXPECT_EQ(table.CardOf(1).id, "id3");
  EXPECT_EQ(TitleAt(table, 1), "T3");
  EXPECT_EQ(table.Find("id1"), std::nullopt);
  EXPECT_TRUE(table.cards().Retired(removed_card));
  EXPECT_EQ(table.size(), 3);
  std::vector<std::string> ids;
  table.ForEach([&](absl::string_view id, Slot slot) {
    EXPECT_EQ(table.CardOf(slot).id, id);
    ids.emplace_back(id);
  });
  EXPECT_THAT(ids, UnorderedElementsAre("id0", "id2", "id3"));
}

TEST(ArticleTable, RemovingTheLastSlotMovesNothing) {
  ArticleTable table;
  table.Put(0, "a", Titled("A"));
  table.Put(1, "b", Titled("B"));
  ASSERT_EQ(table.Unmap("b"), 1);
  table.Remove(1, std::nullopt);
  EXPECT_FALSE(table.Occupied(1));
  EXPECT_EQ(table.Find("a"), 0);
  EXPECT_EQ(table.Unmap("b"), std::nullopt);
}

// Random inserts, new vectors, edited headlines and deletes through the
// exact index, which fills every hole by moving its last vector: after each
// write, every stored ID's slot holds its own vector and card, and no other
// slot is occupied.
TEST(ArticleTable, SlotMovesKeepIdsVectorsAndCardsTogetherThroughChurn) {
  constexpr int kDim = 8;
  const auto pool = ClusteredVectors(4000, kDim, 10, 17);
  auto vectors = MakeVectorIndex(IndexKind::kExact, kDim, {});
  ArticleTable table;
  std::map<std::string, std::pair<int, std::string>> want;  // vector, title
  std::mt19937 rng(3);
  int next_vector = 0, next_id = 0;
  const auto article = [&](const std::string& id, int v, std::string title) {
    Article a{id,
              {&pool[size_t(v) * kDim], &pool[size_t(v + 1) * kDim]},
              Titled(title),
              {}};
    want[id] = {v, title};
    return a;
  };
  for (int step = 0; step < 600; ++step) {
    const int what = want.empty() ? 0 : static_cast<int>(rng() % 4);
    auto victim = want.begin();
    if (!want.empty()) std::advance(victim, rng() % want.size());
    std::vector<Article> batch;
    if (what == 0) {  // two new articles
      for (int i = 0; i < 2; ++i) {
        const std::string id = "n" + std::to_string(next_id++);
        batch.push_back(article(id, next_vector++, "T" + id));
      }
    } else if (what == 1) {  // a new vector
      batch.push_back(article(victim->first, next_vector++, "moved"));
    } else if (what == 2) {  // an edited headline, same vector
      batch.push_back(article(victim->first, victim->second.first, "edited"));
    } else {  // a delete
      const std::string id = victim->first;
      want.erase(victim);
      const std::vector<ArticleId> ids = {id};
      ASSERT_EQ(RemoveArticles(*vectors, table, ids).size(), 1u);
    }
    if (!batch.empty()) {
      ASSERT_TRUE(PlaceArticles(*vectors, table, batch, 1).ok());
    }
    ASSERT_EQ(table.size(), static_cast<int64_t>(want.size()));
    ASSERT_EQ(vectors->LiveCount(), static_cast<int64_t>(want.size()));
    // The exact index stays dense: its live vectors are its first slots.
    for (Slot s = 0; s < table.slot_count(); ++s) {
      ASSERT_EQ(table.Occupied(s), s < vectors->LiveCount()) << "slot " << s;
    }
    for (const auto& [id, expected] : want) {
      const std::optional<Slot> slot = table.Find(id);
      ASSERT_TRUE(slot.has_value()) << id;
      ASSERT_EQ(table.CardOf(*slot).id, id);
      ASSERT_EQ(TitleAt(table, *slot), expected.second);
      const float* stored = vectors->StoredVector(*slot);
      const float* own = &pool[size_t(expected.first) * kDim];
      ASSERT_EQ(std::vector<float>(stored, stored + kDim),
                std::vector<float>(own, own + kDim))
          << id << " at slot " << *slot << ", step " << step;
    }
  }
}

}  // namespace
}  // namespace related
