// related-server: flags -> ServerOptions -> start; stop on SIGTERM/SIGINT.
#include <signal.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/token_file.h"
#include "server/huge_pages.h"
#include "server/service/access_log.h"
#include "server/service/log.h"
#include "server/service/server.h"
#include "server/stop_signals.h"
#include "server/tls_files.h"

ABSL_FLAG(std::string, grpc_address, "0.0.0.0:50051",
          "host:port for the gRPC API (port 0: let the OS choose).");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9464",
          "host:port for Prometheus metrics at /metrics (port 0: OS chooses).");
ABSL_FLAG(std::string, health_address, "",
          "host:port of a plaintext port that answers grpc.health.v1 only "
          "(for Kubernetes probes when the API port has TLS). Empty: none.");
ABSL_FLAG(int, dim, 0, "Embedding dimension; 0 means the first write sets it.");
ABSL_FLAG(std::string, index, "hnsw",
          "Index kind: 'exact' (FAISS flat inner product, exhaustive) or "
          "'hnsw' (FAISS HNSW graph, approximate, fast at scale).");
ABSL_FLAG(int, default_limit, 10,
          "Related articles returned when a request sets no limit.");
ABSL_FLAG(int, max_limit, 100, "Largest limit a request may ask for.");
ABSL_FLAG(int, max_batch_size, 1000,
          "Most articles per upsert batch, IDs per delete or batch lookup.");
ABSL_FLAG(int, max_id_bytes, 256, "Longest article ID accepted, in bytes.");
ABSL_FLAG(int, max_metadata_bytes, 64 << 10,
          "Largest metadata of one article (title, URL, section, language, "
          "attributes), in bytes.");
ABSL_FLAG(int, max_text_bytes, 64 << 10,
          "Longest article text (Article.text) accepted, in bytes.");
ABSL_FLAG(std::string, embedder_model, "",
          "Model file (from `related-cli train`) that embeds articles sent "
          "as text. Sets the dimension if --dim is 0. Empty: only articles "
          "with embeddings are accepted.");
ABSL_FLAG(int64_t, embedder_train_after, 1000,
          "Standalone, with no --embedder_model: articles sent as text only "
          "are held, and once this many are held the server trains its "
          "first text model on them (saved in --data_dir and used by later "
          "starts) and serves them. 0: text needs --embedder_model.");
ABSL_FLAG(int, max_message_bytes, 16 << 20,
          "Largest gRPC request accepted, in bytes.");
ABSL_FLAG(int, hnsw_m, 16, "HNSW graph degree (memory vs recall).");
ABSL_FLAG(int, hnsw_ef_construction, 100,
          "HNSW build effort (ingest speed vs recall).");
ABSL_FLAG(int, hnsw_ef_search, 128, "HNSW query effort (latency vs recall).");
ABSL_FLAG(double, compaction_threshold, 0.2,
          "HNSW: rebuild the index without replaced and deleted articles in "
          "the background once they hold more than this share of its slots "
          "(0: never).");
ABSL_FLAG(int64_t, compaction_min_tombstones, 1000,
          "HNSW: compact only once at least this many slots are tombstones.");
// Default editorial policy: what a request gets for each control it leaves
// unset (see RankingPolicy in proto/related/v1/related.proto).
ABSL_FLAG(
    std::optional<float>, ranking_duplicate_threshold, std::nullopt,
    "Drop a candidate whose cosine similarity to the query or to an article "
    "already chosen exceeds this (the same story, updated or syndicated); "
    "1 turns suppression off. Unset: 0.95, or 0.98 with --embedder_model "
    "or a model the server trained in --data_dir (that model puts articles "
    "on one subject closer than 0.95).");
ABSL_FLAG(
    float, ranking_diversity_lambda, 1.0f,
    "Maximal marginal relevance lambda in [0,1]; 1 ranks by relevance alone.");
ABSL_FLAG(absl::Duration, ranking_recency_half_life, absl::ZeroDuration(),
          "Half-life of the recency boost; 0 turns recency off.");
