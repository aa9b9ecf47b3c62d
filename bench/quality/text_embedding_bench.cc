// The text embedder alone, without the server: trains a model on a labelled
// JSONL corpus (fields title, body, category), embeds every article, and
// prints category precision@10 of exact nearest neighbours (every article's
// 10 most similar others, as bench/quality's figures) and the one-core
// embedding throughput on 2 KB texts. For choosing the model's settings;
// bench/quality/quality_bench.py measures the same through the server.
//
//   related_text_embedding_bench --dataset=../shared/datasets/agnews.jsonl
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/text/sif_training.h"
#include "common/text/tokenizer.h"

ABSL_FLAG(std::string, dataset, "", "JSONL with title, body, category");
ABSL_FLAG(int, dim, 100, "model dimension");
ABSL_FLAG(int, epochs, 0, "fastText passes (0: by corpus size)");
ABSL_FLAG(int, min_count, 2, "fastText min_count");
ABSL_FLAG(int, components, 1, "common components removed");
ABSL_FLAG(float, sif_a, 1e-3f, "SIF smoothing");
ABSL_FLAG(int, threads, 2, "training threads");
ABSL_FLAG(bool, duplicates, false,
          "also profile near-duplicate pairs by similarity");

ABSL_FLAG(double, train_share, 1.0,
          "share of the corpus the model is trained on (the rest is embedded "
          "unseen: a check that the figure is not memorisation)");

namespace {

using Clock = std::chrono::steady_clock;

struct Labelled {
  std::string text;
  std::string category;
};

std::vector<Labelled> Load(const std::string& path) {
  std::vector<Labelled> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    rows.push_back({j.value("title", "") + "\n" + j.value("body", ""),
                    j.value("category", "")});
  }
  return rows;
}

// Share of the words of the smaller text that the other has too.
double WordOverlap(const std::string& a, const std::string& b) {
  std::set<std::string> wa, wb;
  related::text::ForEachWord(a, [&](absl::string_view w) { wa.emplace(w); });
  related::text::ForEachWord(b, [&](absl::string_view w) { wb.emplace(w); });
  size_t common = 0;
  for (const std::string& w : wa) common += wb.count(w);
  return double(common) / double(std::max<size_t>(1, std::min(wa.size(), wb.size())));
}

// How near-duplicates look under this embedding: pairs above each
// similarity, split by whether their texts mostly share their words (a
// copy, an update) or not (another article on the same subject). Tells
// where policy.duplicate_threshold should sit for embedded text.
void DuplicateProfile(const std::vector<std::vector<float>>& v,
                      const std::vector<Labelled>& rows) {
  const double thresholds[] = {0.90, 0.95, 0.97, 0.98, 0.99};
  size_t copies[5] = {}, others[5] = {};
  for (size_t q = 0; q < v.size(); ++q) {
    for (size_t i = q + 1; i < v.size(); ++i) {
      float dot = 0;
      for (size_t k = 0; k < v[q].size(); ++k) dot += v[q][k] * v[i][k];
      if (dot <= thresholds[0]) continue;
      const bool copy = WordOverlap(rows[q].text, rows[i].text) >= 0.8;
      for (int t = 0; t < 5; ++t) {
        if (dot > thresholds[t]) (copy ? copies : others)[t]++;
      }
    }
  }
  for (int t = 0; t < 5; ++t) {
    std::printf("pairs above %.2f: %zu sharing >= 80%% of words, %zu not\n",
                thresholds[t], copies[t], others[t]);
  }
}

double PrecisionAt10(const std::vector<std::vector<float>>& v,
                     const std::vector<Labelled>& rows) {
  const size_t n = v.size();
  double total = 0;
  std::vector<std::pair<float, size_t>> scored(n);
  for (size_t q = 0; q < n; ++q) {
    for (size_t i = 0; i < n; ++i) {
      float dot = 0;
      for (size_t k = 0; k < v[q].size(); ++k) dot += v[q][k] * v[i][k];
      scored[i] = {i == q ? -2.0f : dot, i};
    }
    std::partial_sort(scored.begin(), scored.begin() + 10, scored.end(),
                      [](auto& a, auto& b) { return a.first > b.first; });
    int same = 0;
    for (int r = 0; r < 10; ++r) {
      same += rows[scored[r].second].category == rows[q].category;
    }
    total += same / 10.0;
  }
  return total / n;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::vector<Labelled> rows = Load(absl::GetFlag(FLAGS_dataset));
  if (rows.size() < 20) {
    std::fprintf(stderr, "need a dataset (--dataset) of at least 20 rows\n");
    return 2;
  }
  std::vector<std::string> training;
  std::mt19937 random(1);
  std::bernoulli_distribution take(absl::GetFlag(FLAGS_train_share));
  for (const Labelled& row : rows) {
    if (take(random)) training.push_back(row.text);
  }
  related::text::TrainingOptions options;
  options.dimension = absl::GetFlag(FLAGS_dim);
  options.epochs = absl::GetFlag(FLAGS_epochs);
  options.min_count = absl::GetFlag(FLAGS_min_count);
  options.components = absl::GetFlag(FLAGS_components);
  options.sif_a = absl::GetFlag(FLAGS_sif_a);
  options.threads = absl::GetFlag(FLAGS_threads);

  const auto start = Clock::now();
  auto model = related::text::TrainSifModel(training, options);
  const double train_s =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (!model.ok()) {
    std::fprintf(stderr, "training failed: %s\n",
                 std::string(model.status().message()).c_str());
    return 1;
  }
  std::printf("model: %s\n", model->description().c_str());
  std::printf("training: %zu texts in %.1f s\n", training.size(), train_s);
  std::vector<std::vector<float>> vectors;
  int failed = 0;
  for (const Labelled& row : rows) {
    auto v = model->Embed(row.text);
    if (!v.ok()) ++failed;
    vectors.push_back(v.ok() ? *v : std::vector<float>(model->dimension(), 0));
  }
  std::printf("P@10 over %zu articles (%d not embeddable): %.4f\n", rows.size(),
              failed, PrecisionAt10(vectors, rows));
  if (absl::GetFlag(FLAGS_duplicates)) DuplicateProfile(vectors, rows);
  // Throughput on 2 KB texts made of consecutive articles.
  std::vector<std::string> long_texts;
  std::string current;
  for (const Labelled& row : rows) {
    current += row.text + "\n";
    if (current.size() >= 2048) {
      long_texts.push_back(current.substr(0, 2048));
      current.clear();
    }
  }
  const auto embed_start = Clock::now();
  size_t embedded = 0;
  while (std::chrono::duration<double>(Clock::now() - embed_start).count() <
         2.0) {
    for (const std::string& text : long_texts) {
      embedded += model->Embed(text).ok();
    }
  }
  const double embed_s =
      std::chrono::duration<double>(Clock::now() - embed_start).count();
  std::printf("embedding, one thread, 2048-byte texts: %.0f articles/s\n",
              embedded / embed_s);
  return 0;
}
