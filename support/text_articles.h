// Text-in test helpers: a two-word embedder model and text-only articles.
#ifndef RELATED_SUPPORT_TEXT_ARTICLES_H_
#define RELATED_SUPPORT_TEXT_ARTICLES_H_

#include <memory>
#include <string>
#include <utility>

#include "common/text/sif_model.h"
#include "server/core/article.h"
#include "server/core/text_embedding.h"

namespace related::testing {

// Embeds "election" as (1, 0) and "match" as (0, 1); knows no other word.
inline std::shared_ptr<const Embedder> SmallEmbedder() {
  text::SifModelData d;
  d.dimension = 2;
  d.words = {"election", "match"};
  d.weights = {1.0f, 1.0f};
  d.vectors = {1, 0, 0, 1};
  return MakeSifEmbedder(*text::SifModel::Build(d));
}

// An article sent with text and no embedding.
inline Article TextArticle(std::string id, std::string title,
                           std::string text) {
  Article a;
  a.id = std::move(id);
  a.metadata.title = std::move(title);
  a.text = std::move(text);
  return a;
}

}  // namespace related::testing

#endif  // RELATED_SUPPORT_TEXT_ARTICLES_H_
