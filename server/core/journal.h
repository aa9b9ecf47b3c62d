// Journal: where ArticleIndex records each write before applying it, so
// that it survives a crash. ArticleIndex works without one (in memory only);
// storage::ArticleStore is the durable implementation.
#ifndef RELATED_SERVER_CORE_JOURNAL_H_
#define RELATED_SERVER_CORE_JOURNAL_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/article.h"

namespace related {

class Journal {
 public:
  virtual ~Journal() = default;

  // Record a validated write (embeddings already normalised) before it is
  // applied; called with writers serialised, in apply order. An error means
  // nothing was recorded and the write must not be applied. Returns a
  // ticket for Commit.
  virtual absl::StatusOr<uint64_t> RecordUpsert(
      const std::vector<Article>& articles) = 0;
  virtual absl::StatusOr<uint64_t> RecordDelete(
      const std::vector<ArticleId>& ids) = 0;
  // Text-only articles held until the first text model exists (see
  // server/core/text_bootstrap.h); they carry no embedding. A journal that
  // cannot keep them refuses.
  virtual absl::StatusOr<uint64_t> RecordHold(
      const std::vector<Article>& /*articles*/) {
    return absl::FailedPreconditionError(
        "text-only articles cannot wait for a model here: start the server "
        "with --embedder_model");
  }

  // Returns once the write with `ticket` is as durable as the configured
  // mode promises (synced to disk, or queued for the next periodic sync).
  // Called without the writers' lock, so concurrent writers can share one
  // disk sync.
  virtual absl::Status Commit(uint64_t ticket) = 0;

  // A bulk load (an import stream) of `articles` ended and its lists are
  // built: a moment to take a snapshot.
  virtual void BulkLoadFinished(int64_t /*articles*/) {}
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_JOURNAL_H_
