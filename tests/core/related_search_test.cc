// RelatedSearch against exact search: the box it ranks from a bounded,
// widening candidate pool must be the box that ranking every eligible
// article (an exhaustive scan) gives.
#include "server/core/related_search.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/article_writes.h"
#include "server/core/ranking.h"
#include "support/test_data.h"

namespace related {
namespace {

using testing::ClusteredVectors;

constexpr int kDim = 16;
constexpr int kCount = 3000;
const absl::Time kNow = absl::FromUnixSeconds(1764300000);

// Articles over five sections (one in a hundred in a rare one), two
// languages, dated over 60 days (some undated), with a type attribute; one
// in ten deleted afterwards (tombstones in HNSW, moved slots in exact).
struct Corpus {
  std::unique_ptr<VectorIndex> vectors;
  ArticleTable articles;
  std::vector<float> pool = ClusteredVectors(kCount, kDim, 30, 11);

  explicit Corpus(IndexKind kind)
      : vectors(MakeVectorIndex(kind, kDim, HnswOptions{})) {
    std::vector<Article> batch;
    for (int i = 0; i < kCount; ++i) {
      Article a{"a" + std::to_string(i),
                {&pool[size_t(i) * kDim], &pool[size_t(i + 1) * kDim]},
                {},
                {}};
      static const char* kSections[] = {"world", "sport", "business", "science",
                                        "culture"};
      a.metadata.section = i % 100 == 0 ? "rare" : kSections[i % 5];
      a.metadata.language = i % 4 == 0 ? "de" : "en";
      if (i % 9 != 0) a.metadata.published_at = kNow - absl::Hours(i % 1440);
      a.metadata.attributes["type"] = i % 3 == 0 ? "opinion" : "news";
      batch.push_back(std::move(a));
    }
    EXPECT_TRUE(PlaceArticles(*vectors, articles, batch, 2).ok());
    std::vector<ArticleId> gone;
    for (int i = 5; i < kCount; i += 10)
      gone.push_back("a" + std::to_string(i));
    RemoveArticles(*vectors, articles, gone);
  }
};

struct Box {
  std::vector<Slot> slots;
  int search_rounds = 0;
};

// Every eligible article ranked: an exhaustive scan, then the policy.
Box ExhaustiveBox(const Corpus& c, const float* query, std::optional<Slot> self,
                  const std::set<Slot>& excluded, const RankingPolicy& policy,
                  int limit) {
  const absl::Time now = policy.now.value_or(kNow);
  auto all = c.vectors->SearchExhaustive(
      query, static_cast<int>(c.vectors->LiveCount()), [&](Slot s) {
        return s != self && !excluded.count(s) &&
               FailedFilter(policy, c.articles.CardOf(s), now) ==
                   FilterRule::kNone;
      });
  EXPECT_TRUE(all.ok());
  std::vector<Candidate> candidates;
  for (const Neighbor& n : *all) {
    candidates.push_back(
        ToCandidate(*c.vectors, c.articles, n.slot, n.score, policy));
  }
  RankingDebug debug;
  Box box;
  for (size_t i : RankCandidates(policy, now, candidates, kDim, limit, debug)) {
    box.slots.push_back((*all)[i].slot);
  }
  return box;
}

Box SearchedBox(const Corpus& c, const float* query, std::optional<Slot> self,
                const std::vector<ArticleId>& exclude_ids,
                const RankingPolicy& policy, int limit) {
  auto ranked = RelatedSearch(*c.vectors, c.articles)
                    .Rank(query, self, limit, exclude_ids, policy);
  EXPECT_TRUE(ranked.ok()) << ranked.status();
  Box box;
  box.search_rounds = ranked->debug.search_rounds;
  for (const BoxedArticle& entry : ranked->chosen) {
    EXPECT_EQ(entry.card, c.articles.CardAt(entry.slot));
    box.slots.push_back(entry.slot);
  }
  return box;
}

// Policies whose box depends on the most similar eligible articles only
// (no recency, no diversity), so a bounded search must find the same box.
std::vector<std::pair<std::string, RankingPolicy>> Policies() {
  std::vector<std::pair<std::string, RankingPolicy>> out;
  RankingPolicy p;
  p.now = kNow;
  out.push_back({"default", p});
  p.duplicate_threshold = 0.9f;
  out.push_back({"near-duplicates", p});
  RankingPolicy rare = p;
  rare.sections = {"rare"};  // 1%: the pool must widen or scan
  out.push_back({"rare section", rare});
  RankingPolicy german = p;
  german.languages = {"de"};
  german.exclude_sections = {"sport"};
  out.push_back({"language and excluded section", german});
  RankingPolicy recent = p;
  recent.max_age = absl::Hours(48);
  recent.required_attributes = {{"type", "opinion"}};
  out.push_back({"age and attribute", recent});
  RankingPolicy floor = p;
  floor.min_score = 0.8f;
  out.push_back({"score floor", floor});
  RankingPolicy small_pool = p;
  small_pool.candidates = 3;  // widens from a pool smaller than the box
  out.push_back({"small pool", small_pool});
  return out;
}

std::vector<Slot> QuerySlots(const Corpus& c) {
  std::vector<Slot> slots;
  for (int i = 1; i < kCount; i += 97) {
    if (auto slot = c.articles.Find("a" + std::to_string(i))) {
      slots.push_back(*slot);
    }
  }
  return slots;
}

TEST(RelatedSearch, ExactIndexGivesTheExhaustiveBox) {
  const Corpus c(IndexKind::kExact);
  for (const auto& [name, policy] : Policies()) {
    int widened = 0;
    for (Slot q : QuerySlots(c)) {
      const float* query = c.vectors->StoredVector(q);
      const Box want = ExhaustiveBox(c, query, q, {}, policy, 10);
      const Box got = SearchedBox(c, query, q, {}, policy, 10);
      EXPECT_EQ(got.slots, want.slots) << name << ", query slot " << q;
      widened += got.search_rounds > 1;
    }
    // Filters run inside the search, so only a pool smaller than the box
    // makes the exact index widen.
    if (name == "small pool") {
      EXPECT_EQ(widened, static_cast<int>(QuerySlots(c).size()));
    }
  }
}

TEST(RelatedSearch, HnswAgreesWithTheExhaustiveBox) {
  const Corpus c(IndexKind::kHnsw);
  for (const auto& [name, policy] : Policies()) {
    int found = 0, wanted = 0;
    for (Slot q : QuerySlots(c)) {
      const float* query = c.vectors->StoredVector(q);
      const Box want = ExhaustiveBox(c, query, q, {}, policy, 10);
      const Box got = SearchedBox(c, query, q, {}, policy, 10);
      // Full whenever enough eligible articles exist, and never the query.
      EXPECT_EQ(got.slots.size(), want.slots.size()) << name;
      const std::set<Slot> want_set(want.slots.begin(), want.slots.end());
      for (Slot s : got.slots) {
        EXPECT_NE(s, q) << name;
        EXPECT_EQ(FailedFilter(policy, c.articles.CardOf(s), kNow),
                  FilterRule::kNone)
            << name << ": slot " << s << " is not eligible";
        found += want_set.count(s);
      }
      wanted += static_cast<int>(want.slots.size());
    }
    ASSERT_GT(wanted, 0) << name;
    EXPECT_GE(double(found) / wanted, 0.95) << name;
  }
}

TEST(RelatedSearch, ExcludedArticlesNeverAppearAndTheBoxStaysFull) {
  for (IndexKind kind : {IndexKind::kExact, IndexKind::kHnsw}) {
    const Corpus c(kind);
    RankingPolicy policy;
    policy.now = kNow;
    for (Slot q : QuerySlots(c)) {
      const float* query = c.vectors->StoredVector(q);
      // The ten most related, then again without them.
      const Box first = SearchedBox(c, query, q, {}, policy, 10);
      std::vector<ArticleId> exclude;
      std::set<Slot> excluded;
      for (Slot s : first.slots) {
        exclude.emplace_back(c.articles.CardOf(s).id);
        excluded.insert(s);
      }
      const Box second = SearchedBox(c, query, q, exclude, policy, 10);
      EXPECT_EQ(second.slots.size(), 10u);
      for (Slot s : second.slots) EXPECT_FALSE(excluded.count(s));
      if (kind == IndexKind::kExact) {
        EXPECT_EQ(second.slots,
                  ExhaustiveBox(c, query, q, excluded, policy, 10).slots);
      }
    }
  }
}

TEST(RelatedSearch, ADraftsVectorMayBeAnyUnitVector) {
  const Corpus c(IndexKind::kExact);
  RankingPolicy policy;
  policy.now = kNow;
  const float* query = &c.pool[size_t(5) * kDim];  // article a5 was deleted
  const Box got = SearchedBox(c, query, std::nullopt, {}, policy, 25);
  EXPECT_EQ(got.slots,
            ExhaustiveBox(c, query, std::nullopt, {}, policy, 25).slots);
  EXPECT_EQ(got.slots.size(), 25u);
}

}  // namespace
}  // namespace related