ABSL_FLAG(float, ranking_recency_weight, 0.0f,
          "Weight in [0,1] of the recency boost (needs a half-life).");
ABSL_FLAG(absl::Duration, ranking_max_age, absl::ZeroDuration(),
          "Only articles published within this long (0: any age).");
ABSL_FLAG(float, ranking_min_score, -1.0f,
          "Only articles at least this similar to the query (-1: any).");
ABSL_FLAG(bool, ranking_same_language, true,
          "Default policy: a related box holds only articles in the query "
          "article's language (articles without one match each other). A "
          "request may turn it off (policy.same_language).");
ABSL_FLAG(int, ranking_candidates, 0,
          "Most similar eligible articles re-ranked per lookup "
          "(0: max(4 x limit, 50)).");
ABSL_FLAG(std::string, data_dir, "",
          "Directory for the write-ahead log and snapshots (in Kubernetes, the "
          "pod's volume). Empty: keep articles in memory only.");
ABSL_FLAG(
    std::string, durability, "fsync",
    "'fsync': a write returns after its log record is on disk (concurrent "
    "writers share one sync); 'periodic': it returns once written to the OS, "
    "synced every --fsync_interval (a machine crash can lose that interval).");
ABSL_FLAG(absl::Duration, fsync_interval, absl::Seconds(1),
          "Sync period with --durability=periodic.");
ABSL_FLAG(
    absl::Duration, snapshot_interval, absl::Minutes(10),
    "Take a snapshot this often when there were writes (0: never by time).");
ABSL_FLAG(
    int64_t, snapshot_wal_bytes, int64_t{256} << 20,
    "Take a snapshot when the write-ahead log segment reaches this size.");
ABSL_FLAG(int64_t, snapshot_after_import, 10000,
          "Take a snapshot in the background after an import stream of at "
          "least this many articles, so that the next restart loads it "
          "(0: never).");
// Replicated mode (docs/replication.md): the stream is the record of
// writes, and this server one of its replicas.
ABSL_FLAG(std::string, nats_url, "",
          "Replicated mode: NATS URLs, comma-separated, needs --dim "
          "(docs/replication.md). Empty: standalone.");
ABSL_FLAG(std::string, nats_stream, "related-articles",
          "Replicated mode: the JetStream stream (created if missing).");
ABSL_FLAG(std::string, nats_subject, "related.writes",
          "Replicated mode: the subject writes are published on.");
ABSL_FLAG(int, nats_replicas, 3,
          "Replicated mode: copies JetStream keeps of the stream, when this "
          "server creates it (1 for a single NATS server).");
ABSL_FLAG(std::string, nats_credentials_file, "",
          "Replicated mode: a NATS credentials file (JWT and NKey seed).");
ABSL_FLAG(std::string, nats_tls_ca_file, "",
          "Replicated mode: PEM CA certificates to trust for TLS to NATS.");
ABSL_FLAG(std::string, nats_tls_cert_file, "",
          "Replicated mode: PEM client certificate for NATS (mutual TLS).");
ABSL_FLAG(std::string, nats_tls_key_file, "",
          "Replicated mode: PEM private key of --nats_tls_cert_file.");
ABSL_FLAG(absl::Duration, nats_timeout, absl::Seconds(5),
          "Replicated mode: how long connecting, and each publish, may take.");
ABSL_FLAG(absl::Duration, replication_apply_timeout, absl::Seconds(30),
          "Replicated mode: how long a write waits for this replica to apply "
          "it once the stream acknowledged it.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain for TLS on the gRPC port (with "
          "--tls_key_file). Neither: plaintext gRPC.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates; when set, clients must present a certificate "
          "signed by one of them (mutual TLS). Needs --tls_cert_file.");
ABSL_FLAG(std::string, write_token_file, "",
          "File holding the bearer token that UpsertArticles, ImportArticles "
          "and DeleteArticles require (one trailing newline is ignored). "
          "Unset: the RELATED_WRITE_TOKEN environment variable; neither: "
          "writes are open.");
