// TextEmbedding: where an article's text becomes its vector. A write that
// brings text and no embedding is embedded here, before it is logged, so
// that the log (and, in replicated mode, every replica) carries the vector
// and no replica embeds on its own. The model itself is an Embedder (for
// now the SIF model of common/text, trained on the site's articles).
//
// Thread-safe: writes, searches and a model swap may run at once.
#ifndef RELATED_SERVER_CORE_TEXT_EMBEDDING_H_
#define RELATED_SERVER_CORE_TEXT_EMBEDDING_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/text/sif_model.h"
#include "server/core/article.h"

namespace related {

// A model that turns text into a unit vector.
class Embedder {
 public:
  virtual ~Embedder() = default;
  // INVALID_ARGUMENT (with the reason) for text it cannot embed.
  virtual absl::StatusOr<std::vector<float>> Embed(
      absl::string_view text) const = 0;
  virtual int dimension() const = 0;
  // Equal identities give equal vectors for equal text. Stored with the
  // data, so that vectors of two models are never compared.
  virtual const std::string& identity() const = 0;
  virtual const std::string& description() const = 0;
};

std::unique_ptr<Embedder> MakeSifEmbedder(text::SifModel model);

// The text an article is embedded from: its title, then its text.
std::string EmbeddingText(const Article& article);

class TextEmbedding {
 public:
  // `max_text_bytes`: the longest Article.text (or search text) accepted.
  explicit TextEmbedding(int max_text_bytes) : max_text_bytes_(max_text_bytes) {}

  // Replaces the model (null: none). Lookups already running finish with
  // the model they started with.
  void SetModel(std::shared_ptr<const Embedder> model);
  std::shared_ptr<const Embedder> model() const;
  int max_text_bytes() const { return max_text_bytes_; }

  // Gives every article that has text and no embedding the embedding of
  // its title and text; articles with an embedding keep it. All or
  // nothing: INVALID_ARGUMENT naming "articles[i]" for an article with
  // neither, text over the limit or text the model cannot embed;
  // FAILED_PRECONDITION if text needs a model and there is none.
  absl::Status EmbedArticles(std::vector<Article>& articles) const;

  // The vector of a search's text (a draft). Same errors, naming "text".
  absl::StatusOr<std::vector<float>> EmbedQuery(absl::string_view text) const;

 private:
  absl::StatusOr<std::vector<float>> EmbedChecked(const Embedder* model,
                                                  absl::string_view text,
                                                  size_t text_bytes,
                                                  absl::string_view field) const;

  const int max_text_bytes_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Embedder> model_ ABSL_GUARDED_BY(mu_);
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_TEXT_EMBEDDING_H_
