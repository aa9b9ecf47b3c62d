// related_bench: GetRelated against the floor of a gRPC round trip, side by
// side in one run, on one server, from one client.
//
// It generates N clustered vectors (fixed seed), starts related-server with a
// data directory, streams them in, then measures, each for --seconds:
//   Ping (the empty RPC)            p50/p99 at concurrency 1, throughput at 64
//   GetRelated, uniform IDs         the same
//   GetRelated, Zipf-skewed IDs     the same
// and recall@10 of served results against exact kNN, ingest rate, resident
// bytes per article, and the time from start to SERVING on the data.
// Prints a table with ratios to the floor and writes JSON.
//
//   build/bench/related_bench --articles=100000 --dim=384
#include <grpcpp/create_channel.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "bench/latency/load_generator.h"
#include "client/related_client.h"
#include "related/v1/related.grpc.pb.h"
#include "tests/core/test_data.h"
#include "tests/integration/server_process.h"

ABSL_FLAG(std::string, server, "",
          "related-server binary (default: the build's)");
ABSL_FLAG(int, articles, 100000, "Articles to load.");
ABSL_FLAG(int, dim, 384, "Embedding dimension.");
ABSL_FLAG(std::string, index, "hnsw", "Index kind.");
ABSL_FLAG(int, seconds, 5, "Length of each latency measurement.");
ABSL_FLAG(double, zipf_s, 1.1, "Zipf exponent of the skewed ID draw.");
ABSL_FLAG(int, recall_queries, 200,
          "Articles whose related list is checked against exact kNN.");
ABSL_FLAG(std::string, json, "build/bench/latency.json",
          "Where to write the results.");

namespace related::bench {
namespace {

using testing::ServerProcess;

int64_t ResidentBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atoll(line.c_str() + 6) * 1024;
  }
  return -1;
}

std::string Id(int i) { return absl::StrFormat("bench/%07d", i); }

// Draws article indices: uniformly, or Zipf-skewed over a fixed random
// ranking of the articles (news traffic: a small hot set takes most calls).
class IdDraw {
 public:
  IdDraw(int n, double zipf_s, uint32_t seed)
      : rng_(seed), uniform_(0, n - 1), rank_(n) {
    std::iota(rank_.begin(), rank_.end(), 0);
    std::shuffle(rank_.begin(), rank_.end(), rng_);
    double sum = 0;
    cdf_.reserve(n);
    for (int r = 1; r <= n; ++r)
      cdf_.push_back(sum += 1.0 / std::pow(r, zipf_s));
    for (double& c : cdf_) c /= sum;
  }
  int Uniform() { return uniform_(rng_); }
  int Zipf() {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    const size_t r =
        std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return rank_[std::min(r, rank_.size() - 1)];
  }

 private:
  std::mt19937 rng_;
  std::uniform_int_distribution<int> uniform_;
  std::vector<int> rank_;
  std::vector<double> cdf_;
};

struct Row {
  std::string name;
  LoadResult c1, c64;
};

