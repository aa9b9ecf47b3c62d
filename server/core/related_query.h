// The lookups an ArticleIndex answers, and their results.
#ifndef RELATED_SERVER_CORE_RELATED_QUERY_H_
#define RELATED_SERVER_CORE_RELATED_QUERY_H_

#include <vector>

#include "absl/status/status.h"
#include "server/core/article.h"
#include "server/core/ranking_policy.h"

namespace related {

// A related lookup for a stored article.
struct RelatedQuery {
  ArticleId article_id;
  int limit = 0;  // 0: the default limit
  std::vector<ArticleId> exclude_ids;
  // Complete: request settings already layered over default_policy.
  RankingPolicy policy;
};

// A related lookup for a vector that is not stored (a draft being written).
struct VectorQuery {
  std::vector<float> embedding;  // any length-positive vector; normalised here
  int limit = 0;
  std::vector<ArticleId> exclude_ids;
  RankingPolicy policy;
};

// The box, best first, and how the policy shaped it.
struct RelatedList {
  std::vector<RelatedArticle> articles;
  RankingDebug debug;
};

// The outcome of one item of a batch lookup.
struct RelatedResult {
  ArticleId article_id;
  absl::Status status;
  RelatedList related;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_RELATED_QUERY_H_
