#include "client/cli/commands.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/cli/output.h"
#include "nlohmann/json.hpp"

namespace related::cli {
namespace {

using Json = nlohmann::ordered_json;

void PrintJson(const Json& json, const Output& output) {
  output.out << DumpJson(json) << "\n";
}

// The box as a table, with the debug lines after it when there are some.
std::string RelatedText(const std::vector<client::RelatedItem>& items,
                        const std::optional<client::RankingDebug>& debug,
                        const Output& output) {
  std::string text = RelatedTable(items, output.terminal_columns);
  if (debug.has_value()) text += "\n" + DebugLines(*debug);
  return text;
}

}  // namespace

int ReportRpcError(const absl::Status& status, std::ostream& err) {
  err << "related-cli: " << absl::StatusCodeToString(status.code()) << ": "
      << status.message() << "\n";
  return kExitFailure;
}

int RunRelated(client::RelatedClient& client, const std::string& article_id,
               const LookupOptions& options, const Output& output) {
  auto related = client.Related(article_id, options.limit, options.exclude_ids,
                                options.policy);
  if (!related.ok()) return ReportRpcError(related.status(), output.err);
  if (output.json) {
    Json json = {{"article_id", article_id},
                 {"related", RelatedJson(related->items)}};
    if (related->debug.has_value()) json["debug"] = DebugJson(*related->debug);
    PrintJson(json, output);
  } else {
    output.out << RelatedText(related->items, related->debug, output);
  }
  return kExitOk;
}

int RunSearch(client::RelatedClient& client,
              const std::vector<float>& embedding, const LookupOptions& options,
              const Output& output) {
  auto related = client.SearchByVector(embedding, options.limit,
                                       options.exclude_ids, options.policy);
  if (!related.ok()) return ReportRpcError(related.status(), output.err);
  if (output.json) {
    Json json = {{"related", RelatedJson(related->items)}};
    if (related->debug.has_value()) json["debug"] = DebugJson(*related->debug);
    PrintJson(json, output);
  } else {
    output.out << RelatedText(related->items, related->debug, output);
  }
  return kExitOk;
}

int RunBatch(client::RelatedClient& client,
             const std::vector<std::string>& article_ids,
             const LookupOptions& options, const Output& output) {
  auto items = client.BatchRelated(article_ids, options.limit,
                                   options.exclude_ids, options.policy);
  if (!items.ok()) return ReportRpcError(items.status(), output.err);
  bool all_ok = true;
  Json results = Json::array();
  for (size_t i = 0; i < items->size(); ++i) {
    const client::BatchItem& item = (*items)[i];
    all_ok = all_ok && item.status.ok();
    if (output.json) {
      Json result = {{"article_id", item.article_id},
                     {"code", absl::StatusCodeToString(item.status.code())}};
      if (!item.status.ok()) {
        result["error"] = std::string(item.status.message());
      }
      result["related"] = RelatedJson(item.related);
      if (item.debug.has_value()) result["debug"] = DebugJson(*item.debug);
      results.push_back(std::move(result));
      continue;
    }
    if (i > 0) output.out << "\n";
    output.out << "== " << SingleLine(item.article_id) << " ==\n";
    if (item.status.ok()) {
      output.out << RelatedText(item.related, item.debug, output);
    } else {
      output.out << "error: " << absl::StatusCodeToString(item.status.code())
                 << ": " << SingleLine(item.status.message()) << "\n";
    }
  }
  if (output.json) PrintJson({{"results", std::move(results)}}, output);
  return all_ok ? kExitOk : kExitFailure;
}

int RunGet(client::RelatedClient& client, const std::string& article_id,
           bool include_embedding, const Output& output) {
  auto article = client.GetArticle(article_id, include_embedding);
  if (!article.ok()) return ReportRpcError(article.status(), output.err);
  if (output.json) {
    PrintJson(ArticleJson(*article), output);
  } else {
    output.out << ArticleLines(*article);
  }
  return kExitOk;
}

int RunDelete(client::RelatedClient& client,
              const std::vector<std::string>& article_ids,
              const Output& output) {
  auto deleted = client.Delete(article_ids);
  if (!deleted.ok()) return ReportRpcError(deleted.status(), output.err);
  if (output.json) {
    PrintJson({{"deleted", *deleted}, {"requested", article_ids.size()}},
              output);
  } else {
    output.out << "deleted " << *deleted << " of " << article_ids.size()
               << "\n";
  }
  return kExitOk;
}

int RunStats(client::RelatedClient& client, const Output& output) {
  auto stats = client.GetStats();
  if (!stats.ok()) return ReportRpcError(stats.status(), output.err);
  if (output.json) {
    PrintJson(StatsJson(*stats), output);
  } else {
    output.out << StatsLines(*stats);
  }
  return kExitOk;
}

int RunHealth(client::RelatedClient& client, const std::string& service,
              const Output& output) {
  auto status = client.Health(service);
  if (!status.ok()) return ReportRpcError(status.status(), output.err);
  if (output.json) {
    PrintJson({{"service", service}, {"status", *status}}, output);
  } else {
    output.out << *status << "\n";
  }
  return *status == "SERVING" ? kExitOk : kExitFailure;
}

int RunPing(client::RelatedClient& client, const Output& output) {
  // The first call also opens the connection; time a second one, which is
  // the round trip alone.
  absl::Status status = client.Ping();
  if (!status.ok()) return ReportRpcError(status, output.err);
  const absl::Time start = absl::Now();
  status = client.Ping();
  const double milliseconds = absl::ToDoubleMilliseconds(absl::Now() - start);
  if (!status.ok()) return ReportRpcError(status, output.err);
  if (output.json) {
    PrintJson({{"ok", true}, {"round_trip_ms", milliseconds}}, output);
  } else {
    output.out << absl::StrFormat("pong in %.2f ms\n", milliseconds);
  }
  return kExitOk;
}

}  // namespace related::cli
