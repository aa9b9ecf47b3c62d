// RunBench and ReadArticleIds (declared in commands.h): the `bench`
// subcommand, a load generator for people trying a server out: how many
// related boxes a second it serves to this client, and how long each takes.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/cli/commands.h"
#include "client/cli/output.h"
#include "nlohmann/json.hpp"

namespace related::cli {
namespace {

using Json = nlohmann::ordered_json;

// What one thread saw. Each thread keeps its own, so that timing a call
// takes no lock; they are merged when all have stopped.
struct Tally {
  // Of the calls that succeeded; float keeps a long run's list small.
  std::vector<float> latencies_ms;
  int64_t articles = 0;  // in the boxes those calls returned
  std::map<absl::StatusCode, int64_t> failures;
  absl::Status example_failure;  // OK until a call fails

  void Merge(Tally&& other) {
    latencies_ms.insert(latencies_ms.end(), other.latencies_ms.begin(),
                        other.latencies_ms.end());
    articles += other.articles;
    for (const auto& [code, count] : other.failures) failures[code] += count;
    if (example_failure.ok()) {
      example_failure = std::move(other.example_failure);
    }
  }

  int64_t failed() const {
    int64_t total = 0;
    for (const auto& [code, count] : failures) total += count;
    return total;
  }
};

// One call as `options` asks; the number of articles in its box.
absl::StatusOr<int64_t> CallOnce(client::RelatedClient& client,
                                 const BenchOptions& options, int64_t n) {
  if (options.ping) {
    absl::Status status = client.Ping();
    if (!status.ok()) return status;
    return 0;
  }
  const std::string& id = options.article_ids[static_cast<size_t>(
      n % static_cast<int64_t>(options.article_ids.size()))];
  auto related =
      client.Related(id, options.lookup.limit, options.lookup.exclude_ids,
                     options.lookup.policy);
  if (!related.ok()) return related.status();
  return static_cast<int64_t>(related->items.size());
}

// Takes call numbers from `next` until the count or the deadline is reached.
void RunCalls(client::RelatedClient& client, const BenchOptions& options,
              absl::Time deadline, std::atomic<int64_t>& next, Tally& tally) {
  while (absl::Now() < deadline) {
    const int64_t n = next.fetch_add(1, std::memory_order_relaxed);
    if (options.calls > 0 && n >= options.calls) return;
    const absl::Time start = absl::Now();
    absl::StatusOr<int64_t> articles = CallOnce(client, options, n);
    const float ms =
        static_cast<float>(absl::ToDoubleMilliseconds(absl::Now() - start));
    if (articles.ok()) {
      tally.latencies_ms.push_back(ms);
      tally.articles += *articles;
    } else {
      ++tally.failures[articles.status().code()];
      if (tally.example_failure.ok()) tally.example_failure = articles.status();
    }
  }
}

// The value below which `share` of the sorted `values` lie (nearest rank).
double Percentile(const std::vector<float>& sorted, double share) {
  const size_t rank = static_cast<size_t>(
      std::ceil(share * static_cast<double>(sorted.size())));
  return sorted[std::max<size_t>(rank, 1) - 1];
}

struct Summary {
  int64_t calls = 0;
  double seconds = 0;
  bool stopped_by_time = false;  // before `calls` was reached
  Tally tally;                   // latencies sorted
};

Json LatencyJson(const std::vector<float>& sorted) {
  if (sorted.empty()) return nullptr;
  double sum = 0;
  for (float ms : sorted) sum += ms;
  return {{"mean", sum / static_cast<double>(sorted.size())},
          {"p50", Percentile(sorted, 0.50)},
          {"p90", Percentile(sorted, 0.90)},
          {"p99", Percentile(sorted, 0.99)},
          {"max", double{sorted.back()}}};
}

Json SummaryJson(const BenchOptions& options, const Summary& summary) {
  const Tally& tally = summary.tally;
  const int64_t succeeded = static_cast<int64_t>(tally.latencies_ms.size());
  Json failures = Json::object();
  for (const auto& [code, count] : tally.failures) {
    failures[absl::StatusCodeToString(code)] = count;
  }
  Json json = {{"method", options.ping ? "Ping" : "GetRelated"},
               {"article_ids", options.article_ids.size()},
               {"concurrency", options.concurrency},
               {"calls", summary.calls},
               {"succeeded", succeeded},
               {"failed", tally.failed()},
               {"seconds", summary.seconds},
               {"calls_per_second",
                static_cast<double>(summary.calls) / summary.seconds},
               {"stopped_by_duration", summary.stopped_by_time},
               {"latency_ms", LatencyJson(tally.latencies_ms)},
               {"articles_per_box", nullptr},
               {"failures", std::move(failures)}};
  if (!options.ping && succeeded > 0) {
    json["articles_per_box"] =
        static_cast<double>(tally.articles) / static_cast<double>(succeeded);
  }
  if (!tally.example_failure.ok()) {
    json["example_failure"] =
        absl::StrCat(absl::StatusCodeToString(tally.example_failure.code()),
                     ": ", tally.example_failure.message());
  }
  return json;
}

std::string SummaryText(const BenchOptions& options, const Summary& summary) {
  const Tally& tally = summary.tally;
  std::string text =
      options.ping
          ? "Ping"
          : absl::StrFormat("GetRelated over %d article ID%s in turn",
                            options.article_ids.size(),
                            options.article_ids.size() == 1 ? "" : "s");
  absl::StrAppendFormat(&text, ", %d call%s in flight\n", options.concurrency,
                        options.concurrency == 1 ? "" : "s");
  absl::StrAppendFormat(&text, "calls: %d in %.2f s, %.1f calls/s",
                        summary.calls, summary.seconds,
                        static_cast<double>(summary.calls) / summary.seconds);
  if (summary.stopped_by_time) {
    absl::StrAppendFormat(&text, " (stopped at --duration, before %d calls)",
                          options.calls);
  }
  absl::StrAppendFormat(&text, "; failed: %d", tally.failed());
  std::string separator = " (";
  for (const auto& [code, count] : tally.failures) {
    absl::StrAppend(&text, separator, absl::StatusCodeToString(code), " ",
                    count);
    separator = ", ";
  }
  if (!tally.failures.empty()) text += ")";
  text += "\n";
  const std::vector<float>& sorted = tally.latencies_ms;
  if (!sorted.empty()) {
    const Json latency = LatencyJson(sorted);
    absl::StrAppendFormat(
        &text,
        "latency ms: mean %.3f, p50 %.3f, p90 %.3f, p99 %.3f, max %.3f\n",
        latency["mean"].get<double>(), latency["p50"].get<double>(),
        latency["p90"].get<double>(), latency["p99"].get<double>(),
        latency["max"].get<double>());
    if (!options.ping) {
      absl::StrAppendFormat(&text, "articles per box: %.1f\n",
                            static_cast<double>(tally.articles) /
                                static_cast<double>(sorted.size()));
    }
  }
  return text;
}

}  // namespace

int RunBench(client::RelatedClient& client, const BenchOptions& options,
             const Output& output) {
  // Opens the connection, so that no call measured below pays for it, and
  // stops at once, with the reason, if the server cannot be reached.
  if (absl::Status status = client.Ping(); !status.ok()) {
    return ReportRpcError(status, output.err);
  }
  std::vector<Tally> tallies(static_cast<size_t>(options.concurrency));
  std::atomic<int64_t> next{0};
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.duration;
  {
    std::vector<std::thread> threads;
    for (Tally& tally : tallies) {
      threads.emplace_back([&client, &options, deadline, &next, &tally] {
        RunCalls(client, options, deadline, next, tally);
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  Summary summary;
  summary.seconds = std::max(absl::ToDoubleSeconds(absl::Now() - start), 1e-6);
  for (Tally& tally : tallies) summary.tally.Merge(std::move(tally));
  std::sort(summary.tally.latencies_ms.begin(),
            summary.tally.latencies_ms.end());
  summary.calls = static_cast<int64_t>(summary.tally.latencies_ms.size()) +
                  summary.tally.failed();
  summary.stopped_by_time = options.calls > 0 && summary.calls < options.calls;
  if (output.json) {
    output.out << DumpJson(SummaryJson(options, summary)) << "\n";
  } else {
    output.out << SummaryText(options, summary);
  }
  const Tally& tally = summary.tally;
  if (tally.failed() == 0) return kExitOk;
  output.err << absl::StrFormat(
      "related-cli: %d of %d calls failed, for example %s: %s\n",
      tally.failed(), summary.calls,
      absl::StatusCodeToString(tally.example_failure.code()),
      tally.example_failure.message());
  return kExitFailure;
}

absl::StatusOr<std::vector<std::string>> ReadArticleIds(std::istream& input) {
  std::vector<std::string> ids;
  std::string line;
  for (int64_t number = 1; std::getline(input, line); ++number) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty()) continue;
    if (text.front() != '{') {
      ids.emplace_back(text);
      continue;
    }
    const Json article = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    const auto id = article.is_discarded() ? article.end() : article.find("id");
    if (id == article.end() || !id->is_string() ||
        id->get_ref<const std::string&>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", number,
          ": neither an article ID nor a JSON article with a string \"id\""));
    }
    ids.push_back(id->get<std::string>());
  }
  if (ids.empty()) return absl::InvalidArgumentError("no article IDs in it");
  return ids;
}

}  // namespace related::cli
