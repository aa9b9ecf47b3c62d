#include "server/core/request_limits.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/input_rules.h"
#include "common/text/tokenizer.h"
#include "server/core/text_embedding.h"

namespace related {
namespace {

size_t MetadataBytes(const ArticleMetadata& m) {
  size_t bytes =
      m.title.size() + m.url.size() + m.section.size() + m.language.size();
  for (const auto& [key, value] : m.attributes)
    bytes += key.size() + value.size();
  return bytes;
}

}  // namespace

absl::Status RequestLimits::CheckBatchSize(size_t size,
                                           absl::string_view field) const {
  if (static_cast<int64_t>(size) > options_.max_batch_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", size, " entries, more than the limit of ",
                     options_.max_batch_size, " per request; split the batch"));
  }
  return absl::OkStatus();
}

absl::Status RequestLimits::CheckId(absl::string_view id,
                                    absl::string_view field) const {
  return ValidateArticleId(id, options_.max_id_bytes, field);
}

absl::Status RequestLimits::CheckIds(const std::vector<ArticleId>& ids,
                                     absl::string_view field) const {
  if (absl::Status s = CheckBatchSize(ids.size(), field); !s.ok()) return s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (absl::Status s = CheckId(ids[i], absl::StrCat(field, "[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status RequestLimits::CheckArticleFields(
    const Article& article, const std::string& field,
    absl::flat_hash_set<absl::string_view>& seen) const {
  if (absl::Status s = CheckId(article.id, absl::StrCat(field, ".id"));
      !s.ok()) {
    return s;
  }
  if (!seen.insert(article.id).second) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".id: '", article.id,
                     "' appears more than once in the batch"));
  }
  const size_t metadata_bytes = MetadataBytes(article.metadata);
  if (metadata_bytes > static_cast<size_t>(options_.max_metadata_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".metadata: ", metadata_bytes,
        " bytes, more than the limit of ", options_.max_metadata_bytes));
  }
  if (article.text.size() > static_cast<size_t>(options_.max_text_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".text: ", article.text.size(),
        " bytes, more than the limit of ", options_.max_text_bytes));
  }
  return absl::OkStatus();
}

absl::Status RequestLimits::CheckArticles(std::vector<Article>& articles,
                                          int dimension) const {
  if (dimension == 0) {
    dimension = static_cast<int>(articles.front().embedding.size());
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (size_t i = 0; i < articles.size(); ++i) {
    Article& article = articles[i];
    const std::string field = absl::StrCat("articles[", i, "]");
    if (absl::Status s = CheckArticleFields(article, field, seen); !s.ok()) {
      return s;
    }
    if (absl::Status s = NormalizeEmbedding(article.embedding, dimension,
                                            absl::StrCat(field, ".embedding"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status RequestLimits::CheckHeldArticles(
    const std::vector<Article>& articles) const {
  if (absl::Status s = CheckBatchSize(articles.size(), "articles"); !s.ok()) {
    return s;
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (size_t i = 0; i < articles.size(); ++i) {
    const Article& article = articles[i];
    const std::string field = absl::StrCat("articles[", i, "]");
    if (absl::Status s = CheckArticleFields(article, field, seen); !s.ok()) {
      return s;
    }
    if (!article.embedding.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": has an embedding, and other articles of the batch have "
                 "only text, which waits for the server's first text model: "
                 "send text-only articles in batches of their own"));
    }
    if (article.text.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".embedding: empty, and no text to embed (send an embedding "
                 "or text)"));
    }
    if (text::Words(EmbeddingText(article)).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".text: no words to embed (send text, or an embedding)"));
    }
  }
  return absl::OkStatus();
}

absl::Status RequestLimits::CheckBoxRequest(
    int limit, const std::vector<ArticleId>& exclude_ids,
    const RankingPolicy& policy) const {
  if (limit < 0 || limit > options_.max_limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be between 1 and ", options_.max_limit,
                     " (or 0 for the default of ", options_.default_limit,
                     "), got ", limit));
  }
  if (absl::Status s = CheckIds(exclude_ids, "exclude_ids"); !s.ok()) return s;
  return ValidateRankingPolicy(policy);
}

absl::Status RequestLimits::CheckLookup(const RelatedQuery& query) const {
  if (absl::Status s = CheckId(query.article_id, "article_id"); !s.ok()) {
    return s;
  }
  return CheckBoxRequest(query.limit, query.exclude_ids, query.policy);
}

absl::Status RequestLimits::CheckLookup(VectorQuery& query,
                                        int dimension) const {
  if (absl::Status s =
          CheckBoxRequest(query.limit, query.exclude_ids, query.policy);
      !s.ok()) {
    return s;
  }
  return NormalizeEmbedding(query.embedding, dimension, "embedding");
}

absl::Status RequestLimits::CheckBatchLookup(
    const std::vector<ArticleId>& article_ids, int limit,
    const std::vector<ArticleId>& exclude_ids,
    const RankingPolicy& policy) const {
  if (absl::Status s = CheckIds(article_ids, "article_ids"); !s.ok()) return s;
  return CheckBoxRequest(limit, exclude_ids, policy);
}

}  // namespace related
