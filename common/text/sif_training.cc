#include "common/text/sif_training.h"

#include <fasttext/fasttext.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/text/tokenizer.h"

namespace related::text {
namespace {

// The corpus as fastText reads it: one text per line, its words separated
// by spaces. Removed when this goes out of scope.
class ScratchCorpus {
 public:
  ~ScratchCorpus() {
    if (!path_.empty()) unlink(path_.c_str());
  }

  absl::Status Write(absl::Span<const std::string> texts,
                     const std::string& dir) {
    std::string pattern = dir + "/related-train-XXXXXX";
    const int fd = mkstemp(pattern.data());
    if (fd < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot create a scratch file in ", dir));
    }
    close(fd);
    path_ = pattern;
    std::ofstream out(path_, std::ios::trunc);
    for (const std::string& text : texts) {
      bool any = false;
      ForEachWord(text, [&](absl::string_view word) {
        if (any) out.put(' ');
        out.write(word.data(), static_cast<std::streamsize>(word.size()));
        any = true;
        ++tokens_;
      });
      if (any) {
        out.put('\n');
        ++texts_with_words_;
      }
    }
    out.flush();
    if (!out) return absl::UnavailableError("cannot write " + path_);
    return absl::OkStatus();
  }

  const std::string& path() const { return path_; }
  int64_t tokens() const { return tokens_; }
  int64_t texts_with_words() const { return texts_with_words_; }

 private:
  std::string path_;
  int64_t tokens_ = 0;
  int64_t texts_with_words_ = 0;
};

fasttext::Args FastTextArgs(const TrainingOptions& options,
                            const ScratchCorpus& corpus) {
  fasttext::Args args;
  args.input = corpus.path();
  args.model = fasttext::model_name::sg;
  args.dim = options.dimension;
  args.epoch =
      options.epochs > 0 ? options.epochs : EpochsFor(corpus.tokens());
  args.minCount = options.min_count;
  args.thread = std::max(1, options.threads);
  args.verbose = 0;
  // Whole words only: fastText's character n-grams cost 2M hash buckets of
  // memory (800 MB at 100 dimensions) and training time, and measured no
  // better here (docs/text.md). Words the model has not seen still count
  // in the lexical part.
  args.minn = 0;
  args.maxn = 0;
  args.bucket = 0;
  return args;
}

// The vocabulary, SIF weights and word vectors of a trained fastText.
SifModelData WordTable(const fasttext::FastText& fasttext,
                       const TrainingOptions& options) {
  const auto dictionary = fasttext.getDictionary();
  const std::vector<int64_t> counts =
      dictionary->getCounts(fasttext::entry_type::word);
  SifModelData data;
  data.dimension = fasttext.getDimension();
  int64_t total = 0;
  for (int32_t i = 0; i < dictionary->nwords(); ++i) {
    if (dictionary->getWord(i) != "</s>") total += counts[i];
  }
  fasttext::Vector vec(data.dimension);

  for (int32_t i = 0; i < dictionary->nwords(); ++i) {
    const std::string word = dictionary->getWord(i);
    if (word == "</s>") continue;  // fastText's end-of-line marker
    fasttext.getWordVector(vec, word);

    const double share = static_cast<double>(counts[i]) / total;
    data.words.push_back(word);
    data.weights.push_back(
        static_cast<float>(options.sif_a / (options.sif_a + share)));
    data.vectors.insert(data.vectors.end(), vec.data(),
                        vec.data() + data.dimension);
  }
  return data;
}

// The top `k` eigenvectors of sum over `rows` of r r^T (uncentred, as SIF
// does), by power iteration with deflation. Each is a unit vector.
std::vector<float> CommonComponents(const std::vector<std::vector<float>>& rows,
                                    int dim, int k) {
  std::vector<double> scatter(size_t(dim) * dim, 0.0);
  for (const std::vector<float>& r : rows) {
    for (int i = 0; i < dim; ++i) {
      for (int j = 0; j < dim; ++j) scatter[size_t(i) * dim + j] += r[i] * r[j];
    }
  }
  std::vector<float> components;
  for (int c = 0; c < k; ++c) {
    std::vector<double> u(dim, 1.0 / std::sqrt(double(dim))), next(dim);
    for (int iteration = 0; iteration < 200; ++iteration) {
      double norm = 0;
      for (int i = 0; i < dim; ++i) {
        next[i] = 0;
        for (int j = 0; j < dim; ++j) next[i] += scatter[size_t(i) * dim + j] * u[j];
        norm += next[i] * next[i];
      }
      norm = std::sqrt(norm);
      if (norm == 0) break;
      for (int i = 0; i < dim; ++i) u[i] = next[i] / norm;
    }
    // Deflate: remove this direction's share before finding the next.
    double eigenvalue = 0;
    for (int i = 0; i < dim; ++i) {
      for (int j = 0; j < dim; ++j) eigenvalue += u[i] * scatter[size_t(i) * dim + j] * u[j];
    }
    for (int i = 0; i < dim; ++i) {
      for (int j = 0; j < dim; ++j) scatter[size_t(i) * dim + j] -= eigenvalue * u[i] * u[j];
    }
    for (double x : u) components.push_back(static_cast<float>(x));
  }
  return components;
}

}  // namespace

int EpochsFor(int64_t tokens) {
  constexpr double kWordsProcessed = 3e6;
  if (tokens <= 0) return 40;
  return static_cast<int>(std::clamp<int64_t>(
      std::llround(kWordsProcessed / static_cast<double>(tokens)), 2, 40));
}

absl::StatusOr<SifModel> TrainSifModel(absl::Span<const std::string> texts,
                                       const TrainingOptions& options) {
  ScratchCorpus corpus;
  if (absl::Status s = corpus.Write(texts, options.scratch_dir); !s.ok()) {
    return s;
  }
  if (corpus.texts_with_words() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training needs at least 2 texts with words; got ",
        corpus.texts_with_words(), " of ", texts.size()));
  }
  const fasttext::Args args = FastTextArgs(options, corpus);
  fasttext::FastText fasttext;
  try {
    fasttext.train(args,
                   [&](float done, float, double, double, int64_t eta) {
                     if (options.progress) options.progress({done, eta});
                     if (options.cancelled && options.cancelled()) {
                       fasttext.abort();
                     }
                   });
  } catch (const std::exception& e) {
    if (options.cancelled && options.cancelled()) {
      return absl::CancelledError("training was stopped");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("fastText could not train on ", corpus.texts_with_words(),
                     " texts (", corpus.tokens(), " words): ", e.what()));
  }
  SifModelData data = WordTable(fasttext, options);
  data.description = absl::StrCat(
      "fastText skipgram dim=", data.dimension, " epochs=", args.epoch,
      " min_count=", options.min_count, "; SIF a=", options.sif_a,
      " components=", options.components, "; ", corpus.texts_with_words(),
      " texts, ", corpus.tokens(), " words, ", data.words.size(),
      " in the vocabulary");
  // The common direction is found with the model that has none yet.
  auto plain = SifModel::Build(data);
  if (!plain.ok() || options.components <= 0) return plain;
  std::vector<std::vector<float>> embedded;
  embedded.reserve(texts.size());
  for (const std::string& text : texts) {
    if (auto v = plain->Embed(text); v.ok()) embedded.push_back(*std::move(v));
  }
  data.components =
      CommonComponents(embedded, data.dimension, options.components);
  return SifModel::Build(std::move(data));
}

}  // namespace related::text