ABSL_FLAG(std::string, read_token_file, "",
          "File holding the bearer token that reads (GetRelated, "
          "BatchGetRelated, SearchByVector, GetArticle, GetStats) require; "
          "the write token is accepted too. Unset: RELATED_READ_TOKEN; "
          "neither: reads are open. Ping and health checks are always open.");
ABSL_FLAG(absl::Duration, shutdown_delay, absl::ZeroDuration(),
          "On SIGTERM/SIGINT, how long to go on answering calls while health "
          "already reports NOT_SERVING, so that clients and load balancers "
          "that watch health move away first.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long in-flight RPCs may take to finish.");
ABSL_FLAG(std::string, log_format, "text",
          "'text' (one line per event) or 'json' (one JSON object per line: "
          "time, level, message, fields), for log collectors.");
ABSL_FLAG(int, box_cache_entries, 16384,
          "Default GetRelated answers kept encoded (about 1 KB each) until "
          "a write changes their box; 0: none.");
// Off by default: at tens of thousands of calls a second, a line per call
// would cost more than the call.
ABSL_FLAG(double, access_log_sample, 0,
          "Share of RPCs written to the log (method, code, duration, peer, "
          "article ID), in [0, 1]; 0: no access log.");

namespace {

// One line on stderr, as every start-up and shutdown message (text or
// JSON, --log_format).
void PrintLine(absl::string_view message,
               related::LogLevel level = related::LogLevel::kInfo) {
  related::LogLine(level, message);
}

// --log_format and --access_log_sample, applied before anything is logged.
absl::Status LoggingFromFlags() {
  related::LogFormat format;
  if (!related::ParseLogFormat(absl::GetFlag(FLAGS_log_format), &format)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format must be 'text' or 'json', got '",
                     absl::GetFlag(FLAGS_log_format), "'"));
  }
  related::SetLogFormat(format);
  const double sample = absl::GetFlag(FLAGS_access_log_sample);
  if (!(sample >= 0 && sample <= 1)) {
    return absl::InvalidArgumentError("--access_log_sample must be in [0, 1]");
  }
  related::AccessLog::SetSample(sample);
  return absl::OkStatus();
}

// The token in `file` (or the environment variable `env_var`); errors name
// --`flag`.
absl::StatusOr<std::string> TokenFromFlag(const char* flag,
                                          const std::string& file,
                                          const char* env_var) {
  auto token = related::LoadToken(file, env_var);
  if (!token.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", token.status().message()));
  }
  return token;
}

// TLS from --tls_*, bearer tokens from --*_token_file or the environment.
absl::Status SecurityFromFlags(related::ServerOptions& options) {
  auto tls = related::LoadTlsFiles({absl::GetFlag(FLAGS_tls_cert_file),
                                    absl::GetFlag(FLAGS_tls_key_file),
                                    absl::GetFlag(FLAGS_tls_client_ca_file)});
  if (!tls.ok()) return tls.status();
  options.tls = *std::move(tls);
  auto write_token =
      TokenFromFlag("write_token_file", absl::GetFlag(FLAGS_write_token_file),
                    "RELATED_WRITE_TOKEN");
  if (!write_token.ok()) return write_token.status();
  options.auth.write_token = *std::move(write_token);
  auto read_token =
      TokenFromFlag("read_token_file", absl::GetFlag(FLAGS_read_token_file),
                    "RELATED_READ_TOKEN");
  if (!read_token.ok()) return read_token.status();
  options.auth.read_token = *std::move(read_token);
  return absl::OkStatus();
}

