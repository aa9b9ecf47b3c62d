// The domain types: what an article is to this service.
#ifndef RELATED_SERVER_CORE_ARTICLE_H_
#define RELATED_SERVER_CORE_ARTICLE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace related {

// The site's own identifier (e.g. a CMS path). Validated by ValidateArticleId.
using ArticleId = std::string;

// What the website needs to render an article in the related box. Stored as
// given and returned with every result, so callers need no second lookup.
struct ArticleMetadata {
  std::string title;
  std::string url;
  std::string section;
  std::string language;
  std::optional<absl::Time> published_at;  // nullopt: unknown
  std::map<std::string, std::string> attributes;

  bool operator==(const ArticleMetadata&) const = default;
};

struct Article {
  ArticleId id;
  std::vector<float> embedding;
  ArticleMetadata metadata;
  // The article's text (summary or body), when the caller sent it: kept so
  // that the server can embed it again with another model. Never returned
  // in related boxes.
  std::string text;
};

// The IDs of `articles`, in order.
inline std::vector<ArticleId> IdsOf(const std::vector<Article>& articles) {
  std::vector<ArticleId> ids;
  ids.reserve(articles.size());
  for (const Article& a : articles) ids.push_back(a.id);
  return ids;
}

// One entry of a related list.
struct RelatedArticle {
  ArticleId id;
  float score = 0;  // cosine similarity to the query article
  // Shared with the index, not copied: a lookup returns ten of these and
  // copying their strings was a measurable part of a precomputed lookup.
  // Never null; stays valid (unchanged) after the article is updated.
  std::shared_ptr<const ArticleMetadata> metadata;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_ARTICLE_H_
