#include "server/core/text_embedding.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace related {
namespace {

class SifEmbedder final : public Embedder {
 public:
  explicit SifEmbedder(text::SifModel model) : model_(std::move(model)) {}
  absl::StatusOr<std::vector<float>> Embed(
      absl::string_view text) const override {
    return model_.Embed(text);
  }
  int dimension() const override { return model_.dimension(); }
  const std::string& identity() const override { return model_.identity(); }
  const std::string& description() const override {
    return model_.description();
  }

 private:
  const text::SifModel model_;
};

constexpr absl::string_view kNoModel =
    "this server has no embedder model: start it with --embedder_model=FILE "
    "(train one with `related-cli train`), or standalone with "
    "--embedder_train_after=N to train one itself, or send embeddings";

}  // namespace

std::unique_ptr<Embedder> MakeSifEmbedder(text::SifModel model) {
  return std::make_unique<SifEmbedder>(std::move(model));
}

std::string EmbeddingText(const Article& article) {
  return absl::StrCat(article.metadata.title, "\n", article.text);
}

void TextEmbedding::SetModel(std::shared_ptr<const Embedder> model) {
  absl::MutexLock lock(&mu_);
  model_ = std::move(model);
}

std::shared_ptr<const Embedder> TextEmbedding::model() const {
  absl::MutexLock lock(&mu_);
  return model_;
}

absl::StatusOr<std::vector<float>> TextEmbedding::EmbedChecked(
    const Embedder* model, absl::string_view text, size_t text_bytes,
    absl::string_view field) const {
  if (text_bytes > static_cast<size_t>(max_text_bytes_)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", text_bytes, " bytes, more than the limit of ",
                     max_text_bytes_));
  }
  if (model == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, " needs embedding, and ", kNoModel));
  }
  auto embedding = model->Embed(text);
  if (!embedding.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", embedding.status().message()));
  }
  return embedding;
}

absl::Status TextEmbedding::EmbedArticles(std::vector<Article>& articles) const {
  const std::shared_ptr<const Embedder> model = this->model();
  std::vector<std::vector<float>> embedded(articles.size());
  for (size_t i = 0; i < articles.size(); ++i) {
    const Article& article = articles[i];
    if (!article.embedding.empty()) continue;
    const std::string field = absl::StrCat("articles[", i, "]");
    if (article.text.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".embedding: empty, and no text to embed (send an embedding "
                 "or text)"));
    }
    auto embedding = EmbedChecked(model.get(), EmbeddingText(article),
                                  article.text.size(),
                                  absl::StrCat(field, ".text"));
    if (!embedding.ok()) return embedding.status();
    embedded[i] = *std::move(embedding);
  }
  // Only now that every article is embeddable: all or nothing.
  for (size_t i = 0; i < articles.size(); ++i) {
    if (!embedded[i].empty()) articles[i].embedding = std::move(embedded[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> TextEmbedding::EmbedQuery(
    absl::string_view text) const {
  const std::shared_ptr<const Embedder> model = this->model();
  return EmbedChecked(model.get(), text, text.size(), "text");
}

}  // namespace related
