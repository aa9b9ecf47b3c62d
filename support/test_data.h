// Deterministic data for tests and benchmarks: clustered unit vectors (news
// embeddings cluster by story and topic) and a brute-force reference search.
#ifndef RELATED_SUPPORT_TEST_DATA_H_
#define RELATED_SUPPORT_TEST_DATA_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace related::testing {

inline void Normalize(float* v, int dim) {
  double norm = 0;
  for (int i = 0; i < dim; ++i) norm += double(v[i]) * v[i];
  norm = std::sqrt(norm);
  for (int i = 0; i < dim; ++i) v[i] = float(v[i] / norm);
}

// `count` unit vectors of `dim` floats around `clusters` random centres,
// row-major. The same seed gives the same vectors.
inline std::vector<float> ClusteredVectors(int count, int dim, int clusters,
                                           uint32_t seed,
                                           float spread = 0.35f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> centres(size_t(clusters) * dim);
  for (float& x : centres) x = gauss(rng);
  for (int c = 0; c < clusters; ++c) Normalize(&centres[size_t(c) * dim], dim);
  std::uniform_int_distribution<int> pick(0, clusters - 1);
  std::vector<float> out(size_t(count) * dim);
  for (int i = 0; i < count; ++i) {
    const float* centre = &centres[size_t(pick(rng)) * dim];
    float* v = &out[size_t(i) * dim];
    for (int d = 0; d < dim; ++d)
      v[d] = centre[d] + spread * gauss(rng) / std::sqrt(float(dim));
    Normalize(v, dim);
  }
  return out;
}

inline float Dot(const float* a, const float* b, int dim) {
  float s = 0;
  for (int i = 0; i < dim; ++i) s += a[i] * b[i];
  return s;
}

// Indices of the k rows of `vectors` most similar to `query`, best first,
// skipping rows for which skip(row) is true. Ties broken by lower index.
template <typename Skip>
std::vector<int> BruteForceTopK(const std::vector<float>& vectors, int dim,
                                const float* query, int k, Skip skip) {
  std::vector<std::pair<float, int>> scored;
  const int n = int(vectors.size() / dim);
  for (int i = 0; i < n; ++i) {
    if (skip(i)) continue;
    scored.push_back({-Dot(&vectors[size_t(i) * dim], query, dim), i});
  }
  const int kk = std::min<int>(k, int(scored.size()));
  std::partial_sort(scored.begin(), scored.begin() + kk, scored.end());
  std::vector<int> out;
  for (int i = 0; i < kk; ++i) out.push_back(scored[i].second);
  return out;
}

inline std::string TestId(int i) {
  return "2026/11/28/world/story-" + std::to_string(i);
}

// Articles `first` to `first + count - 1`, article i with TestId(i) and row
// i of `vectors` (rows of `dim` floats) as its embedding; `describe(i, a)`
// fills in the rest. The server's Article and the client's both fit.
template <typename ArticleT, typename Describe>
std::vector<ArticleT> NumberedArticles(const std::vector<float>& vectors,
                                       int dim, int first, int count,
                                       Describe describe) {
  std::vector<ArticleT> out;
  for (int i = first; i < first + count; ++i) {
    ArticleT a;
    a.id = TestId(i);
    a.embedding.assign(vectors.begin() + size_t(i) * dim,
                       vectors.begin() + size_t(i + 1) * dim);
    describe(i, a);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace related::testing

#endif  // RELATED_SUPPORT_TEST_DATA_H_
