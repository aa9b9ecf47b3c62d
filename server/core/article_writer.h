// ArticleWriter: where the service sends writes. Standalone, they go
// straight to the index (IndexWriter below), which journals them in its
// data directory. Replicated, they go through the replicated stream first
// and come back to every replica's index from it
// (server/replication/replicated_writer.h). Reads always go to the index.
#ifndef RELATED_SERVER_CORE_ARTICLE_WRITER_H_
#define RELATED_SERVER_CORE_ARTICLE_WRITER_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/article.h"
#include "server/core/article_index.h"

namespace related {

class ArticleWriter {
 public:
  virtual ~ArticleWriter() = default;

  // As ArticleIndex::Upsert and Delete: the batch is validated whole and
  // applied whole or not at all; visible to this server's reads once the
  // call returns.
  virtual absl::Status Upsert(std::vector<Article> articles) = 0;
  virtual absl::StatusOr<int> Delete(const std::vector<ArticleId>& ids) = 0;

  // An import stream: upserts whose related lists may wait until Finish
  // (see ArticleIndex::BulkLoad). Finish is called once, however the
  // import ended; batches applied before a failure stay applied.
  class Import {
   public:
    virtual ~Import() = default;
    virtual absl::Status Upsert(std::vector<Article> articles) = 0;
    virtual void Finish() = 0;
  };
  virtual std::unique_ptr<Import> StartImport() = 0;
};

// Standalone: writes go to the index itself.
class IndexWriter final : public ArticleWriter {
 public:
  explicit IndexWriter(ArticleIndex& index) : index_(index) {}

  absl::Status Upsert(std::vector<Article> articles) override {
    return index_.Upsert(std::move(articles));
  }
  absl::StatusOr<int> Delete(const std::vector<ArticleId>& ids) override {
    return index_.Delete(ids);
  }
  std::unique_ptr<Import> StartImport() override {
    return std::make_unique<BulkImport>(index_);
  }

 private:
  class BulkImport final : public Import {
   public:
    explicit BulkImport(ArticleIndex& index) : index_(index) {}
    absl::Status Upsert(std::vector<Article> articles) override {
      return index_.Upsert(std::move(articles), &bulk_);
    }
    void Finish() override { index_.FinishBulkLoad(bulk_); }

   private:
    ArticleIndex& index_;
    ArticleIndex::BulkLoad bulk_;
  };

  ArticleIndex& index_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_ARTICLE_WRITER_H_
