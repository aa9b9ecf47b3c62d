// Replayer: feeds recovered articles (a snapshot's, then the write-ahead
// log's) to the index in batches it accepts, in log order. The whole
// recovery is one bulk load: the related lists are built once, by Finish.
#ifndef RELATED_SERVER_CORE_STORAGE_REPLAYER_H_
#define RELATED_SERVER_CORE_STORAGE_REPLAYER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/core/article_index.h"
#include "server/core/held_texts.h"

namespace related::storage {

class Replayer {
 public:
  // `held` receives the text-only articles held for the first text model
  // (null: a log holding some is refused).
  Replayer(ArticleIndex& index, const std::string& data_dir,
           HeldTexts* held = nullptr)
      : index_(index), data_dir_(data_dir), held_(held) {}

  // Queues an upsert; FAILED_PRECONDITION if its dimension is not the
  // index's (the data directory belongs to another configuration).
  absl::Status Upsert(Article article);
  // That check alone, for vectors of `dimension`.
  absl::Status CheckDimension(int dimension) const;
  // Applies the queued upserts, then deletes `ids`.
  absl::Status Delete(std::vector<ArticleId> ids);
  // Applies the queued upserts.
  absl::Status Flush();
  // Applies one write-ahead log record.
  absl::Status Apply(absl::string_view payload);
  // After the last record: the queued upserts, then the related lists.
  absl::Status Finish();

 private:
  ArticleIndex& index_;
  // A hold record: its articles wait for the first text model.
  absl::Status Hold(std::vector<Article> articles);

  const std::string& data_dir_;
  HeldTexts* const held_;
  std::vector<Article> pending_;
  // Nothing is served until recovery is done.
  ArticleIndex::BulkLoad bulk_{ArticleIndex::BulkLoad::Readers::kNone};
};

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_REPLAYER_H_
