#include "server/service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <unistd.h>

#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.pb.h"
#include "server/core/freed_memory.h"
#include "server/core/storage/embedder_identity.h"
#include "server/replication/replicated_writer.h"
#include "server/service/log.h"

namespace related {
namespace {

constexpr char kServiceName[] = "related.v1.RelatedArticles";
// Threads that apply writes and imports (see WriteWorker): enough for
// concurrent writers to share disk syncs and for a long import to leave
// room for single writes.
constexpr int kWriteThreads = 8;

// "host:0" with the port that was actually bound.
std::string WithPort(const std::string& address, int port) {
  return absl::StrCat(address.substr(0, address.rfind(':')), ":", port);
}

void SetServing(grpc::Server* server, bool serving) {
  if (server == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(serving);  // the whole server ("")
  health->SetServingStatus(kServiceName, serving);
}

// A plaintext server that answers grpc.health.v1 only (and reflection):
// Kubernetes' gRPC probes speak neither TLS nor tokens, and this port tells
// whether the server is SERVING and nothing else. Null if `address` cannot
// be bound.
std::unique_ptr<grpc::Server> StartHealthServer(const std::string& address,
                                                int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  return builder.BuildAndStart();
}

std::shared_ptr<grpc::ServerCredentials> GrpcCredentials(
    const std::optional<TlsOptions>& tls) {
  if (!tls.has_value()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      tls->client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls->client_ca;
  ssl.pem_key_cert_pairs.push_back({tls->private_key, tls->cert_chain});
  return grpc::SslServerCredentials(ssl);
}

// Where a server that trained its first text model itself keeps it.
std::string TrainedModelPath(const ServerOptions& options) {
  return options.store.has_value()
             ? absl::StrCat(options.store->data_dir, "/embedder.model")
             : "";
}

bool FileExists(const std::string& path) {
  return !path.empty() && access(path.c_str(), F_OK) == 0;
}

// The text embedder of `options.embedder_model` if set, or else of the
// model the server trained itself in its data directory, if any; fills in
// the index's dimension from the model when it is 0.
absl::StatusOr<std::unique_ptr<TextEmbedding>> StartEmbedding(
    ServerOptions& options) {
  auto embedding =
      std::make_unique<TextEmbedding>(options.index.max_text_bytes);
  std::string path = options.embedder_model;
  const char* flag = "--embedder_model";
  // Replicas never train, so never load a trained model either: they must
  // all embed with the --embedder_model they were given.
  if (path.empty() && !options.replication.has_value() &&
      FileExists(TrainedModelPath(options))) {
    path = TrainedModelPath(options);
    flag = "the model this server trained";
  }
  if (path.empty()) return embedding;
  auto model = text::SifModel::Load(path);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat(flag, ": ", model.status().message()));
  }
  int& dimension = options.index.dimension;
  if (dimension == 0) dimension = model->dimension();
  if (dimension != model->dimension()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dim=", dimension, " but ", flag, " (", path,
                     ") has dimension ", model->dimension()));
  }
  embedding->SetModel(MakeSifEmbedder(*std::move(model)));
  return embedding;
}

TextBootstrapOptions BootstrapOptions(const ServerOptions& options) {
  TextBootstrapOptions bootstrap;
  // Replicas must embed alike, so they never train on their own.
  bootstrap.train_after =
      options.replication.has_value() ? 0 : options.embedder_train_after;
  bootstrap.model_path = TrainedModelPath(options);
  if (options.store.has_value()) bootstrap.data_dir = options.store->data_dir;
  if (options.index.dimension > 0)
    bootstrap.dimension = options.index.dimension;
  bootstrap.log = [](const std::string& line) { LogInfo(line); };
  return bootstrap;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RelatedServer>> RelatedServer::Start(
    const ServerOptions& options) {
  std::unique_ptr<RelatedServer> server(new RelatedServer());
  server->options_ = options;
  auto embedding = StartEmbedding(server->options_);
  if (!embedding.ok()) return embedding.status();
  server->embedding_ = *std::move(embedding);
  auto index = ArticleIndex::Create(server->options_.index);
  if (!index.ok()) return index.status();
  server->index_ = *std::move(index);
  server->metrics_ =
      std::make_unique<ServiceMetrics>(IndexKindName(options.index.index_kind));
  server->metrics_->SetIndexStats(*server->index_);
  server->authorizer_ = std::make_unique<Authorizer>(options.auth);
  server->writes_ = std::make_unique<WriteWorker>(kWriteThreads);
  server->held_ = std::make_unique<HeldTexts>();
  server->bootstrap_ = std::make_unique<TextBootstrap>(
      BootstrapOptions(server->options_), *server->index_, *server->held_,
      *server->embedding_,
      [writes = server->writes_.get()](std::function<void()> task) {
        writes->Post(std::move(task));
      });
  server->service_ = std::make_unique<RelatedService>(
      *server->index_, *server->metrics_, *server->authorizer_,
      *server->writes_, *server->embedding_, *server->bootstrap_,
      options.box_cache_entries);

  auto endpoint = MetricsEndpoint::Start(options.metrics_address,
                                         server->metrics_->registry());
  if (!endpoint.ok()) return endpoint.status();
  server->metrics_endpoint_ = *std::move(endpoint);
  server->storage_metrics_ =
      std::make_unique<StorageMetrics>(*server->metrics_->registry());
  server->metrics_address_ = server->metrics_endpoint_->address();
  if (options.replication.has_value()) {
    if (server->options_.index.dimension <= 0) {
      return absl::InvalidArgumentError(
          "replicated mode needs the embedding dimension (--dim): every "
          "replica and the stream must agree on it");
    }
    server->replication_metrics_ =
        std::make_unique<ReplicationMetrics>(*server->metrics_->registry());
    server->journal_ = std::make_unique<replication::PositionJournal>();
  }

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection describes the services it lists from the descriptors linked
  // into the binary. gRPC's own health service carries none (it is built
  // on upb), so link the generated health messages: naming one keeps the
  // linker from dropping them.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(options.grpc_address, GrpcCredentials(options.tls),
                           &grpc_port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  // gRPC sets SO_REUSEPORT by default, which would let a second server
  // silently share (and steal calls from) a port already in use.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || grpc_port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve gRPC on ", options.grpc_address,
        options.tls.has_value()
            ? " (address in use, not a valid host:port, or the TLS "
              "certificate and key do not form a valid pair)"
            : " (address in use, or not a valid host:port)"));
  }
  server->grpc_address_ = WithPort(options.grpc_address, grpc_port);
  if (!options.health_address.empty()) {
    int health_port = 0;
    server->health_server_ =
        StartHealthServer(options.health_address, &health_port);
    if (server->health_server_ == nullptr || health_port == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve health checks on ", options.health_address,
                       " (address in use, or not a valid host:port)"));
    }
    server->health_address_ = WithPort(options.health_address, health_port);
  }
  server->SetServing(false);
  return server;
}

