// Property tests of editorial ranking: on random articles and random
// policies, ArticleIndex must build the same box as a brute-force reference
// implementation of the policy (written independently, straight from the
// policy's definition in related.proto): the same articles in the same
// order with the exact index, recall >= 0.95 with HNSW.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/article_index.h"
#include "support/test_data.h"

namespace related {
namespace {

constexpr int kDim = 16;
constexpr int kArticles = 1500;
const absl::Time kNow = absl::FromUnixSeconds(1764300000);
const char* const kSections[] = {"world", "business", "sport", "science"};
const char* const kLanguages[] = {"en", "de"};
const char* const kTypes[] = {"news", "analysis", "opinion"};

struct Corpus {
  std::vector<Article> articles;  // embeddings normalised like the server's
};

// Clustered vectors with random metadata; some articles are near-copies of
// others (syndication), so near-duplicate suppression has work to do.
Corpus MakeCorpus(uint32_t seed) {
  std::mt19937 rng(seed);
  auto vectors = testing::ClusteredVectors(kArticles, kDim, 30, seed);
  std::normal_distribution<float> noise(0, 0.02f);
  for (int i = 1; i < kArticles; i += 9) {
    for (int d = 0; d < kDim; ++d)
      vectors[i * kDim + d] = vectors[(i - 1) * kDim + d] + noise(rng);
    testing::Normalize(&vectors[i * kDim], kDim);
  }
  Corpus corpus;
  for (int i = 0; i < kArticles; ++i) {
    Article a;
    a.id = testing::TestId(i);
    a.embedding.assign(&vectors[i * kDim], &vectors[(i + 1) * kDim]);
    a.metadata.section = kSections[rng() % 4];
    a.metadata.language = kLanguages[rng() % 5 == 0 ? 1 : 0];
    if (rng() % 10 != 0) {  // 10% have no date
      a.metadata.published_at = kNow - absl::Minutes(rng() % (60 * 24 * 60));
    }
    a.metadata.attributes["type"] = kTypes[rng() % 3];
    corpus.articles.push_back(std::move(a));
  }
  return corpus;
}

// A random mix of controls; each is on about half the time.
RankingPolicy RandomPolicy(std::mt19937& rng) {
  auto coin = [&] { return rng() % 2 == 0; };
  RankingPolicy p;
  p.now = kNow;
  if (coin()) p.sections = {kSections[rng() % 4], kSections[rng() % 4]};
  if (p.sections.empty() && coin()) p.exclude_sections = {kSections[rng() % 4]};
  if (rng() % 4 == 0) p.languages = {kLanguages[rng() % 2]};
  if (rng() % 4 == 0) p.max_age = absl::Hours(24 * (1 + rng() % 40));
  if (rng() % 5 == 0) {
    p.published_after = kNow - absl::Hours(24 * 50);
    p.published_before = kNow - absl::Hours(24 * (rng() % 30));
  }
  if (rng() % 4 == 0) p.required_attributes = {{"type", kTypes[rng() % 3]}};
  if (rng() % 4 == 0) p.min_score = 0.2f * (rng() % 4);
  if (coin()) p.duplicate_threshold = 0.9f + 0.02f * (rng() % 5);
  if (coin()) p.diversity_lambda = 0.3f + 0.1f * (rng() % 7);
  if (coin()) {
    p.recency_half_life = absl::Hours(12 * (1 + rng() % 20));
    p.recency_weight = 0.1f * (1 + rng() % 10);
  }
  if (rng() % 3 == 0) p.candidates = 5 + rng() % 40;
  return p;
}

// ---- The reference: the policy's definition, by brute force. ----

bool Eligible(const RankingPolicy& p, const ArticleMetadata& m) {
  auto in = [](const std::vector<std::string>& list, const std::string& v) {
    return std::count(list.begin(), list.end(), v) > 0;
  };
  if (!p.sections.empty() && !in(p.sections, m.section)) return false;
  if (in(p.exclude_sections, m.section)) return false;
  if (!p.languages.empty() && !in(p.languages, m.language)) return false;
  const bool date_filter = p.published_after || p.published_before || p.max_age;
  if (date_filter && !m.published_at) return false;
  if (p.published_after && *m.published_at < *p.published_after) return false;
  if (p.published_before && *m.published_at > *p.published_before) return false;
  if (p.max_age &&
      (*m.published_at < *p.now - *p.max_age || *m.published_at > *p.now)) {
    return false;
  }
  for (const auto& [k, v] : p.required_attributes) {
    auto it = m.attributes.find(k);
    if (it == m.attributes.end() || it->second != v) return false;
  }
  return true;
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

struct Picked {
  std::string id;
  double value;  // the greedy objective when picked, to recognise float ties
};

// Greedy box over `pool` (indices into articles, most similar first).
std::vector<Picked> GreedyBox(const RankingPolicy& p, const Corpus& c,
                              const std::vector<float>& query,
                              const std::vector<int>& pool, int limit) {
  const double threshold = p.duplicate_threshold.value_or(2.0);
  struct Open {
    int index;
    double relevance;
    double max_sim = -2;
  };
  std::vector<Open> open;
  for (int i : pool) {
    const Article& a = c.articles[i];
    const double sim = Cosine(query, a.embedding);
    if (p.min_score && sim < *p.min_score) continue;
    if (sim > threshold) continue;
    double factor = 1;
    if (p.recency_weight > 0) {
      double decay = 0;
      if (a.metadata.published_at) {
        const double age = std::max(
            0.0, absl::ToDoubleSeconds(*p.now - *a.metadata.published_at));
        decay =
            std::pow(2.0, -age / absl::ToDoubleSeconds(*p.recency_half_life));
      }
      factor = 1 - p.recency_weight + p.recency_weight * decay;
    }
    open.push_back({i, sim * factor});
  }
  std::vector<Picked> box;
  while (int(box.size()) < limit && !open.empty()) {
    size_t best = 0;
    double best_value = -1e300;
    for (size_t k = 0; k < open.size(); ++k) {
      const double penalty = box.empty() ? 0 : open[k].max_sim;
      const double value = p.diversity_lambda * open[k].relevance -
                           (1 - p.diversity_lambda) * penalty;
      if (value > best_value) {
        best_value = value;
        best = k;
      }
    }
    const Article& chosen = c.articles[open[best].index];
    box.push_back({chosen.id, best_value});
    open.erase(open.begin() + best);
    std::vector<Open> kept;
    for (Open o : open) {
      const double s = Cosine(c.articles[o.index].embedding, chosen.embedding);
      if (s > threshold) continue;
      o.max_sim = std::max(o.max_sim, s);
      kept.push_back(o);
    }
    open = kept;
  }
  return box;
}

std::vector<Picked> ReferenceBox(const RankingPolicy& p, const Corpus& c,
                                 int query, int limit,
                                 const std::set<std::string>& exclude) {
  const std::vector<float>& q = c.articles[query].embedding;
  std::vector<std::pair<double, int>> eligible;
  for (int i = 0; i < int(c.articles.size()); ++i) {
    if (i == query || exclude.count(c.articles[i].id)) continue;
    if (!Eligible(p, c.articles[i].metadata)) continue;
    eligible.push_back({-Cosine(q, c.articles[i].embedding), i});
  }
  std::sort(eligible.begin(), eligible.end());
  for (size_t pool = p.candidates > 0 ? p.candidates : std::max(4 * limit, 50);;
       pool *= 2) {
    std::vector<int> candidates;
    for (size_t i = 0; i < std::min(pool, eligible.size()); ++i) {
      candidates.push_back(eligible[i].second);
    }
    auto box = GreedyBox(p, c, q, candidates, limit);
    if (int(box.size()) >= limit || pool >= eligible.size()) return box;
  }
}

// The same articles in the same order, where a swap of two picks whose
// objective values agree to float precision counts as the same order.
::testing::AssertionResult SameBox(const std::vector<RelatedArticle>& got,
                                   std::vector<Picked> want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "got " << got.size() << " articles, reference " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].id == want[i].id) continue;
    auto tie =
        std::find_if(want.begin() + i + 1, want.end(), [&](const Picked& w) {
          return w.id == got[i].id && std::abs(w.value - want[i].value) < 1e-5;
        });
    if (tie == want.end()) {
      return ::testing::AssertionFailure()
             << "position " << i << ": got " << got[i].id << ", reference "
             << want[i].id;
    }
    std::swap(want[i], *tie);
  }
  return ::testing::AssertionSuccess();
}