// The index kind, dimension, request limits and HNSW parameters; the
// default ranking policy comes from DefaultPolicyFromFlags.
absl::StatusOr<related::ArticleIndexOptions> IndexOptionsFromFlags() {
  auto kind = related::ParseIndexKind(absl::GetFlag(FLAGS_index));
  if (!kind.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--index must be 'exact' or 'hnsw', got '",
                     absl::GetFlag(FLAGS_index), "'"));
  }
  related::ArticleIndexOptions index;
  index.index_kind = *kind;
  index.dimension = absl::GetFlag(FLAGS_dim);
  index.default_limit = absl::GetFlag(FLAGS_default_limit);
  index.max_limit = absl::GetFlag(FLAGS_max_limit);
  index.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  index.max_id_bytes = absl::GetFlag(FLAGS_max_id_bytes);
  index.max_metadata_bytes = absl::GetFlag(FLAGS_max_metadata_bytes);
  index.max_text_bytes = absl::GetFlag(FLAGS_max_text_bytes);
  index.hnsw.m = absl::GetFlag(FLAGS_hnsw_m);
  index.hnsw.ef_construction = absl::GetFlag(FLAGS_hnsw_ef_construction);
  index.hnsw.ef_search = absl::GetFlag(FLAGS_hnsw_ef_search);
  index.compaction_threshold = absl::GetFlag(FLAGS_compaction_threshold);
  index.compaction_min_tombstones =
      absl::GetFlag(FLAGS_compaction_min_tombstones);
  return index;
}

absl::StatusOr<related::storage::Durability> DurabilityFromFlag() {
  const std::string durability = absl::GetFlag(FLAGS_durability);
  if (durability == "fsync") return related::storage::Durability::kFsync;
  if (durability == "periodic") {
    return related::storage::Durability::kPeriodic;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--durability must be 'fsync' or 'periodic', got '", durability, "'"));
}

// Where and how articles are persisted; nullopt without --data_dir (memory
// only).
absl::StatusOr<std::optional<related::storage::StoreOptions>>
StoreOptionsFromFlags() {
  if (absl::GetFlag(FLAGS_data_dir).empty()) return std::nullopt;
  related::storage::StoreOptions store;
  store.data_dir = absl::GetFlag(FLAGS_data_dir);
  auto durability = DurabilityFromFlag();
  if (!durability.ok()) return durability.status();
  store.durability = *durability;
  store.fsync_interval = absl::GetFlag(FLAGS_fsync_interval);
  store.snapshot_interval = absl::GetFlag(FLAGS_snapshot_interval);
  store.snapshot_wal_bytes = absl::GetFlag(FLAGS_snapshot_wal_bytes);
  store.snapshot_after_import = absl::GetFlag(FLAGS_snapshot_after_import);
  if (store.fsync_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--fsync_interval must be positive");
  }
  store.log = [](const std::string& line) { PrintLine(line); };
  return store;
}

// Replicated mode's NATS settings; nullopt without --nats_url (standalone).
absl::StatusOr<std::optional<related::replication::NatsOptions>>
ReplicationFromFlags() {
  if (absl::GetFlag(FLAGS_nats_url).empty()) return std::nullopt;
  related::replication::NatsOptions nats;
  nats.url = absl::GetFlag(FLAGS_nats_url);
  nats.stream = absl::GetFlag(FLAGS_nats_stream);
  nats.subject = absl::GetFlag(FLAGS_nats_subject);
  nats.replicas = absl::GetFlag(FLAGS_nats_replicas);
  nats.credentials_file = absl::GetFlag(FLAGS_nats_credentials_file);
  nats.tls_ca_file = absl::GetFlag(FLAGS_nats_tls_ca_file);
  nats.tls_cert_file = absl::GetFlag(FLAGS_nats_tls_cert_file);
  nats.tls_key_file = absl::GetFlag(FLAGS_nats_tls_key_file);
  nats.connect_timeout = absl::GetFlag(FLAGS_nats_timeout);
  nats.publish_timeout = absl::GetFlag(FLAGS_nats_timeout);
  if (absl::GetFlag(FLAGS_dim) <= 0 &&
      absl::GetFlag(FLAGS_embedder_model).empty()) {
    return absl::InvalidArgumentError(
        "--nats_url needs --dim (or --embedder_model): every replica and the "
        "stream must agree on the embedding dimension");
  }
  if (nats.stream.empty() || nats.subject.empty() || nats.replicas < 1 ||
      nats.replicas > 5) {
    return absl::InvalidArgumentError(
        "--nats_stream and --nats_subject must be set, --nats_replicas in "
        "[1, 5]");
  }
  if (nats.connect_timeout <= absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_replication_apply_timeout) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--nats_timeout and --replication_apply_timeout must be positive");
  }
  return nats;
}

