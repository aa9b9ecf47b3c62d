#include "client/cli/import_batcher.h"

#include <utility>

namespace related::cli {

ImportBatcher::ImportBatcher(int batch_size)
    : batch_size_(batch_size < 1 ? 1 : static_cast<size_t>(batch_size)) {}

std::optional<std::vector<client::Article>> ImportBatcher::Add(
    client::Article article) {
  std::optional<std::vector<client::Article>> ready;
  if (current_ids_.count(article.id) > 0) ready = Take();
  current_ids_.insert(article.id);
  current_.push_back(std::move(article));
  // A batch closed early above leaves one article pending, never a full
  // batch unless batch_size_ is 1, where no ID can repeat within a batch.
  if (current_.size() >= batch_size_) ready = Take();
  return ready;
}

std::vector<client::Article> ImportBatcher::TakeRest() { return Take(); }

std::vector<client::Article> ImportBatcher::Take() {
  std::vector<client::Article> batch = std::move(current_);
  current_.clear();
  current_ids_.clear();
  return batch;
}

}  // namespace related::cli
