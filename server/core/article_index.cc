#include "server/core/article_index.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/core/validation.h"

namespace related {
namespace {

absl::Status CheckBatchSize(size_t size, int max, absl::string_view field) {
  if (static_cast<int64_t>(size) > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", size, " entries, more than the limit of ",
                     max, " per request; split the batch"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ArticleIndex>> ArticleIndex::Create(
    const ArticleIndexOptions& options) {
  if (options.dimension < 0) {
    return absl::InvalidArgumentError(
        "dimension must be >= 0 (0: set by the first write)");
  }
  if (options.max_limit < 1 || options.default_limit < 1 ||
      options.default_limit > options.max_limit) {
    return absl::InvalidArgumentError(
        "limits must satisfy 1 <= default_limit <= max_limit");
  }
  if (options.max_batch_size < 1 || options.max_id_bytes < 1 ||
      options.write_chunk_size < 1) {
    return absl::InvalidArgumentError(
        "max_batch_size, max_id_bytes and write_chunk_size must be >= 1");
  }
  if (options.index_kind == IndexKind::kHnsw &&
      (options.hnsw.m < 2 || options.hnsw.ef_construction < 1 ||
       options.hnsw.ef_search < 1)) {
    return absl::InvalidArgumentError(
        "HNSW needs m >= 2, ef_construction >= 1 and ef_search >= 1");
  }
  return std::unique_ptr<ArticleIndex>(new ArticleIndex(options));
}

ArticleIndex::ArticleIndex(const ArticleIndexOptions& options)
    : options_(options), dimension_(options.dimension) {
  if (options.dimension > 0) {
    index_ =
        MakeVectorIndex(options.index_kind, options.dimension, options.hnsw);
  }
}

absl::Status ArticleIndex::Upsert(std::vector<Article> articles) {
  if (absl::Status s =
          CheckBatchSize(articles.size(), options_.max_batch_size, "articles");
      !s.ok()) {
    return s;
  }
  if (articles.empty()) return absl::OkStatus();
  absl::MutexLock write_lock(&write_mu_);
  if (absl::Status s = ValidateUpsertLocked(articles); !s.ok()) return s;
  if (dimension_.load() == 0) {
    const int dimension = static_cast<int>(articles.front().embedding.size());
    absl::WriterMutexLock lock(&mu_);
    index_ = MakeVectorIndex(options_.index_kind, dimension, options_.hnsw);
    dimension_.store(dimension);
  }
  for (auto begin = articles.begin(); begin != articles.end();) {
    const auto end = begin + std::min<ptrdiff_t>(options_.write_chunk_size,
                                                 articles.end() - begin);
    if (absl::Status s = ApplyChunk(begin, end); !s.ok()) return s;
    begin = end;
  }
  return absl::OkStatus();
}

absl::Status ArticleIndex::ValidateUpsertLocked(
    std::vector<Article>& articles) {
  // With no dimension yet, the batch's first article proposes it and the rest
  // must agree.
  const int dimension =
      dimension_.load() != 0
          ? dimension_.load()
          : static_cast<int>(articles.front().embedding.size());
  absl::flat_hash_set<absl::string_view> seen;
  for (size_t i = 0; i < articles.size(); ++i) {
    Article& article = articles[i];
    const std::string field = absl::StrCat("articles[", i, "]");
    if (absl::Status s = ValidateArticleId(article.id, options_.max_id_bytes,
                                           absl::StrCat(field, ".id"));
        !s.ok()) {
      return s;
    }
    if (!seen.insert(article.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".id: '", article.id,
                       "' appears more than once in the batch"));
    }
    if (absl::Status s = NormalizeEmbedding(article.embedding, dimension,
                                            absl::StrCat(field, ".embedding"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ArticleIndex::ApplyChunk(std::vector<Article>::iterator begin,
                                      std::vector<Article>::iterator end) {
  const int dimension = dimension_.load();
  std::vector<float> stored_vector(dimension);
  absl::WriterMutexLock lock(&mu_);

  // An upsert that repeats an article's stored vector only changes its
  // metadata: no index work (the common case of an edited headline).
  std::vector<Article*> needs_vector;
  for (auto it = begin; it != end; ++it) {
    auto existing = by_id_.find(it->id);
    if (existing != by_id_.end()) {
      index_->Vector(existing->second.slot, stored_vector.data());
      if (std::memcmp(stored_vector.data(), it->embedding.data(),
                      sizeof(float) * dimension) == 0) {
        auto stored = std::make_shared<const StoredArticle>(
            StoredArticle{it->id, std::move(it->metadata)});
        existing->second.article = stored;
        by_slot_[existing->second.slot] = std::move(stored);
        continue;
      }
    }
    needs_vector.push_back(&*it);
  }
  if (needs_vector.empty()) return absl::OkStatus();

  std::vector<float> vectors;
  vectors.reserve(needs_vector.size() * dimension);
  for (const Article* article : needs_vector) {
    vectors.insert(vectors.end(), article->embedding.begin(),
                   article->embedding.end());
  }
  // Add before removing replaced vectors: if FAISS fails, nothing changed.
  auto slots =
      index_->Add(vectors.data(), static_cast<int64_t>(needs_vector.size()));
  if (!slots.ok()) return slots.status();

  std::vector<Slot> replaced;
  by_slot_.resize(by_slot_.size() + needs_vector.size());
  for (size_t i = 0; i < needs_vector.size(); ++i) {
    Article& article = *needs_vector[i];
    auto stored = std::make_shared<const StoredArticle>(
        StoredArticle{article.id, std::move(article.metadata)});
    auto [entry, inserted] = by_id_.try_emplace(article.id);
    if (!inserted) replaced.push_back(entry->second.slot);
    entry->second = Entry{(*slots)[i], stored};
    by_slot_[(*slots)[i]] = std::move(stored);
  }
  // Highest first: removing a slot may move the last slot into it, and the
  // last slot is then never one still waiting to be removed.
  std::sort(replaced.begin(), replaced.end(), std::greater<>());
  for (Slot slot : replaced) RemoveSlotLocked(slot);
  return absl::OkStatus();
}

void ArticleIndex::RemoveSlotLocked(Slot slot) {
  const std::optional<SlotMove> move = index_->Remove(slot);
  if (!move.has_value()) {
    by_slot_[slot] = nullptr;
    return;
  }
  auto moved = std::move(by_slot_[move->from]);
  by_id_[moved->id].slot = move->to;
  by_slot_[move->to] = std::move(moved);
  by_slot_.resize(move->from);
}

absl::StatusOr<int> ArticleIndex::Delete(const std::vector<ArticleId>& ids) {
  if (absl::Status s =
          CheckBatchSize(ids.size(), options_.max_batch_size, "article_ids");
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (absl::Status s =
            ValidateArticleId(ids[i], options_.max_id_bytes,
                              absl::StrCat("article_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  absl::MutexLock write_lock(&write_mu_);
  int deleted = 0;
  for (size_t begin = 0; begin < ids.size();
       begin += options_.write_chunk_size) {
    const size_t end = std::min(ids.size(), begin + options_.write_chunk_size);
    absl::WriterMutexLock lock(&mu_);
    for (size_t i = begin; i < end; ++i) {
      auto it = by_id_.find(ids[i]);
      if (it == by_id_.end()) continue;
      const Slot slot = it->second.slot;
      by_id_.erase(it);
      RemoveSlotLocked(slot);
      ++deleted;
    }
  }
  return deleted;
}

absl::StatusOr<Article> ArticleIndex::Get(const ArticleId& id) const {
  if (absl::Status s =
          ValidateArticleId(id, options_.max_id_bytes, "article_id");
      !s.ok()) {
    return s;
  }
  Article article;
  std::shared_ptr<const StoredArticle> stored;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) {
      return absl::NotFoundError(absl::StrCat("article '", id, "' not found"));
    }
    article.embedding.resize(index_->Dimension());
    index_->Vector(it->second.slot, article.embedding.data());
    stored = it->second.article;
  }
  article.id = stored->id;
  article.metadata = stored->metadata;
  return article;
}

absl::Status ArticleIndex::ValidateLookup(
    int limit, const std::vector<ArticleId>& exclude_ids) const {
  if (limit < 0 || limit > options_.max_limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be between 1 and ", options_.max_limit,
                     " (or 0 for the default of ", options_.default_limit,
                     "), got ", limit));
  }
  if (absl::Status s = CheckBatchSize(exclude_ids.size(),
                                      options_.max_batch_size, "exclude_ids");
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < exclude_ids.size(); ++i) {
    if (absl::Status s =
            ValidateArticleId(exclude_ids[i], options_.max_id_bytes,
                              absl::StrCat("exclude_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RelatedArticle>> ArticleIndex::Related(
    const RelatedQuery& query) const {
  if (absl::Status s = ValidateArticleId(query.article_id,
                                         options_.max_id_bytes, "article_id");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateLookup(query.limit, query.exclude_ids);
      !s.ok()) {
    return s;
  }
  absl::ReaderMutexLock lock(&mu_);
  return RelatedLocked(query.article_id, query.limit, query.exclude_ids);
}

absl::StatusOr<std::vector<RelatedResult>> ArticleIndex::BatchRelated(
    const std::vector<ArticleId>& article_ids, int limit,
    const std::vector<ArticleId>& exclude_ids) const {
  if (absl::Status s = CheckBatchSize(article_ids.size(),
                                      options_.max_batch_size, "article_ids");
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < article_ids.size(); ++i) {
    if (absl::Status s =
            ValidateArticleId(article_ids[i], options_.max_id_bytes,
                              absl::StrCat("article_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ValidateLookup(limit, exclude_ids); !s.ok()) return s;
  std::vector<RelatedResult> results(article_ids.size());
  for (size_t i = 0; i < article_ids.size(); ++i) {
    results[i].article_id = article_ids[i];
    // The lock is taken per item, not across the batch, so a writer (and
    // the readers queued behind it) never waits for a whole large batch.
    absl::ReaderMutexLock lock(&mu_);
    auto related = RelatedLocked(article_ids[i], limit, exclude_ids);
    if (related.ok()) {
      results[i].articles = *std::move(related);
    } else {
      results[i].status = related.status();
    }
  }
  return results;
}

absl::StatusOr<std::vector<RelatedArticle>> ArticleIndex::RelatedLocked(
    const ArticleId& id, int limit,
    const std::vector<ArticleId>& exclude_ids) const {
  auto query = by_id_.find(id);
  if (query == by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("article '", id, "' not found"));
  }
  // The query article is excluded inside the search, not dropped from rank
  // 0 afterwards: with approximate search it is not always first.
  absl::flat_hash_set<Slot> excluded = {query->second.slot};
  for (const ArticleId& excluded_id : exclude_ids) {
    if (auto it = by_id_.find(excluded_id); it != by_id_.end()) {
      excluded.insert(it->second.slot);
    }
  }
  std::vector<float> vector(index_->Dimension());
  index_->Vector(query->second.slot, vector.data());
  const int k = limit == 0 ? options_.default_limit : limit;
  auto neighbors = index_->Search(vector.data(), k, excluded);
  if (!neighbors.ok()) return neighbors.status();

  std::vector<RelatedArticle> related;
  related.reserve(neighbors->size());
  for (const Neighbor& neighbor : *neighbors) {
    const auto& article = by_slot_[neighbor.slot];
    // Defence in depth: the selector already keeps these out.
    if (article == nullptr || excluded.contains(neighbor.slot)) continue;
    related.push_back({article->id, neighbor.score, article->metadata});
  }
  return related;
}

IndexStats ArticleIndex::Stats() const {
  absl::ReaderMutexLock lock(&mu_);
  IndexStats stats;
  stats.article_count = static_cast<int64_t>(by_id_.size());
  stats.dimension = dimension_.load();
  stats.index_kind = options_.index_kind;
  stats.index_memory_bytes = index_ ? index_->MemoryBytes() : 0;
  return stats;
}

}  // namespace related
