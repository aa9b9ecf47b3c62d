// Groups imported articles into the batches sent on the ImportArticles
// stream.
#ifndef RELATED_CLIENT_CLI_IMPORT_BATCHER_H_
#define RELATED_CLIENT_CLI_IMPORT_BATCHER_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/related_client.h"

namespace related::cli {

// Collects articles, in file order, into batches of at most `batch_size`.
//
// The server rejects a batch that holds an ID twice, and applies batches in
// order. So when an article's ID is already in the current batch, that batch
// is closed early and the article starts the next one: the later line of the
// file is written later and wins, as it would with one upsert per line.
class ImportBatcher {
 public:
  // `batch_size` must be at least 1.
  explicit ImportBatcher(int batch_size);

  // Adds `article`. Returns a batch that is complete and ready to send, if
  // adding the article completed or closed one.
  std::optional<std::vector<client::Article>> Add(client::Article article);

  // Returns the last, incomplete batch (empty if nothing is pending) and
  // leaves the batcher empty.
  std::vector<client::Article> TakeRest();

 private:
  std::vector<client::Article> Take();

  size_t batch_size_;
  std::vector<client::Article> current_;
  std::set<std::string> current_ids_;
};

}  // namespace related::cli

#endif  // RELATED_CLIENT_CLI_IMPORT_BATCHER_H_
