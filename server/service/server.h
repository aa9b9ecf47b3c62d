// RelatedServer: assembles the core, the gRPC service (with health checking
// and reflection) and the metrics endpoint, and owns their lifetime.
#ifndef RELATED_SERVER_SERVICE_SERVER_H_
#define RELATED_SERVER_SERVICE_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/core/article_index.h"
#include "server/core/article_writer.h"
#include "server/core/held_texts.h"
#include "server/core/storage/article_store.h"
#include "server/core/text_bootstrap.h"
#include "server/core/text_embedding.h"
#include "server/replication/nats_stream.h"
#include "server/replication/position_journal.h"
#include "server/replication/replica.h"
#include "server/service/auth.h"
#include "server/service/metrics.h"
#include "server/service/metrics_endpoint.h"
#include "server/service/related_service.h"
#include "server/service/replication_metrics.h"
#include "server/service/storage_metrics.h"
#include "server/service/write_worker.h"

namespace related {

// TLS for the gRPC port, as PEM text (server/tls_files.h reads the files).
struct TlsOptions {
  std::string cert_chain;
  std::string private_key;
  // Non-empty: clients must present a certificate signed by one of these
  // CAs (mutual TLS); the handshake fails otherwise.
  std::string client_ca;
};

struct ServerOptions {
  // host:port; port 0 lets the OS choose (see RelatedServer::grpc_address).
  std::string grpc_address = "0.0.0.0:50051";
  std::string metrics_address = "0.0.0.0:9464";
  // host:port of a plaintext port that serves grpc.health.v1 only, for
  // probes that cannot speak TLS or send tokens; empty: none.
  std::string health_address;
  ArticleIndexOptions index;
  // Model file that embeds articles sent as text (empty: none). Its
  // dimension becomes index.dimension when that is 0, and must equal it
  // otherwise. A data directory records the model it was embedded with.
  std::string embedder_model;
  // Standalone, with no model: text-only articles are held, and the server
  // trains its first model once it holds this many (text_bootstrap.h); the
  // model is saved in the data directory and used by later starts. 0:
  // text needs embedder_model (replicated mode always does).
  int64_t embedder_train_after = 1000;
  // Largest request gRPC accepts; larger ones fail with RESOURCE_EXHAUSTED.
  int max_message_bytes = 16 << 20;
  // Default GetRelated answers kept encoded (box_cache.h); 0: none.
  int box_cache_entries = 16384;
  // Where articles are persisted; nullopt: memory only (lost on exit).
  std::optional<storage::StoreOptions> store;
  // Replicated mode: the NATS JetStream stream is the record of writes, and
  // this server one of its replicas (docs/replication.md). Needs
  // index.dimension set. nullopt: standalone.
  std::optional<replication::NatsOptions> replication;
  // Replicated: how long a write waits for this replica to apply it once
  // JetStream acknowledged it.
  absl::Duration replication_apply_timeout = absl::Seconds(30);
  // nullopt: plaintext (insecure) gRPC.
  std::optional<TlsOptions> tls;
  // Bearer tokens for writes and (optionally) reads; empty: open.
  AuthOptions auth;
  // How long Shutdown waits for in-flight RPCs before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // How long calls are still answered after health turned NOT_SERVING.
  absl::Duration shutdown_delay = absl::ZeroDuration();
};

class RelatedServer {
 public:
  // Binds the ports and starts answering, with health NOT_SERVING and every
  // call but Ping refused (UNAVAILABLE) until LoadData succeeds. Fails with a
  // one-line reason if an option is invalid or an address cannot be bound.
  static absl::StatusOr<std::unique_ptr<RelatedServer>> Start(
      const ServerOptions& options);

  // Recovers the data directory (if any) into the index; replicated, then
  // applies the stream up to its head as of now. Then reports SERVING.
  // Fails if the stored data cannot be trusted (see
  // storage::ArticleStore::Open) or, replicated, NATS cannot be used; the
  // server then stays NOT_SERVING.
  absl::StatusOr<storage::RecoveryReport> LoadData();

  // The addresses actually bound, with the chosen ports.
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  // Empty without ServerOptions::health_address.
  const std::string& health_address() const { return health_address_; }
  const ArticleIndex& index() const { return *index_; }

  // Reports NOT_SERVING, answers calls for shutdown_delay more, stops
  // accepting calls, lets in-flight calls finish
  // within the grace period and cancels the rest, then syncs the log and
  // writes a final snapshot. Safe from any thread; returns the storage error
  // if the final snapshot failed (acknowledged writes are still in the log).
  absl::Status Shutdown();
  ~RelatedServer();

  // Blocks until the server has shut down.
  void Wait();

 private:
  RelatedServer() = default;
  void StopRefreshing();
  // On the API server's health service and the health-only server's.
  void SetServing(bool serving);
  // Replicated mode: connects to the stream, applies it from the entry
  // after `applied`, and returns once caught up with its head.
  absl::Status StartReplica(uint64_t applied);

  ServerOptions options_;
  std::unique_ptr<TextEmbedding> embedding_;
  std::unique_ptr<ArticleIndex> index_;
  std::unique_ptr<ServiceMetrics> metrics_;
  // Before the store, which reports to it until it is destroyed.
  std::unique_ptr<StorageMetrics> storage_metrics_;
  // Replicated mode; before the store, whose snapshots read the journal's
  // position, and the stream, which reports to the metrics.
  std::unique_ptr<ReplicationMetrics> replication_metrics_;
  std::unique_ptr<replication::PositionJournal> journal_;
  // Before the store, which recovers held texts into them and reads their
  // count.
  std::unique_ptr<HeldTexts> held_;
  // Stopped (in Shutdown or the destructor) before the write worker is
  // destroyed: its tasks run there.
  std::unique_ptr<TextBootstrap> bootstrap_;
  std::unique_ptr<storage::ArticleStore> store_;
  std::unique_ptr<replication::NatsStream> stream_;
  std::unique_ptr<replication::Replica> replica_;
  // Where writes go: the index (standalone) or the stream (replicated).
  std::unique_ptr<ArticleWriter> writer_;
  std::unique_ptr<Authorizer> authorizer_;
  // Before the gRPC server, so that it is destroyed after it: the last
  // calls finish on it.
  std::unique_ptr<WriteWorker> writes_;
  std::unique_ptr<RelatedService> service_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;  // null: none
  std::thread stats_refresher_;
  absl::Notification stop_refreshing_;
  std::string grpc_address_;
  std::string metrics_address_;
  std::string health_address_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_SERVER_H_