std::unique_ptr<ArticleIndex> Load(IndexKind kind, const Corpus& c) {
  ArticleIndexOptions options;
  options.index_kind = kind;
  options.dimension = kDim;
  auto index = *ArticleIndex::Create(options);
  std::vector<Article> batch;
  for (const Article& a : c.articles) {
    batch.push_back(a);
    if (batch.size() == 500) {
      EXPECT_TRUE(index->Upsert(batch).ok());
      batch.clear();
    }
  }
  if (!batch.empty()) {
    EXPECT_TRUE(index->Upsert(batch).ok());
  }
  return index;
}

Corpus NormalisedCopy(Corpus c, const ArticleIndex& index) {
  // Compare against the vectors the index stores (normalised in float).
  for (Article& a : c.articles) a.embedding = index.Get(a.id)->embedding;
  return c;
}

TEST(RankingProperty, ExactIndexBuildsTheReferenceBox) {
  const Corpus raw = MakeCorpus(101);
  auto index = Load(IndexKind::kExact, raw);
  const Corpus c = NormalisedCopy(raw, *index);
  std::mt19937 rng(7);
  int full_boxes = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const RankingPolicy policy = RandomPolicy(rng);
    const int query = rng() % kArticles;
    const int limit = 1 + rng() % 20;
    std::set<std::string> exclude;
    for (int e = rng() % 4; e > 0; --e)
      exclude.insert(c.articles[rng() % kArticles].id);
    auto got = index->Related({c.articles[query].id,
                               limit,
                               {exclude.begin(), exclude.end()},
                               policy});
    ASSERT_TRUE(got.ok()) << got.status();
    const auto want = ReferenceBox(policy, c, query, limit, exclude);
    EXPECT_TRUE(SameBox(got->articles, want)) << "trial " << trial;
    full_boxes += int(got->articles.size()) == limit;
  }
  std::cout << "exact: " << full_boxes << " of 300 random boxes full\n";
  EXPECT_GT(full_boxes, 100) << "the policies are too selective to test much";
}