// The policy a request gets for each control it leaves unset. A flag at its
// "off" value (threshold 1, zero durations, min score -1) leaves the
// control unset.
//
// Articles embedded by the server's own model (SIF) on one subject are more
// alike than caller embeddings usually are: on AG News, 357 pairs that share
// less than 80% of their words are above 0.95, 5 above 0.98, against 44
// copies and rewrites above 0.98 (bench/quality/text_embedding_bench
// --duplicates; docs/text.md). Its near-duplicate line is drawn there.
constexpr float kDuplicateThreshold = 0.95f;
constexpr float kEmbedderDuplicateThreshold = 0.98f;
// Whether the server starts with its own text model: given, or trained
// earlier in the data directory (server/service/server.cc finds it there).
bool EmbedsText() {
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  return !absl::GetFlag(FLAGS_embedder_model).empty() ||
         (!data_dir.empty() && absl::GetFlag(FLAGS_nats_url).empty() &&
          access((data_dir + "/embedder.model").c_str(), F_OK) == 0);
}
absl::StatusOr<related::RankingPolicy> DefaultPolicyFromFlags() {
  related::RankingPolicy policy;
  const float duplicate_threshold =
      absl::GetFlag(FLAGS_ranking_duplicate_threshold)
          .value_or(EmbedsText() ? kEmbedderDuplicateThreshold
                                 : kDuplicateThreshold);
  if (duplicate_threshold < 1.0f) {
    policy.duplicate_threshold = duplicate_threshold;
  }
  policy.diversity_lambda = absl::GetFlag(FLAGS_ranking_diversity_lambda);
  if (absl::GetFlag(FLAGS_ranking_recency_half_life) != absl::ZeroDuration()) {
    policy.recency_half_life = absl::GetFlag(FLAGS_ranking_recency_half_life);
  }
  policy.recency_weight = absl::GetFlag(FLAGS_ranking_recency_weight);
  if (absl::GetFlag(FLAGS_ranking_max_age) != absl::ZeroDuration()) {
    policy.max_age = absl::GetFlag(FLAGS_ranking_max_age);
  }
  if (absl::GetFlag(FLAGS_ranking_min_score) > -1.0f) {
    policy.min_score = absl::GetFlag(FLAGS_ranking_min_score);
  }
  policy.candidates = absl::GetFlag(FLAGS_ranking_candidates);
  policy.same_language = absl::GetFlag(FLAGS_ranking_same_language);
  if (absl::Status s = related::ValidateRankingPolicy(policy); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ranking_* flags: ", s.message()));
  }
  return policy;
}

// The checks run in the order of the steps, so the first mistake on the
// command line is the one reported.
absl::StatusOr<related::ServerOptions> OptionsFromFlags() {
  related::ServerOptions options;
  options.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.health_address = absl::GetFlag(FLAGS_health_address);
  options.embedder_model = absl::GetFlag(FLAGS_embedder_model);
  options.embedder_train_after = absl::GetFlag(FLAGS_embedder_train_after);
  if (options.embedder_train_after < 0) {
    return absl::InvalidArgumentError("--embedder_train_after must be >= 0");
  }
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.box_cache_entries = absl::GetFlag(FLAGS_box_cache_entries);
  if (options.box_cache_entries < 0 || options.box_cache_entries > 1 << 24) {
    return absl::InvalidArgumentError(
        "--box_cache_entries must be in [0, 16777216]");
  }
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.shutdown_delay = absl::GetFlag(FLAGS_shutdown_delay);
  if (absl::Status s = SecurityFromFlags(options); !s.ok()) return s;
  auto index = IndexOptionsFromFlags();
  if (!index.ok()) return index.status();
  options.index = *std::move(index);
  auto store = StoreOptionsFromFlags();
  if (!store.ok()) return store.status();
  options.store = *std::move(store);
  auto replication = ReplicationFromFlags();
  if (!replication.ok()) return replication.status();
  options.replication = *std::move(replication);
  options.replication_apply_timeout =
      absl::GetFlag(FLAGS_replication_apply_timeout);
  auto policy = DefaultPolicyFromFlags();
  if (!policy.ok()) return policy.status();
  options.index.default_policy = *std::move(policy);
  return options;
}

