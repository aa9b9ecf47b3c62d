#include "server/service/metrics.h"

#include "absl/status/status.h"

#ifndef RELATED_VERSION
#define RELATED_VERSION "unknown"
#endif

namespace related {
namespace {

// From 50 microseconds (an in-memory lookup) to 5 seconds (a large import
// batch): the range this service's RPCs actually span.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
}

}  // namespace

ServiceMetrics::ServiceMetrics(absl::string_view index_kind)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("related_rpc_requests_total")
                    .Help("RPCs handled, by method and gRPC status code.")
                    .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("related_rpc_duration_seconds")
                   .Help("Time spent handling an RPC in the server, by method.")
                   .Register(*registry_)),
      articles_(prometheus::BuildGauge()
                    .Name("related_index_articles")
                    .Help("Articles currently stored and searchable.")
                    .Register(*registry_)
                    .Add({})),
      memory_bytes_(prometheus::BuildGauge()
                        .Name("related_index_memory_bytes")
                        .Help("Memory held by vectors and index structures.")
                        .Register(*registry_)
                        .Add({})),
      upserted_(prometheus::BuildCounter()
                    .Name("related_articles_upserted_total")
                    .Help("Articles inserted or replaced.")
                    .Register(*registry_)
                    .Add({})),
      deleted_(prometheus::BuildCounter()
                   .Name("related_articles_deleted_total")
                   .Help("Articles deleted (that existed).")
                   .Register(*registry_)
                   .Add({})) {
  prometheus::BuildGauge()
      .Name("related_build_info")
      .Help("Always 1; labels describe the running build.")
      .Register(*registry_)
      .Add({{"version", RELATED_VERSION},
            {"index_kind", std::string(index_kind)}})
      .Set(1);
}

void ServiceMetrics::RecordRequest(const std::string& method,
                                   grpc::StatusCode code,
                                   absl::Duration latency) {
  const std::string code_name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  requests_.Add({{"method", method}, {"code", code_name}}).Increment();
  latency_.Add({{"method", method}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void ServiceMetrics::RecordWrites(int64_t upserted, int64_t deleted) {
  upserted_.Increment(static_cast<double>(upserted));
  deleted_.Increment(static_cast<double>(deleted));
}

void ServiceMetrics::SetIndexStats(const IndexStats& stats) {
  articles_.Set(static_cast<double>(stats.article_count));
  memory_bytes_.Set(static_cast<double>(stats.index_memory_bytes));
}

}  // namespace related
