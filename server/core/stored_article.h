// StoredArticle: what ArticleIndex keeps per article besides its vector.
#ifndef RELATED_SERVER_CORE_STORED_ARTICLE_H_
#define RELATED_SERVER_CORE_STORED_ARTICLE_H_

#include "server/core/article.h"

namespace related {

// Shared (std::shared_ptr<const StoredArticle>) so that a reader can take
// results out of the index lock without copying metadata under it, and so
// that a stored related box can point at the articles it shows.
struct StoredArticle {
  ArticleId id;
  ArticleMetadata metadata;
  // Set once this is no longer its slot's article: the article was deleted,
  // or written again (a new vector, or new metadata for the same vector).
  // A box that still holds it looks up the slot's current article instead.
  // Written only under the owning ArticleIndex's exclusive lock and read
  // under its shared lock.
  mutable bool retired = false;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_STORED_ARTICLE_H_