void ParseFlags(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves related articles over gRPC (related.v1.RelatedArticles).\n"
      "Usage: related-server [--grpc_address=0.0.0.0:50051] "
      "[--metrics_address=0.0.0.0:9464] [--dim=N] [--index=exact|hnsw] ...");
  // --help lists the flags defined here (absl's default looks for a file
  // named after the binary).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
}

// The addresses bound (tests and scripts parse this line) and which
// protections are on; the tokens themselves are never printed.
void PrintListening(const related::RelatedServer& server,
                    const related::ServerOptions& options) {
  PrintLine(absl::StrCat("listening grpc=", server.grpc_address(),
                         " metrics=", server.metrics_address(),
                         server.health_address().empty() ? "" : " health=",
                         server.health_address()));
  PrintLine(absl::StrCat(
      "grpc ",
      !options.tls                     ? "plaintext"
      : options.tls->client_ca.empty() ? "TLS"
                                       : "TLS with client certificates",
      "; writes ",
      options.auth.write_token.empty() ? "open" : "need a bearer token",
      "; reads ",
      options.auth.read_token.empty() ? "open" : "need a bearer token"));
}

void PrintServing(const related::RelatedServer& server,
                  const related::ServerOptions& options) {
  const related::IndexStats stats = server.index().Stats();
  PrintLine(absl::StrCat(
      "serving ", stats.article_count, " articles (index ",
      related::IndexKindName(stats.index_kind), ", dim ", stats.dimension,
      options.store ? ", data_dir " : ", in memory only",
      options.store ? options.store->data_dir : "",
      options.replication ? ", replica of NATS stream " : "",
      options.replication ? options.replication->stream : "", ")"));
}

// Lets in-flight calls finish and writes the final snapshot; returns the
// exit code.
int Drain(related::RelatedServer& server, int signal) {
  PrintLine(absl::StrCat(signal == SIGTERM ? "SIGTERM" : "SIGINT",
                         " received, draining"));
  const absl::Time drain_start = absl::Now();
  const absl::Status stopped = server.Shutdown();
  server.Wait();
  PrintLine(absl::StrCat("drained in ",
                         absl::FormatDuration(absl::Now() - drain_start)));
  if (!stopped.ok()) {
    PrintLine(absl::StrCat("final snapshot failed (", stopped.message(),
                           "); acknowledged writes are in the write-ahead log "
                           "and will be replayed at the next start"),
              related::LogLevel::kError);
    return 1;
  }
  PrintLine("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // First of all: may restart the process (see huge_pages.h). Opt out with
  // GLIBC_TUNABLES=glibc.malloc.hugetlb=0.
  related::ReexecWithHugePages(argv);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // lock-order (deadlock) checking on: a global graph update on every lock,
  // and gRPC locks absl::Mutex several times per call. Tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ParseFlags(argc, argv);
  if (absl::Status s = LoggingFromFlags(); !s.ok()) {
    PrintLine(s.message(), related::LogLevel::kError);
    return 2;
  }

  auto options = OptionsFromFlags();
  if (!options.ok()) {
    PrintLine(options.status().message(), related::LogLevel::kError);
    return 2;
  }
  if (absl::Status s = related::InstallStopHandlers(); !s.ok()) {
    PrintLine(s.message(), related::LogLevel::kError);
    return 1;
  }
  auto server = related::RelatedServer::Start(*options);
  if (!server.ok()) {
    PrintLine(server.status().message(), related::LogLevel::kError);
    return 1;
  }
  PrintListening(**server, *options);
  // Health stays NOT_SERVING while stored articles are recovered.
  auto recovered = (*server)->LoadData();
  if (!recovered.ok()) {
    PrintLine(recovered.status().message(), related::LogLevel::kError);
    (*server)->Shutdown().IgnoreError();
    (*server)->Wait();
    return 1;
  }
  PrintServing(**server, *options);
  return Drain(**server, related::WaitForStopSignal());
}
