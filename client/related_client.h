// RelatedClient: a C++ client for related-server that hides the generated
// protobuf types and puts a deadline on every call.
//
//   related::client::RelatedClient client({.address = "127.0.0.1:50051"});
//   auto related = client.Related("2026/11/28/world/some-story", 5);
//   if (!related.ok()) ... related.status() carries the server's code and
//   message; related->items is the box, best first
//
//   client::RankingPolicy policy;  // every control unset: server defaults
//   policy.sections = {"world"};
//   policy.debug = true;           // related->debug says what was applied
//   related = client.Related("2026/11/28/world/some-story", 5, {}, policy);
//
// Every method returns the gRPC status as an absl::Status with the same code
// and message (DEADLINE_EXCEEDED when the timeout passes, UNAVAILABLE when
// the server cannot be reached).
//
// Calls go round-robin over every address of ClientOptions::address. A read
// (every method but Upsert, Delete and the import) that fails with
// UNAVAILABLE is tried again, up to 3 attempts within its deadline, on the
// next ready address; writes are never sent twice by this library.
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

namespace grpc {
class ClientContext;
}  // namespace grpc

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
  std::vector<float> embedding;  // may be empty when text is set
  Metadata metadata;
  // Summary or body; the server embeds title and text when no embedding
  // is given (it needs an embedder model, see GetStats).
  std::string text;
};

struct RelatedItem {
  std::string article_id;
  float score = 0;
  Metadata metadata;
};

// Editorial controls for one lookup (RankingPolicy in related.proto, which
// explains each). Every control left unset (nullopt, an empty list or map,
// candidates 0) takes the server's default, so a default-constructed policy
// asks for the server's own ranking.
struct RankingPolicy {
  // Filters.
  std::vector<std::string> sections;  // only these; empty: any
  std::vector<std::string> exclude_sections;
  std::vector<std::string> languages;  // only these; empty: any
  // Only the query article's language (the server's default is on).
  std::optional<bool> same_language;
  std::optional<absl::Time> published_after;   // inclusive
  std::optional<absl::Time> published_before;  // inclusive
  std::optional<absl::Duration> max_age;  // published within it before `now`
  std::map<std::string, std::string> required_attributes;
  std::optional<float> min_score;  // cosine similarity floor, in [-1, 1]
  // Near-duplicates: cosine similarity above this is the same story; 1: off.
  std::optional<float> duplicate_threshold;
  // Maximal marginal relevance lambda in [0, 1]; 1: relevance alone.
  std::optional<float> diversity_lambda;
  // Recency boost: weight in [0, 1] (0: off) and half-life.
  std::optional<absl::Duration> recency_half_life;
  std::optional<float> recency_weight;
  // The clock for max_age and recency; unset: the server's clock.
  std::optional<absl::Time> now;
  // Most similar eligible articles re-ranked; 0: the server's default.
  int candidates = 0;
  // Return RankingDebug with the results.
  bool debug = false;
};

// Why a box looks as it does; returned when RankingPolicy::debug is set.
struct RankingDebug {
  // The request's policy over the server's defaults. Controls the server
  // left off are unset; `debug` is true.
  RankingPolicy applied_policy;
  // Articles each rule removed (filter counts are of the articles the index
  // search examined).
  int64_t removed_by_section = 0;
  int64_t removed_by_language = 0;
  int64_t removed_by_date = 0;
  int64_t removed_by_attributes = 0;
  int64_t removed_by_exclude_ids = 0;
  int64_t removed_by_min_score = 0;
  int64_t removed_as_near_duplicate = 0;
  // Eligible candidates re-ranked, and searches run to find them.
  int64_t candidates_considered = 0;
  int search_rounds = 0;
  // Served from the article's precomputed related list (no search ran).
  bool precomputed = false;
};

// The related box of one lookup, best first.
struct RelatedList {
  std::vector<RelatedItem> items;
  // Set when the policy asked for debug information.
  std::optional<RankingDebug> debug;
};

