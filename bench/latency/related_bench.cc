// related_bench: GetRelated against the floor of a gRPC round trip, side by
// side in one run, on one server, from one client.
//
// It generates N clustered vectors (fixed seed), starts related-server with a
// data directory, streams them in, then measures, each for --seconds:
//   Ping (the empty RPC)            p50/p99 at concurrency 1, throughput at 64
//   GetRelated, uniform IDs         the same
//   GetRelated, Zipf-skewed IDs     the same
//   h2load: Ping and GetRelated     the same server, an independent client
//   in-process core lookup          ArticleIndex::Related, no gRPC
//   in-process raw FAISS search     IndexHNSWFlat::search of the same vectors
// and recall@10 of served results against exact kNN, ingest rate and when
// every related list was ready, resident bytes per article; then restarts
// to SERVING on the data (from the snapshot, and replaying a share written
// after it) and a compaction forced by rewrites, with recall after it
// (recovery_phases.h). Prints a table with ratios to the floor and writes
// JSON.
//
//   build/bench/related_bench --articles=100000 --dim=384     (~6 min)
//   build/bench/related_bench --articles=1000000 --dim=384 --in_process=false
//                                                    (long mode, see docs)
#include <faiss/IndexHNSW.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <omp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <optional>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "bench/latency/h2load.h"
#include "bench/latency/in_process.h"
#include "bench/latency/load_generator.h"
#include "bench/latency/recovery_phases.h"
#include "client/related_client.h"
#include "related/v1/related.grpc.pb.h"
#include "server/core/article_index.h"
#include "support/metrics_scrape.h"
#include "support/server_process.h"
#include "support/test_data.h"

ABSL_FLAG(std::string, server, "",
          "related-server binary (default: the build's)");
ABSL_FLAG(int, articles, 100000, "Articles to load.");
ABSL_FLAG(int, dim, 384, "Embedding dimension.");
ABSL_FLAG(std::string, index, "hnsw", "Index kind.");
ABSL_FLAG(int, seconds, 6, "Length of each latency measurement.");
ABSL_FLAG(int, rounds, 6,
          "Slices each concurrency-64 measurement is split into, the calls "
          "taking turns.");
ABSL_FLAG(double, zipf_s, 1.1, "Zipf exponent of the skewed ID draw.");
ABSL_FLAG(int, recall_queries, 200,
          "Articles whose related list is checked against exact kNN.");
ABSL_FLAG(std::string, json, "build/bench/latency.json",
          "Where to write the results.");
ABSL_FLAG(bool, in_process, true,
          "Also build the index in this process and time the core lookup "
          "and a raw FAISS search (doubles the build time).");
ABSL_FLAG(bool, h2load, true, "Cross-check with h2load (nghttp2-client).");
ABSL_FLAG(bool, restart, true,
          "Measure the restart to SERVING on the data directory (at 1M the "
          "longest phase; off for quicker experiments on the other figures).");
ABSL_FLAG(double, replay_share, 0.1,
          "The second restart replays this share of the articles, written "
          "(new vectors) after the snapshot and before a SIGKILL (0: skip "
          "it).");
ABSL_FLAG(double, compaction_share, 0.2,
          "After the restarts, this share of the articles gets new vectors, "
          "which leaves enough tombstones for a compaction (with the "
          "replayed share, over the server's 20% default); recall@10 is "
          "measured again after it (0: skip it).");
ABSL_FLAG(int, hnsw_m, 0, "HNSW graph degree (0: the server's default).");
ABSL_FLAG(int, hnsw_ef_construction, 0,
          "HNSW build effort (0: the server's default).");
ABSL_FLAG(int, hnsw_ef_search, 0,
          "HNSW query effort (0: the server's default).");

namespace related::bench {
namespace {

using testing::ServerProcess;

std::string Id(int i) { return absl::StrFormat("bench/%07d", i); }

// Draws article indices: uniformly, or Zipf-skewed over a fixed random
// ranking of the articles (news traffic: a small hot set takes most calls).
// Immutable once built, so threads share it, each with its own generator.
class IdDistribution {
 public:
  IdDistribution(int n, double zipf_s, uint32_t seed) : rank_(n) {
    std::mt19937 rng(seed);
    std::iota(rank_.begin(), rank_.end(), 0);
    std::shuffle(rank_.begin(), rank_.end(), rng);
    double sum = 0;
    cdf_.reserve(n);
    for (int r = 1; r <= n; ++r)
      cdf_.push_back(sum += 1.0 / std::pow(r, zipf_s));
    for (double& c : cdf_) c /= sum;
  }
  int Uniform(std::mt19937& rng) const {
    return std::uniform_int_distribution<int>(0, int(rank_.size()) - 1)(rng);
  }
  int Zipf(std::mt19937& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const size_t r =
        std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return rank_[std::min(r, rank_.size() - 1)];
  }
  int Hottest() const { return rank_[0]; }

