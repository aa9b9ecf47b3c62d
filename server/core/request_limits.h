// RequestLimits: every check a request passes before the index is touched.
// A request is validated whole, here, so that the index sees only valid
// input and a bad request changes nothing. Every error is INVALID_ARGUMENT
// naming the field at fault ("articles[3].embedding: ...").
#ifndef RELATED_SERVER_CORE_REQUEST_LIMITS_H_
#define RELATED_SERVER_CORE_REQUEST_LIMITS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/core/article.h"
#include "server/core/index_options.h"
#include "server/core/related_query.h"

namespace related {

class RequestLimits {
 public:
  explicit RequestLimits(const ArticleIndexOptions& options)
      : options_(options) {}

  // A list of `size` entries in `field` is within max_batch_size.
  absl::Status CheckBatchSize(size_t size, absl::string_view field) const;
  // One article ID (see ValidateArticleId).
  absl::Status CheckId(absl::string_view id, absl::string_view field) const;
  // A list of IDs: its size, then each ID as "field[i]".
  absl::Status CheckIds(const std::vector<ArticleId>& ids,
                        absl::string_view field) const;

  // The articles of a non-empty upsert batch: IDs (unique in the batch),
  // embeddings (normalised in place) and metadata size. With `dimension`
  // 0 the batch's first embedding proposes it and the rest must agree.
  absl::Status CheckArticles(std::vector<Article>& articles,
                             int dimension) const;
  // The same for text-only articles held for the first text model: no
  // embedding, and text (with at least one word) to embed later.
  absl::Status CheckHeldArticles(const std::vector<Article>& articles) const;

  // A lookup of a stored article, a draft's vector (whose embedding is
  // normalised in place; `dimension` 0: any length), a batch lookup.
  absl::Status CheckLookup(const RelatedQuery& query) const;
  absl::Status CheckLookup(VectorQuery& query, int dimension) const;
  absl::Status CheckBatchLookup(const std::vector<ArticleId>& article_ids,
                                int limit,
                                const std::vector<ArticleId>& exclude_ids,
                                const RankingPolicy& policy) const;

  // The box size a valid request's `limit` asks for (0: the default).
  int BoxSize(int limit) const {
    return limit == 0 ? options_.default_limit : limit;
  }

 private:
  // What every article is checked for, embedding or not: its ID (unique
  // among `seen`), metadata size and text size.
  absl::Status CheckArticleFields(
      const Article& article, const std::string& field,
      absl::flat_hash_set<absl::string_view>& seen) const;
  // What every lookup shares: limit, exclude_ids and policy.
  absl::Status CheckBoxRequest(int limit,
                               const std::vector<ArticleId>& exclude_ids,
                               const RankingPolicy& policy) const;

  const ArticleIndexOptions& options_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_REQUEST_LIMITS_H_