int Main() {
  const int n = absl::GetFlag(FLAGS_articles);
  const int dim = absl::GetFlag(FLAGS_dim);
  const absl::Duration each = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  std::string binary = absl::GetFlag(FLAGS_server);
  if (binary.empty()) binary = testing::ServerBinary();

  std::fprintf(stderr, "generating %d clustered vectors of %d dims\n", n, dim);
  const std::vector<float> vectors =
      testing::ClusteredVectors(n, dim, std::max(10, n / 100), 42);
  char pattern[] = "/tmp/related-bench-XXXXXX";
  const std::string data_dir = mkdtemp(pattern);
  const std::vector<std::string> flags = {
      "--data_dir=" + data_dir, "--dim=" + std::to_string(dim),
      "--index=" + absl::GetFlag(FLAGS_index), "--snapshot_interval=0s",
      "--snapshot_wal_bytes=" + std::to_string(int64_t{1} << 40)};
  auto server = ServerProcess::Start(binary, flags);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  client::RelatedClient client({server->grpc_address(), absl::Seconds(60)});
  if (!client.WaitUntilServing(absl::Seconds(30)).ok()) return 1;

  // 4. Ingest: one stream, batches of 1000. HNSW inserts synchronously, so
  // every related list is ready when the import returns.
  const absl::Time ingest_start = absl::Now();
  auto importer = client.StartImport(absl::Hours(2));
  for (int first = 0; first < n; first += 1000) {
    std::vector<client::Article> batch;
    for (int i = first; i < std::min(n, first + 1000); ++i) {
      batch.push_back({Id(i),
                       {vectors.begin() + size_t(i) * dim,
                        vectors.begin() + size_t(i + 1) * dim},
                       {"Benchmark article " + std::to_string(i),
                        "",
                        i % 2 ? "world" : "sport",
                        "en",
                        std::nullopt,
                        {}}});
    }
    if (!importer->Send(batch).ok()) break;
  }
  auto imported = importer->Finish();
  const double ingest_seconds =
      absl::ToDoubleSeconds(absl::Now() - ingest_start);
  if (!imported.ok() || imported->upserted != n) {
    std::fprintf(stderr, "import failed: %s\n",
                 std::string(imported.status().message()).c_str());
    return 1;
  }
  const int64_t rss = ResidentBytes(server->pid());

  // 1, 2. Latency and throughput, all against the same server.
  auto channel = grpc::CreateChannel(server->grpc_address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::RelatedArticles::NewStub(channel);
  IdDraw draw(n, absl::GetFlag(FLAGS_zipf_s), 7);
  const v1::PingRequest ping;
  auto ping_call = [&](grpc::ClientContext* c, grpc::CompletionQueue* q) {
    return stub->PrepareAsyncPing(c, ping, q);
  };
  auto related_call = [&](bool zipf) {
    return [&, zipf](grpc::ClientContext* c, grpc::CompletionQueue* q) {
      v1::GetRelatedRequest request;
      request.set_article_id(Id(zipf ? draw.Zipf() : draw.Uniform()));
      request.set_limit(10);
      return stub->PrepareAsyncGetRelated(c, request, q);
    };
  };
  // Warm up connections and caches.
  RunLoad<v1::PingResponse>(ping_call, 8, absl::Seconds(1));
  RunLoad<v1::GetRelatedResponse>(related_call(false), 8, absl::Seconds(1));
  std::vector<Row> rows;
  rows.push_back({"Ping (floor)", RunLoad<v1::PingResponse>(ping_call, 1, each),
                  RunLoad<v1::PingResponse>(ping_call, 64, each)});
  rows.push_back(
      {"GetRelated, uniform IDs",
       RunLoad<v1::GetRelatedResponse>(related_call(false), 1, each),
       RunLoad<v1::GetRelatedResponse>(related_call(false), 64, each)});
  rows.push_back(
      {"GetRelated, Zipf IDs",
       RunLoad<v1::GetRelatedResponse>(related_call(true), 1, each),
       RunLoad<v1::GetRelatedResponse>(related_call(true), 64, each)});

  // 5. Recall@10 of served lists (near-duplicate suppression off, so both
  // sides rank plain cosine) against exact kNN by brute force.
  client::RankingPolicy plain;
  plain.duplicate_threshold = 1.0f;
  int found = 0, wanted = 0;
  std::mt19937 rng(11);
  for (int q = 0; q < absl::GetFlag(FLAGS_recall_queries); ++q) {
    const int query = rng() % n;
    auto served = client.Related(Id(query), 10, {}, plain);
    if (!served.ok()) return 1;
    auto exact =
        testing::BruteForceTopK(vectors, dim, &vectors[size_t(query) * dim], 10,
                                [&](int i) { return i == query; });
    std::set<std::string> got;
    for (const auto& item : served->items) got.insert(item.article_id);
    for (int i : exact) found += got.count(Id(i));
    wanted += static_cast<int>(exact.size());
  }
  const double recall = double(found) / wanted;

  // 6. Restart on the data directory: time from start to SERVING.
  server->StopWith(SIGTERM).IgnoreError();
  const absl::Time restart = absl::Now();
  auto again = ServerProcess::Start(binary, flags);
  if (!again.ok()) return 1;
  client::RelatedClient again_client(
      {again->grpc_address(), absl::Seconds(60)});
  if (!again_client.WaitUntilServing(absl::Minutes(30)).ok()) return 1;
  const double restart_seconds = absl::ToDoubleSeconds(absl::Now() - restart);
  again->StopWith(SIGTERM).IgnoreError();
  std::filesystem::remove_all(data_dir);

  const Row& floor = rows[0];
  std::printf(
      "\nrelated_bench: %d articles x %d dims, index %s, %d s per "
      "measurement\n",
      n, dim, absl::GetFlag(FLAGS_index).c_str(), absl::GetFlag(FLAGS_seconds));
  std::printf("%-26s %10s %10s %8s %12s %8s %7s\n", "call", "p50 us c1",
              "p99 us c1", "p50/floor", "calls/s c64", "/floor", "errors");
  for (const Row& r : rows) {
    std::printf("%-26s %10.1f %10.1f %8.2f %12.0f %8.2f %7lld\n",
                r.name.c_str(), r.c1.Percentile(0.5), r.c1.Percentile(0.99),
                r.c1.Percentile(0.5) / floor.c1.Percentile(0.5),
                r.c64.Throughput(), r.c64.Throughput() / floor.c64.Throughput(),
                static_cast<long long>(r.c1.errors + r.c64.errors));
  }
  const double raw = double(n) * dim * 4;
  std::printf(
      "ingest: %.0f articles/s (%.1f s; every related list ready when the "
      "import returned)\n",
      n / ingest_seconds, ingest_seconds);
  std::printf("recall@10 vs exact kNN: %.4f over %d queries\n", recall,
              absl::GetFlag(FLAGS_recall_queries));
  std::printf(
      "server resident memory: %.1f MiB = %.0f bytes/article; %.2f x raw "
      "vector bytes "
      "(target <= 1.5 x raw + 1 KB/article = %.1f MiB)\n",
      rss / 1048576.0, double(rss) / n, rss / raw,
      (1.5 * raw + 1024.0 * n) / 1048576.0);
  std::printf("restart to SERVING on the data directory: %.1f s\n",
              restart_seconds);

  const std::string json_path = absl::GetFlag(FLAGS_json);
  std::filesystem::create_directories(
      std::filesystem::path(json_path).parent_path());
  std::ofstream json(json_path);
  json << "{\"articles\": " << n << ", \"dim\": " << dim << ", \"rows\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    json << (i ? ", " : "") << "{\"name\": \"" << r.name
         << "\", \"p50_us_c1\": " << r.c1.Percentile(0.5)
         << ", \"p99_us_c1\": " << r.c1.Percentile(0.99)
         << ", \"throughput_c64\": " << r.c64.Throughput()
         << ", \"errors\": " << r.c1.errors + r.c64.errors << "}";
  }
  json << "], \"ingest_articles_per_s\": " << n / ingest_seconds
       << ", \"recall_at_10\": " << recall << ", \"rss_bytes\": " << rss
       << ", \"restart_seconds\": " << restart_seconds << "}\n";
  std::printf("wrote %s\n", json_path.c_str());
  return 0;
}

}  // namespace
}  // namespace related::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return related::bench::Main();
}