 private:
  std::vector<int> rank_;
  std::vector<double> cdf_;
};

struct Row {
  std::string name;
  LoadResult c1, c64;
  std::string note;  // how the row differs from the gRPC rows, if it does
};

client::Article BenchArticle(const std::vector<float>& vectors, int dim,
                             int i) {
  return {Id(i),
          {vectors.begin() + size_t(i) * dim,
           vectors.begin() + size_t(i + 1) * dim},
          {"Benchmark article " + std::to_string(i),
           "https://news.example/bench/" + std::to_string(i),
           i % 2 ? "world" : "sport",
           "en",
           std::nullopt,
           {}},
          ""};
}

// HnswOptions as the server gets them: its defaults, or the flags.
HnswOptions Hnsw() {
  HnswOptions hnsw;
  if (int m = absl::GetFlag(FLAGS_hnsw_m); m > 0) hnsw.m = m;
  if (int ef = absl::GetFlag(FLAGS_hnsw_ef_construction); ef > 0)
    hnsw.ef_construction = ef;
  if (int ef = absl::GetFlag(FLAGS_hnsw_ef_search); ef > 0) hnsw.ef_search = ef;
  return hnsw;
}

// The in-process rows: the same vectors in an ArticleIndex with the server's
// default options (HNSW, default policy with near-duplicate suppression at
// 0.95, as related-server's flags), and in a bare FAISS IndexHNSWFlat with
// the same graph settings.
void InProcessRows(const std::vector<float>& vectors, int n, int dim,
                   const IdDistribution& ids, absl::Duration each,
                   std::vector<Row>& rows) {
  ArticleIndexOptions options;
  options.dimension = dim;
  options.hnsw = Hnsw();
  options.default_policy.duplicate_threshold = 0.95f;  // the server's default
  auto index = ArticleIndex::Create(options);
  if (!index.ok()) return;
  std::fprintf(stderr, "in-process: building the core index\n");
  const absl::Time start = absl::Now();
  for (int first = 0; first < n; first += 1000) {
    std::vector<Article> batch;
    for (int i = first; i < std::min(n, first + 1000); ++i) {
      client::Article a = BenchArticle(vectors, dim, i);
      batch.push_back({a.id,
                       std::move(a.embedding),
                       {a.metadata.title,
                        a.metadata.url,
                        a.metadata.section,
                        a.metadata.language,
                        std::nullopt,
                        {}},
                       ""});
    }
    if (!(*index)->Upsert(std::move(batch)).ok()) return;
  }
  std::fprintf(stderr, "in-process: core index built in %.1f s\n",
               absl::ToDoubleSeconds(absl::Now() - start));
  const ArticleIndex& core = **index;
  auto lookup = [&](bool zipf) {
    return [&, zipf](std::mt19937& rng) {
      RelatedQuery query{Id(zipf ? ids.Zipf(rng) : ids.Uniform(rng)),
                         10,
                         {},
                         core.options().default_policy};
      auto related = core.Related(query);
      return related.ok() && related->articles.size() == 10;
    };
  };
  rows.push_back({"core lookup, uniform IDs",
                  RunInProcess(1, each, lookup(false)),
                  RunInProcess(64, each, lookup(false)), "64 threads"});
  rows.push_back({"core lookup, Zipf IDs", RunInProcess(1, each, lookup(true)),
                  RunInProcess(64, each, lookup(true)), "64 threads"});
  index->reset();

  const HnswOptions hnsw = Hnsw();
  faiss::IndexHNSWFlat raw(dim, hnsw.m, faiss::METRIC_INNER_PRODUCT);
  raw.hnsw.efConstruction = hnsw.ef_construction;
  raw.hnsw.efSearch = hnsw.ef_search;
  std::fprintf(stderr, "in-process: building a bare FAISS HNSW index\n");
  omp_set_num_threads(std::max(1, omp_get_num_procs()));
  raw.add(n, vectors.data());
  auto search = [&](std::mt19937& rng) {
    omp_set_num_threads(1);  // one query: no thread team (as the server)
    const int q = ids.Uniform(rng);
    float scores[11];
    faiss::Index::idx_t found[11];
    raw.search(1, &vectors[size_t(q) * dim], 11, scores, found);
    return found[10] >= 0;
  };
  rows.push_back({"raw FAISS search, uniform", RunInProcess(1, each, search),
                  RunInProcess(64, each, search),
                  "k=11, no ranking, no metadata"});
}

// The h2load rows: one connection, like the project's client.
void H2loadRows(const std::string& address, const IdDistribution& ids,
                int seconds, const std::string& dir, std::vector<Row>& rows,
                std::vector<std::string>& lines) {
  const std::string ping_body = dir + "/ping.bin";
  const std::string related_body = dir + "/related.bin";
  v1::GetRelatedRequest request;
  request.set_article_id(Id(ids.Hottest()));
  request.set_limit(10);
  if (!WriteGrpcBody(ping_body, "") ||
      !WriteGrpcBody(related_body, request.SerializeAsString())) {
    return;
  }
  struct Case {
    std::string name, method, body;
  };
  for (const Case& c :
       {Case{"h2load: Ping", "/related.v1.RelatedArticles/Ping", ping_body},
        Case{"h2load: GetRelated, 1 ID",
             "/related.v1.RelatedArticles/GetRelated", related_body}}) {
    auto one = RunH2load(address, c.method, c.body, 1, seconds);
    auto many = RunH2load(address, c.method, c.body, 64, seconds);
    if (!one || !many) {
      lines.push_back("h2load: not run (install nghttp2-client)");
      return;
    }
    // h2load reports a mean, not percentiles: the c1 columns hold it.
    Row row{c.name, {}, {}, "c1 columns: mean"};
    row.c1.latencies_us = {one->mean_request_us};
    row.c1.errors = one->failed;
    row.c64.calls = many->succeeded;
    row.c64.errors = many->failed;
    row.c64.seconds =
        many->succeeded / std::max(many->requests_per_second, 1.0);
    rows.push_back(row);
  }
}

int Main() {
  const int n = absl::GetFlag(FLAGS_articles);
  const int dim = absl::GetFlag(FLAGS_dim);
  const absl::Duration each = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  std::string binary = absl::GetFlag(FLAGS_server);
  if (binary.empty()) binary = testing::ServerBinary();
  const absl::Time bench_start = absl::Now();

  std::fprintf(stderr, "generating %d clustered vectors of %d dims\n", n, dim);
  const bool restart = absl::GetFlag(FLAGS_restart);
  const int replayed =
      restart ? static_cast<int>(n * absl::GetFlag(FLAGS_replay_share)) : 0;
  const int compacted =
      restart ? static_cast<int>(n * absl::GetFlag(FLAGS_compaction_share)) : 0;
  // Articles 0..n-1 are imported with `vectors`; the first replayed +
  // compacted of them are rewritten later with `fresh` ones, drawn from the
  // same clusters (one draw, split).
  std::vector<float> fresh = testing::ClusteredVectors(
      n + replayed + compacted, dim, std::max(10, n / 100), 42);
  const std::vector<float> vectors(fresh.begin(),
                                   fresh.begin() + size_t(n) * dim);
  fresh.erase(fresh.begin(), fresh.begin() + size_t(n) * dim);
  fresh.shrink_to_fit();
  // Article i as rewritten: its fresh vector, the same metadata.
  const auto rewritten = [&](int i) {
    client::Article a = BenchArticle(vectors, dim, i);
    a.embedding.assign(fresh.begin() + size_t(i) * dim,
                       fresh.begin() + size_t(i + 1) * dim);
    return a;
  };
  char pattern[] = "/tmp/related-bench-XXXXXX";
  const std::string data_dir = mkdtemp(pattern);
  const HnswOptions hnsw = Hnsw();
  const std::vector<std::string> flags = {
      "--data_dir=" + data_dir, "--dim=" + std::to_string(dim),
      "--index=" + absl::GetFlag(FLAGS_index),
      "--hnsw_m=" + std::to_string(hnsw.m),
      "--hnsw_ef_construction=" + std::to_string(hnsw.ef_construction),
      "--hnsw_ef_search=" + std::to_string(hnsw.ef_search),
      "--snapshot_interval=0s",
      "--snapshot_wal_bytes=" + std::to_string(int64_t{1} << 40),
      // No snapshot in the middle of the latency phases; the restart
      // phase's snapshot is the one SIGTERM takes.
      "--snapshot_after_import=0"};
  auto server = ServerProcess::Start(binary, flags);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  client::RelatedClient client({server->grpc_address(), absl::Seconds(60)});
  if (!client.WaitUntilServing(absl::Seconds(30)).ok()) return 1;

  // 4. Ingest: one stream, batches of 1000. The stream is one bulk load: it
  // returns once the related lists of everything it added are built, so
  // every list is ready when the import returns; GetStats confirms no list
  // is stale.
  std::fprintf(stderr, "importing\n");
  const absl::Time ingest_start = absl::Now();
  auto importer = client.StartImport(absl::Hours(2));
  for (int first = 0; first < n; first += 1000) {
    std::vector<client::Article> batch;
    for (int i = first; i < std::min(n, first + 1000); ++i) {
      batch.push_back(BenchArticle(vectors, dim, i));
    }
    if (!importer->Send(batch).ok()) break;
    if (first > 0 && first % std::max(1000, n / 10 / 1000 * 1000) == 0) {
      std::fprintf(stderr, "  %d articles sent, %.0f s\n", first,
                   absl::ToDoubleSeconds(absl::Now() - ingest_start));
    }
  }
  auto imported = importer->Finish();
  const double ingest_seconds =
      absl::ToDoubleSeconds(absl::Now() - ingest_start);
  if (!imported.ok() || imported->upserted != n) {
    std::fprintf(stderr, "import failed: %s\n",
                 std::string(imported.status().message()).c_str());
    return 1;
  }
  auto stats = client.GetStats();
  if (!stats.ok()) return 1;
  // The card layout's figures are metrics, not API.
  auto metrics = testing::ScrapeMetrics(server->metrics_address());
  if (!metrics.ok()) return 1;
  const auto metric = [&](absl::string_view name) {
    return testing::MetricValue(*metrics, name).value_or(-1);
  };
  const double cards_bytes = metric("related_cards_memory_bytes");
  const double card_pages_per_box = metric("related_card_pages_per_box");
  const double card_layout_seconds = metric("related_card_layout_seconds");
  const double card_layout_pause_seconds =
      metric("related_card_layout_pause_seconds");
  const int64_t rss = ResidentBytes(server->pid());
  std::fprintf(stderr,
               "imported: every list ready %.1f s after the import started; "
               "server pid %d, %.1f MiB resident\n",
               ingest_seconds, static_cast<int>(server->pid()),
               rss / 1048576.0);

  // 1, 2. Latency and throughput, all against the same server.
  auto channel = grpc::CreateChannel(server->grpc_address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::RelatedArticles::NewStub(channel);
  const IdDistribution ids(n, absl::GetFlag(FLAGS_zipf_s), 7);
  std::mt19937 load_rng(7);
  const v1::PingRequest ping;
  // The throughput runs keep each response as bytes, unparsed, like h2load:
  // the client shares the server's 2 cores, and parsing a box of ten costs
  // the client more than an empty response does, which would count against
  // GetRelated what a remote caller pays on its own machine. Requests are
  // the same protobuf messages; the concurrency-1 runs and the recall check
  // parse everything.
  grpc::TemplatedGenericStub<v1::PingRequest, grpc::ByteBuffer> ping_stub(
      channel);
  grpc::TemplatedGenericStub<v1::GetRelatedRequest, grpc::ByteBuffer>
      related_stub(channel);
  auto ping_call = [&](grpc::ClientContext* c, grpc::CompletionQueue* q) {
    return ping_stub.PrepareUnaryCall(c, "/related.v1.RelatedArticles/Ping",
                                      ping, q);
  };
  auto related_call = [&](bool zipf) {
    return [&, zipf](grpc::ClientContext* c, grpc::CompletionQueue* q) {
      v1::GetRelatedRequest request;
      request.set_article_id(
          Id(zipf ? ids.Zipf(load_rng) : ids.Uniform(load_rng)));
      request.set_limit(10);
      return related_stub.PrepareUnaryCall(
          c, "/related.v1.RelatedArticles/GetRelated", request, q);
    };
  };
  // Warm up connections and caches.
  RunLoad<grpc::ByteBuffer>(ping_call, 8, absl::Seconds(1));
  RunLoad<grpc::ByteBuffer>(related_call(false), 8, absl::Seconds(1));
  // Concurrency 1: the three calls take turns call by call, so each sees
  // the same moments of this shared machine (its speed drifts by tens of
  // percent from second to second).
  auto blocking_related = [&](bool zipf) -> BlockingCall {
    return [&, zipf] {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
      v1::GetRelatedRequest request;
      request.set_article_id(
          Id(zipf ? ids.Zipf(load_rng) : ids.Uniform(load_rng)));
      request.set_limit(10);
      v1::GetRelatedResponse response;
      return stub->GetRelated(&context, request, &response).ok();
    };
  };
  const std::vector<BlockingCall> one_at_a_time = {
      [&] {
        grpc::ClientContext context;
        context.set_deadline(
            absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        v1::PingResponse response;
        return stub->Ping(&context, ping, &response).ok();
      },
      blocking_related(false), blocking_related(true)};
  const std::vector<std::string> names = {
      "Ping (floor)", "GetRelated, uniform IDs", "GetRelated, Zipf IDs"};
  std::vector<Row> rows;
  std::fprintf(stderr, "measuring concurrency 1\n");
  std::vector<LoadResult> c1 = RunInterleaved(
      one_at_a_time, each * static_cast<int64_t>(one_at_a_time.size()));
  for (size_t i = 0; i < names.size(); ++i) {
    rows.push_back({names[i], std::move(c1[i]), {}, ""});
    // The table comes at the end; long runs show each figure as it is made.
    std::fprintf(stderr, "  concurrency 1: %-24s p50 %.1f us (%.2f x floor)\n",
                 rows[i].name.c_str(), rows[i].c1.Percentile(0.5),
                 rows[i].c1.Percentile(0.5) / rows[0].c1.Percentile(0.5));
  }
  // Concurrency 64 is throughput, one kind at a time; the measurement runs
  // in --rounds slices, the three calls taking turns, so the slow and fast
  // moments fall on all alike.
  const std::vector<std::function<LoadResult(absl::Duration)>> at_64 = {
      [&](absl::Duration d) {
        return RunLoad<grpc::ByteBuffer>(ping_call, 64, d);
      },
      [&](absl::Duration d) {
        return RunLoad<grpc::ByteBuffer>(related_call(false), 64, d);
      },
      [&](absl::Duration d) {
        return RunLoad<grpc::ByteBuffer>(related_call(true), 64, d);
      }};
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < at_64.size(); ++i) {
      rows[i].c64.Add(at_64[i](each / rounds));
    }
  }
  for (size_t i = 0; i < at_64.size(); ++i) {
    std::fprintf(stderr,
                 "  concurrency 64: %-24s %.0f calls/s (%.2f x floor)\n",
                 rows[i].name.c_str(), rows[i].c64.Throughput(),
                 rows[i].c64.Throughput() / rows[0].c64.Throughput());
  }
  std::vector<std::string> lines;
  if (absl::GetFlag(FLAGS_h2load)) {
    H2loadRows(server->grpc_address(), ids, absl::GetFlag(FLAGS_seconds),
               data_dir, rows, lines);
  }

  // 5. Recall@10 of served lists, default policy (what the load above got),
  // against exact kNN by brute force. The synthetic clusters are loose
  // enough that no two articles are near-duplicates (cosine > 0.95), so
  // the default policy's box is plain kNN; the debug output confirms it.
  const int recall_queries = absl::GetFlag(FLAGS_recall_queries);
  const auto recall = ServedRecall(
      client, n, dim, recall_queries,
      [&](int i) { return &vectors[size_t(i) * dim]; }, Id);
  if (!recall) return 1;
  std::fprintf(stderr, "  recall@10: %.4f\n", recall->recall);

  // 6. Restarts on the data directory: from the snapshot SIGTERM takes,
  // then with a share of the articles written after it (log replay); then
  // a compaction, forced by rewriting more of them, and recall after it.
  server->StopWith(SIGTERM).IgnoreError();
  std::optional<RestartFigures> from_snapshot, with_replay;
  std::optional<CompactionFigures> compaction;
  std::optional<RecallFigures> recall_compacted, recall_replayed;
  if (restart) {
    std::fprintf(stderr, "restarting on the data directory\n");
    std::optional<ServerProcess> again;
    from_snapshot = MeasureRestart(binary, flags, again);
    if (!from_snapshot) return 1;
    std::fprintf(stderr, "  restart from the snapshot: %s\n",
                 RestartLine(*from_snapshot).c_str());
    if (replayed > 0) {
      // Written after the snapshot; SIGKILL: no snapshot of them.
      if (!Rewrite(*again, 0, replayed, rewritten).ok()) return 1;
      again->StopWith(SIGKILL).IgnoreError();
      with_replay = MeasureRestart(binary, flags, again);
      if (!with_replay) return 1;
      std::fprintf(stderr, "  restart replaying %d writes: %s\n", replayed,
                   RestartLine(*with_replay).c_str());
      // The replayed articles' lists were built by the replay.
      client::RelatedClient after({again->grpc_address(), absl::Seconds(60)});
      recall_replayed = ServedRecall(
          after, n, dim, recall_queries,
          [&](int i) {
            return i < replayed ? &fresh[size_t(i) * dim]
                                : &vectors[size_t(i) * dim];
          },
          Id, /*drawn_from=*/replayed);
      if (!recall_replayed) return 1;
      std::fprintf(stderr, "  recall@10 of the replayed articles: %.4f\n",
                   recall_replayed->recall);
    }
    if (compacted > 0) {
      std::fprintf(stderr, "rewriting %d articles to force a compaction\n",
                   compacted);
      compaction =
          ForceCompaction(*again, replayed, replayed + compacted, rewritten);
      if (!compaction) return 1;
      std::fprintf(stderr, "  compaction: %s\n",
                   CompactionLine(*compaction).c_str());
      client::RelatedClient after({again->grpc_address(), absl::Seconds(60)});
      recall_compacted = ServedRecall(
          after, n, dim, recall_queries,
          [&](int i) {
            return i < replayed + compacted ? &fresh[size_t(i) * dim]
                                            : &vectors[size_t(i) * dim];
          },
          Id);
      if (!recall_compacted) return 1;
      std::fprintf(stderr, "  recall@10 after the compaction: %.4f\n",
                   recall_compacted->recall);
    }
    again->StopWith(SIGTERM).IgnoreError();
  }
  const double restart_seconds = from_snapshot ? from_snapshot->seconds : -1;
  std::filesystem::remove_all(data_dir);

  // 3. In-process rows, with the server gone (it would compete for cores).
  if (absl::GetFlag(FLAGS_in_process)) {
    InProcessRows(vectors, n, dim, ids, each, rows);
  }

  const Row& floor = rows[0];
  std::printf(
      "\nrelated_bench: %d articles x %d dims, index %s (M %d, efConstruction "
      "%d, efSearch %d), %d s per measurement, whole run %.1f min\n",
      n, dim, absl::GetFlag(FLAGS_index).c_str(), hnsw.m, hnsw.ef_construction,
      hnsw.ef_search, absl::GetFlag(FLAGS_seconds),
      absl::ToDoubleMinutes(absl::Now() - bench_start));
  std::printf("%-27s %10s %10s %9s %12s %7s %7s  %s\n", "call", "p50 us c1",
              "p99 us c1", "p50/floor", "calls/s c64", "/floor", "errors",
              "note");
  for (const Row& r : rows) {
    const bool has_p99 = r.c1.latencies_us.size() > 1;
    std::printf(
        "%-27s %10.1f %10s %9.2f %12.0f %7.2f %7lld  %s\n", r.name.c_str(),
        r.c1.Percentile(0.5),
        has_p99 ? absl::StrFormat("%.1f", r.c1.Percentile(0.99)).c_str() : "-",
        r.c1.Percentile(0.5) / floor.c1.Percentile(0.5), r.c64.Throughput(),
        r.c64.Throughput() / floor.c64.Throughput(),
        static_cast<long long>(r.c1.errors + r.c64.errors), r.note.c_str());
  }
  for (const std::string& line : lines) std::printf("%s\n", line.c_str());
  const double raw = double(n) * dim * 4;
  std::printf(
      "ingest: %.0f articles/s; every related list ready %.1f s after the "
      "import started (stale lists when it returned: %lld)\n",
      n / ingest_seconds, ingest_seconds,
      static_cast<long long>(stats->related_lists_stale));
  std::printf(
      "recall@10 vs exact kNN: %.4f over %d queries, default policy "
      "(%d of them served from precomputed lists; near-duplicates removed: "
      "%d)\n",
      recall->recall, recall->queries, recall->precomputed,
      recall->near_duplicates);
  std::printf(
      "server resident memory: %.1f MiB = %.0f bytes/article; %.2f x raw "
      "vector bytes (target <= 1.5 x raw + 1 KB/article = %.1f MiB); "
      "related lists %.1f MiB; cards %.1f MiB, %.2f pages per box\n",
      rss / 1048576.0, double(rss) / n, rss / raw,
      (1.5 * raw + 1024.0 * n) / 1048576.0,
      stats->related_lists_memory_bytes / 1048576.0, cards_bytes / 1048576.0,
      card_pages_per_box);
  std::printf(
      "card layout after the import: %.2f s, of which reads were held off "
      "%.1f ms\n",
      card_layout_seconds, card_layout_pause_seconds * 1e3);
  if (from_snapshot) {
    std::printf("restart to SERVING from the snapshot: %s\n",
                RestartLine(*from_snapshot).c_str());
    if (with_replay) {
      std::printf(
          "restart to SERVING with %d articles (%.0f%%) written after the "
          "snapshot: %s\n",
          replayed, 100.0 * replayed / n, RestartLine(*with_replay).c_str());
    }
    if (recall_replayed) {
      std::printf(
          "recall@10 vs exact kNN after the replay, boxes of replayed "
          "articles: %.4f over %d queries (%d served from precomputed "
          "lists; near-duplicates removed: %d)\n",
          recall_replayed->recall, recall_replayed->queries,
          recall_replayed->precomputed, recall_replayed->near_duplicates);
    }
  } else {
    std::printf("restart to SERVING: not measured (--restart=false)\n");
  }
  if (compaction && recall_compacted) {
    std::printf(
        "compaction after rewriting %d articles (%.0f%%): %s\n"
        "recall@10 vs exact kNN after the compaction: %.4f over %d queries "
        "(%d served from precomputed lists; near-duplicates removed: %d)\n",
        compacted, 100.0 * compacted / n, CompactionLine(*compaction).c_str(),
        recall_compacted->recall, recall_compacted->queries,
        recall_compacted->precomputed, recall_compacted->near_duplicates);
  }

  const std::string json_path = absl::GetFlag(FLAGS_json);
  std::filesystem::create_directories(
      std::filesystem::path(json_path).parent_path());
  std::ofstream json(json_path);
  json << "{\"articles\": " << n << ", \"dim\": " << dim << ", \"rows\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    json << (i ? ", " : "") << "{\"name\": \"" << r.name
         << "\", \"p50_us_c1\": " << r.c1.Percentile(0.5)
         << ", \"p99_us_c1\": " << r.c1.Percentile(0.99) << ", \"p50_ratio\": "
         << r.c1.Percentile(0.5) / floor.c1.Percentile(0.5)
         << ", \"throughput_c64\": " << r.c64.Throughput()
         << ", \"throughput_ratio\": "
         << r.c64.Throughput() / floor.c64.Throughput()
         << ", \"errors\": " << r.c1.errors + r.c64.errors << ", \"note\": \""
         << r.note << "\"}";
  }
  json << "], \"ingest_articles_per_s\": " << n / ingest_seconds
       << ", \"lists_ready_seconds\": " << ingest_seconds
       << ", \"recall_at_10\": " << recall->recall << ", \"rss_bytes\": " << rss
       << ", \"related_lists_bytes\": " << stats->related_lists_memory_bytes
       << ", \"cards_bytes\": " << cards_bytes
       << ", \"card_pages_per_box\": " << card_pages_per_box
       << ", \"card_layout_seconds\": " << card_layout_seconds
       << ", \"card_layout_pause_seconds\": " << card_layout_pause_seconds
       << ", \"restart_seconds\": " << restart_seconds
       << ", \"recall_at_10_after_compaction\": "
       << (recall_compacted ? recall_compacted->recall : -1)
       << ", \"recall_at_10_of_replayed\": "
       << (recall_replayed ? recall_replayed->recall : -1) << "}\n";
  std::printf("wrote %s\n", json_path.c_str());
  return 0;
}

}  // namespace
}  // namespace related::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return related::bench::Main();
}