TEST(RankingProperty, HnswIndexRecallAgainstReferenceAtLeast95Percent) {
  const Corpus raw = MakeCorpus(202);
  auto index = Load(IndexKind::kHnsw, raw);
  const Corpus c = NormalisedCopy(raw, *index);
  std::mt19937 rng(8);
  int found = 0, wanted = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const RankingPolicy policy = RandomPolicy(rng);
    const int query = rng() % kArticles;
    const int limit = 1 + rng() % 20;
    auto got = index->Related({c.articles[query].id, limit, {}, policy});
    ASSERT_TRUE(got.ok()) << got.status();
    const auto want = ReferenceBox(policy, c, query, limit, {});
    std::set<std::string> got_ids;
    for (const auto& r : got->articles) got_ids.insert(r.id);
    for (const auto& w : want) found += got_ids.count(w.id);
    wanted += int(want.size());
    EXPECT_EQ(got->articles.size(), want.size()) << "trial " << trial;
  }
  const double recall = double(found) / wanted;
  std::cout << "hnsw: recall " << recall << " of " << wanted
            << " reference picks\n";
  EXPECT_GE(recall, 0.95);
}

// However selective the filter, the box is full when enough eligible
// articles exist: 1 in 100 articles is in the section asked for.
TEST(RankingProperty, SelectiveFilterStillFillsTheBox) {
  for (IndexKind kind : {IndexKind::kExact, IndexKind::kHnsw}) {
    Corpus c = MakeCorpus(303);
    for (int i = 0; i < kArticles; ++i) {
      c.articles[i].metadata.section = i % 100 == 0 ? "rare" : "common";
    }
    auto index = Load(kind, c);
    RankingPolicy policy;
    policy.sections = {"rare"};
    auto got = index->Related({c.articles[1].id, 10, {}, policy});
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->articles.size(), 10u) << IndexKindName(kind);
    for (const auto& r : got->articles) EXPECT_EQ(r.metadata->section, "rare");
    EXPECT_GT(got->debug.removed_by_section, 0);
  }
}

TEST(RankingProperty, SearchByVectorMatchesLookupOfTheSameVector) {
  const Corpus raw = MakeCorpus(404);
  auto index = Load(IndexKind::kExact, raw);
  RankingPolicy policy;
  policy.duplicate_threshold = 0.95f;
  policy.diversity_lambda = 0.7f;
  const Article stored = *index->Get(raw.articles[5].id);
  auto by_id = index->Related({stored.id, 10, {}, policy});
  // The draft is the stored article's vector; exclude the article itself,
  // which a stored lookup always excludes.
  auto by_vector =
      index->RelatedToVector({stored.embedding, 10, {stored.id}, policy});
  ASSERT_TRUE(by_id.ok() && by_vector.ok());
  ASSERT_EQ(by_id->articles.size(), by_vector->articles.size());
  for (size_t i = 0; i < by_id->articles.size(); ++i) {
    EXPECT_EQ(by_id->articles[i].id, by_vector->articles[i].id);
  }
  auto wrong =
      index->RelatedToVector({std::vector<float>(kDim + 1, 1.0f), 10, {}, {}});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.status().message()),
              ::testing::HasSubstr("embedding"));
}

}  // namespace
}  // namespace related
