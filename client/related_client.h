// RelatedClient: a C++ client for related-server that hides the generated
// protobuf types and puts a deadline on every call.
//
//   related::client::RelatedClient client({.address = "127.0.0.1:50051"});
//   auto related = client.Related("2026/11/28/world/some-story", 5);
//   if (!related.ok()) ... related.status() carries the server's code and
//   message
//
// Every method returns the gRPC status as an absl::Status with the same code
// and message (DEADLINE_EXCEEDED when the timeout passes, UNAVAILABLE when
// the server cannot be reached).
#ifndef RELATED_CLIENT_RELATED_CLIENT_H_
#define RELATED_CLIENT_RELATED_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace related::client {

struct Metadata {
  std::string title;
  std::string url;
  std::string section;
  std::string language;
  std::optional<absl::Time> published_at;
  std::map<std::string, std::string> attributes;
};

struct Article {
  std::string id;
  std::vector<float> embedding;
  Metadata metadata;
};

struct RelatedItem {
  std::string article_id;
  float score = 0;
  Metadata metadata;
};

// One item of BatchRelated: `status` is OK or the item's own error.
struct BatchItem {
  std::string article_id;
  absl::Status status;
  std::vector<RelatedItem> related;
};

struct Stats {
  int64_t article_count = 0;
  int dimension = 0;
  std::string index_kind;
  int64_t index_memory_bytes = 0;
  int default_limit = 0;
  int max_limit = 0;
  int max_batch_size = 0;
  int max_id_bytes = 0;
};

struct ImportSummary {
  int64_t upserted = 0;
  int64_t batches = 0;
};

struct ClientOptions {
  std::string address = "127.0.0.1:50051";
  // Deadline of each unary call; a streaming import gets its own.
  absl::Duration timeout = absl::Seconds(5);
};

// One streaming import (ImportArticles). Send batches in order, then Finish.
class Importer {
 public:
  virtual ~Importer() = default;
  // Queues one batch. An error means the stream broke; Finish tells why.
  virtual absl::Status Send(const std::vector<Article>& batch) = 0;
  // Closes the stream and returns the server's verdict.
  virtual absl::StatusOr<ImportSummary> Finish() = 0;
};

class RelatedClient {
 public:
  explicit RelatedClient(const ClientOptions& options);
  ~RelatedClient();

  absl::StatusOr<std::vector<RelatedItem>> Related(
      const std::string& article_id, int limit = 0,
      const std::vector<std::string>& exclude_ids = {});
  absl::StatusOr<std::vector<BatchItem>> BatchRelated(
      const std::vector<std::string>& article_ids, int limit = 0,
      const std::vector<std::string>& exclude_ids = {});
  // Returns how many articles were written.
  absl::StatusOr<int> Upsert(const std::vector<Article>& articles);
  // Starts a streaming import whose whole stream must end within `timeout`.
  std::unique_ptr<Importer> StartImport(absl::Duration timeout);
  // Returns how many of the IDs existed.
  absl::StatusOr<int> Delete(const std::vector<std::string>& article_ids);
  absl::StatusOr<Article> GetArticle(const std::string& article_id,
                                     bool include_embedding = false);
  absl::StatusOr<Stats> GetStats();
  absl::Status Ping();
  // The standard health check: "SERVING", "NOT_SERVING", ... for `service`
  // ("" is the whole server).
  absl::StatusOr<std::string> Health(const std::string& service = "");
  // Blocks until the server reports SERVING or `timeout` passes; for tests
  // and scripts that start a server.
  absl::Status WaitUntilServing(absl::Duration timeout);

 private:
  struct Stubs;
  ClientOptions options_;
  std::unique_ptr<Stubs> stubs_;
};

}  // namespace related::client

#endif  // RELATED_CLIENT_RELATED_CLIENT_H_