// One item of BatchRelated: `status` is OK or the item's own error.
struct BatchItem {
  std::string article_id;
  absl::Status status;
  std::vector<RelatedItem> related;
  // Set when the policy asked for debug information and `status` is OK.
  std::optional<RankingDebug> debug;
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
  int max_metadata_bytes = 0;
  // Whether every article's related list is kept ready for the default
  // policy, their memory, and how many wait to be ranked again.
  bool related_lists_precomputed = false;
  int64_t related_lists_memory_bytes = 0;
  int64_t related_lists_stale = 0;
  // The model that embeds articles sent as text ("" if none), and the
  // longest text accepted.
  std::string embedder_model;
  int max_text_bytes = 0;
  // Text-only articles held until the server's first text model is
  // trained, and how many start that training (0: the server trains none).
  int64_t held_text_articles = 0;
  int64_t embedder_train_after = 0;
  // (The card layout figures GetStats still carries are deprecated in the
  // API and not read here: they are the server's Prometheus gauges.)
};

struct ImportSummary {
  int64_t upserted = 0;
  int64_t batches = 0;
};

// TLS towards a server started with --tls_cert_file (PEM file paths).
struct ClientTlsOptions {
  // CAs to verify the server's certificate with; empty: the system's roots.
  std::string root_ca_file;
  // For a server with --tls_client_ca_file (mutual TLS): this client's
  // certificate chain and private key, both or neither.
  std::string cert_file;
  std::string key_file;
  // The name the server's certificate is checked against instead of the
  // address's host (e.g. the certificate's DNS name when dialling an IP).
  std::string target_name_override;
};

struct ClientOptions {
  // host:port, or any gRPC target. Calls are spread round-robin over every
  // address the target resolves to, one call at a time: e.g.
  // "dns:///related-articles-headless.news.svc.cluster.local:50051" (every
  // ready replica, docs/replication.md) or
  // "ipv4:10.0.0.1:50051,10.0.0.2:50051".
  std::string address = "127.0.0.1:50051";
  // Deadline of each unary call; a streaming import gets its own.
  absl::Duration timeout = absl::Seconds(5);
  // nullopt: plaintext gRPC. (The explicit initializers here and below let
  // callers write ClientOptions{address, timeout} without a
  // -Wmissing-field-initializers warning.)
  std::optional<ClientTlsOptions> tls = std::nullopt;
  // Non-empty: sent as `authorization: Bearer <token>` with every call (the
  // server's --write_token_file / --read_token_file). Without TLS it crosses
  // the network in clear text.
  std::string bearer_token = "";
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
  // Reads the TLS files, if any. If one cannot be read (or only one of
  // cert_file/key_file is set), setup_status() says why and every call
  // fails with that status.
  explicit RelatedClient(const ClientOptions& options);
  ~RelatedClient();

  const absl::Status& setup_status() const { return setup_status_; }

  // The related box for a stored article: at most `limit` items (0: the
  // server's default), never the article itself or `exclude_ids`, ranked
  // under `policy`. NOT_FOUND for an unknown article; INVALID_ARGUMENT
  // naming the field (e.g. "policy.diversity_lambda") for a bad value.
  absl::StatusOr<RelatedList> Related(
      const std::string& article_id, int limit = 0,
      const std::vector<std::string>& exclude_ids = {},
      const RankingPolicy& policy = {});
  // Related() for several articles in one call, with one limit, exclusion
  // list and policy for all; an unknown ID is the item's own NOT_FOUND.
  absl::StatusOr<std::vector<BatchItem>> BatchRelated(
      const std::vector<std::string>& article_ids, int limit = 0,
      const std::vector<std::string>& exclude_ids = {},
      const RankingPolicy& policy = {});
  // The related box for a vector that is not stored (a draft's embedding,
  // any non-zero length, the server's dimension), as Related() ranks it.
  // INVALID_ARGUMENT naming "embedding" for a vector the server refuses.
  absl::StatusOr<RelatedList> SearchByVector(
      const std::vector<float>& embedding, int limit = 0,
      const std::vector<std::string>& exclude_ids = {},
      const RankingPolicy& policy = {});
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
  // Fails with setup_status_, or sets the deadline and the bearer token.
  absl::Status Prepare(grpc::ClientContext& context) const;

  ClientOptions options_;
  absl::Status setup_status_;
  std::unique_ptr<Stubs> stubs_;
};

}  // namespace related::client

#endif  // RELATED_CLIENT_RELATED_CLIENT_H_
