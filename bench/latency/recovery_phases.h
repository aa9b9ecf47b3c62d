// related_bench's phases on a running server's data directory: a restart
// to SERVING (from the snapshot, or replaying the log), a compaction forced
// by rewriting articles, and recall@10 of the boxes served afterwards.
#ifndef RELATED_BENCH_LATENCY_RECOVERY_PHASES_H_
#define RELATED_BENCH_LATENCY_RECOVERY_PHASES_H_

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/related_client.h"
#include "support/metrics_scrape.h"
#include "support/server_process.h"
#include "support/test_data.h"

namespace related::bench {

// A field of /proc/<pid>/<file> ("VmHWM:" in status, "rchar:" in io), as
// its number (kB for status fields).
inline int64_t ProcField(pid_t pid, const std::string& file,
                         const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + key.size());
  }
  return -1;
}

inline int64_t ResidentBytes(pid_t pid) {
  const int64_t kb = ProcField(pid, "status", "VmRSS:");
  return kb < 0 ? -1 : kb * 1024;
}

// One metric of the server's /metrics (-1 when it cannot be read).
inline double ServerMetric(const testing::ServerProcess& server,
                           const std::string& name) {
  auto metrics = testing::ScrapeMetrics(server.metrics_address());
  if (!metrics.ok()) return -1;
  return testing::MetricValue(*metrics, name).value_or(-1);
}

// A restart to SERVING on the data directory, as an operator sees it.
struct RestartFigures {
  double seconds = -1;
  int64_t bytes_read = 0;  // read() by the process (page cache included)
  int64_t peak_rss = 0;    // VmHWM when SERVING: the recovery's peak
  int64_t steady_rss = 0;  // VmRSS a few seconds later
  std::string recovery;    // what the server says it loaded and replayed
};

// Starts the server on its data directory and measures the way to SERVING;
// `server` keeps it running afterwards.
inline std::optional<RestartFigures> MeasureRestart(
    const std::string& binary, const std::vector<std::string>& flags,
    std::optional<testing::ServerProcess>& server) {
  RestartFigures figures;
  const absl::Time start = absl::Now();
  auto started = testing::ServerProcess::Start(binary, flags);
  if (!started.ok()) return std::nullopt;
  server.emplace(*std::move(started));
  client::RelatedClient client({server->grpc_address(), absl::Seconds(60)});
  if (!client.WaitUntilServing(absl::Hours(1)).ok()) return std::nullopt;
  figures.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  figures.bytes_read = ProcField(server->pid(), "io", "rchar:");
  figures.peak_rss = ProcField(server->pid(), "status", "VmHWM:") * 1024;
  // Steady: once what recovery freed has been handed back (the server trims
  // right after recovery; a few seconds cover the last of it).
  absl::SleepFor(absl::Seconds(3));
  figures.steady_rss = ResidentBytes(server->pid());
  const auto loaded = [&](const char* part) {
    return ServerMetric(
               *server,
               absl::StrFormat("related_recovery_part_loaded{part=\"%s\"}",
                               part)) == 1
               ? "loaded"
               : "rebuilt";
  };
  figures.recovery = absl::StrFormat(
      "graph %s, lists %s, %.0f log records replayed", loaded("graph"),
      loaded("lists"), ServerMetric(*server, "related_recovery_log_records"));
  return figures;
}

inline std::string RestartLine(const RestartFigures& f) {
  return absl::StrFormat(
      "%.1f s; read %.1f MiB; peak RSS during recovery %.1f MiB, steady "
      "after %.1f MiB (peak/steady %.2f); %s",
      f.seconds, f.bytes_read / 1048576.0, f.peak_rss / 1048576.0,
      f.steady_rss / 1048576.0,
      f.steady_rss > 0 ? double(f.peak_rss) / double(f.steady_rss) : 0.0,
      f.recovery);
}

// Writes `article(i)` for i in [first, end) through one import stream.
inline absl::Status Rewrite(
    const testing::ServerProcess& server, int first, int end,
    const std::function<client::Article(int)>& article) {
  client::RelatedClient writer({server.grpc_address(), absl::Hours(1)});
  auto import = writer.StartImport(absl::Hours(2));
  for (int start = first; start < end; start += 1000) {
    std::vector<client::Article> batch;
    for (int i = start; i < std::min(end, start + 1000); ++i)
      batch.push_back(article(i));
    if (absl::Status sent = import->Send(batch); !sent.ok()) return sent;
  }
  return import->Finish().status();
}