void RelatedServer::SetServing(bool serving) {
  related::SetServing(server_.get(), serving);
  related::SetServing(health_server_.get(), serving);
}

absl::StatusOr<storage::RecoveryReport> RelatedServer::LoadData() {
  storage::RecoveryReport report;
  if (options_.store.has_value()) {
    storage::StoreOptions store_options = *options_.store;
    store_options.observer = storage_metrics_.get();
    store_options.held = held_.get();
    if (journal_ != nullptr) {
      store_options.log_position = [journal = journal_.get()] {
        return journal->position();
      };
    }
    auto store = storage::ArticleStore::Open(store_options, *index_, &report);
    if (!store.ok()) return store.status();
    // After Open, which holds the directory's lock.
    const auto model = embedding_->model();
    if (absl::Status s = storage::CheckEmbedderIdentity(
            store_options.data_dir, model ? model->identity() : "");
        !s.ok()) {
      return s;  // the store closes without a snapshot: nothing was written
    }
    store_ = *std::move(store);
    if (journal_ != nullptr) {
      // Until the replica starts, a snapshot (on a failed start) must
      // record where the loaded one was.
      journal_->Reset(report.log_position);
      journal_->ForwardBulkLoads(store_.get());
    }
    ReleaseFreedMemory();  // the snapshot and journal records just replayed
    metrics_->SetIndexStats(*index_);
  }
  if (options_.replication.has_value()) {
    if (absl::Status s = StartReplica(report.log_position); !s.ok()) return s;
    writer_ = std::make_unique<replication::ReplicatedWriter>(
        *stream_, *replica_, options_.index, replication_metrics_.get(),
        options_.replication_apply_timeout);
    metrics_->SetIndexStats(*index_);
  } else {
    writer_ = std::make_unique<IndexWriter>(*index_);
  }
  // The index's gauges also move without writes (a compaction ends in the
  // background): refresh them now and then.
  stats_refresher_ = std::thread([this] {
    while (!stop_refreshing_.WaitForNotificationWithTimeout(absl::Seconds(5))) {
      metrics_->SetIndexStats(*index_);
      metrics_->SetHeldTexts(bootstrap_->held());
    }
  });
  // Before any write is accepted: held texts recovered, embed or train
  // them (and serialise writes with that while it runs).
  bootstrap_->Resume();
  service_->SetReady(*writer_);
  SetServing(true);
  return report;
}

absl::Status RelatedServer::Shutdown() {
  // Load balancers see NOT_SERVING first and stop sending new calls; those
  // that still arrive during the delay are answered.
  server_->GetHealthCheckService()->Shutdown();
  if (health_server_ != nullptr) {
    health_server_->GetHealthCheckService()->Shutdown();
  }
  absl::SleepFor(options_.shutdown_delay);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  if (health_server_ != nullptr) health_server_->Shutdown();
  StopRefreshing();
  bootstrap_->Stop();
  // No call is running any more; replicated, the replica stops applying:
  // the final snapshot sees every write, and records where it stopped.
  writer_.reset();
  replica_.reset();
  return store_ != nullptr ? store_->Close() : absl::OkStatus();
}

absl::Status RelatedServer::StartReplica(uint64_t applied) {
  ReplicationMetrics* metrics = replication_metrics_.get();
  auto stream = replication::NatsStream::Open(
      *options_.replication, options_.index.dimension,
      [metrics](bool connected) { metrics->Connected(connected); });
  if (!stream.ok()) return stream.status();
  stream_ = *std::move(stream);
  const auto log = options_.store.has_value()
                       ? options_.store->log
                       : std::function<void(const std::string&)>(
                             [](const std::string& line) { LogInfo(line); });
  auto replica = replication::Replica::Start(*stream_, *index_, *journal_,
                                             applied, metrics, log);
  if (!replica.ok()) return replica.status();
  replica_ = *std::move(replica);
  return replica_->CatchUp();
}

void RelatedServer::Wait() { server_->Wait(); }

void RelatedServer::StopRefreshing() {
  if (!stop_refreshing_.HasBeenNotified()) stop_refreshing_.Notify();
  if (stats_refresher_.joinable()) stats_refresher_.join();
}

RelatedServer::~RelatedServer() {
  StopRefreshing();
  if (bootstrap_ != nullptr) bootstrap_->Stop();
}

}  // namespace related
