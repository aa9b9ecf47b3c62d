// StoredArticle: what ArticleIndex keeps per article besides its vector.
#ifndef RELATED_SERVER_CORE_STORED_ARTICLE_H_
#define RELATED_SERVER_CORE_STORED_ARTICLE_H_

#include "server/core/article.h"

namespace related {

// Shared (std::shared_ptr<const StoredArticle>) so that a reader can take
// results out of the index lock without copying metadata under it. What a
// related box shows is read from the article's card instead
// (server/core/article_cards.h).
struct StoredArticle {
  ArticleId id;
  ArticleMetadata metadata;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_STORED_ARTICLE_H_