// A compaction as the rewrites that force it cause it.
struct CompactionFigures {
  double tombstones_before = -1;  // share of the slots, after the rewrites
  double tombstones_after = -1;
  double seconds = -1;  // related_compaction_duration_seconds
  double waited = -1;   // from the last rewrite to the swap being seen
  int64_t rss_before = 0, rss_after = 0;
  int64_t peak_rss = 0;  // VmHWM of the whole run so far
};

// Writes `article(i)` for i in [first, end) (new vectors for existing
// articles: each leaves a tombstone) and waits until the server has
// compacted its index.
inline std::optional<CompactionFigures> ForceCompaction(
    const testing::ServerProcess& server, int first, int end,
    const std::function<client::Article(int)>& article) {
  const double compactions = ServerMetric(server, "related_compactions_total");
  if (!Rewrite(server, first, end, article).ok()) return std::nullopt;
  const absl::Time written = absl::Now();
  CompactionFigures figures;
  figures.rss_before = ResidentBytes(server.pid());
  // Refreshed on writes (and every 5 s): a compaction that began during
  // the rewrites may already have lowered it.
  figures.tombstones_before =
      ServerMetric(server, "related_index_tombstone_ratio");
  const absl::Time deadline = written + absl::Hours(2);
  while (ServerMetric(server, "related_compactions_total") <= compactions) {
    if (absl::Now() > deadline) return std::nullopt;
    absl::SleepFor(absl::Seconds(1));
  }
  figures.waited = absl::ToDoubleSeconds(absl::Now() - written);
  figures.seconds = ServerMetric(server, "related_compaction_duration_seconds");
  absl::SleepFor(absl::Seconds(6));  // the next refresh of the gauges
  figures.tombstones_after =
      ServerMetric(server, "related_index_tombstone_ratio");
  figures.rss_after = ResidentBytes(server.pid());
  figures.peak_rss = ProcField(server.pid(), "status", "VmHWM:") * 1024;
  return figures;
}

inline std::string CompactionLine(const CompactionFigures& f) {
  return absl::StrFormat(
      "tombstones %.1f%% of the slots before, %.1f%% after; compaction "
      "%.1f s (swap seen %.1f s after the last write); RSS %.1f MiB before, "
      "%.1f MiB after, peak of the process %.1f MiB",
      100 * f.tombstones_before, 100 * f.tombstones_after, f.seconds, f.waited,
      f.rss_before / 1048576.0, f.rss_after / 1048576.0,
      f.peak_rss / 1048576.0);
}

// Recall@10 of served boxes (default policy) against exact kNN.
struct RecallFigures {
  double recall = 0;
  int queries = 0;
  int precomputed = 0;      // served from a precomputed list
  int near_duplicates = 0;  // removed by the default policy
};

// `vector(i)` is article i's current vector, `id(i)` its ID; articles
// 0..n-1. Queries are drawn with a fixed seed, among articles
// 0..drawn_from-1 (all when 0).
inline std::optional<RecallFigures> ServedRecall(
    client::RelatedClient& client, int n, int dim, int queries,
    const std::function<const float*(int)>& vector,
    const std::function<std::string(int)>& id, int drawn_from = 0) {
  if (drawn_from <= 0 || drawn_from > n) drawn_from = n;
  client::RankingPolicy with_debug;
  with_debug.debug = true;
  RecallFigures figures;
  figures.queries = queries;
  int found = 0, wanted = 0;
  std::mt19937 rng(11);
  for (int q = 0; q < queries; ++q) {
    const int query = static_cast<int>(rng() % drawn_from);
    auto served = client.Related(id(query), 10, {}, with_debug);
    if (!served.ok()) return std::nullopt;
    if (served->debug.has_value()) {
      figures.precomputed += served->debug->precomputed;
      figures.near_duplicates += served->debug->removed_as_near_duplicate;
    }
    // Exact top 10 by brute force, ties to the lower index.
    std::vector<std::pair<float, int>> scored;
    scored.reserve(n);
    const float* target = vector(query);
    for (int i = 0; i < n; ++i) {
      if (i != query)
        scored.push_back({-testing::Dot(vector(i), target, dim), i});
    }
    const size_t k = std::min<size_t>(10, scored.size());
    std::partial_sort(scored.begin(), scored.begin() + k, scored.end());
    std::set<std::string> got;
    for (const auto& item : served->items) got.insert(item.article_id);
    for (size_t i = 0; i < k; ++i) found += got.count(id(scored[i].second));
    wanted += static_cast<int>(k);
  }
  figures.recall = wanted ? double(found) / wanted : 0;
  return figures;
}

}  // namespace related::bench

#endif  // RELATED_BENCH_LATENCY_RECOVERY_PHASES_H_
