// The server's Prometheus metrics. Handlers record through RequestRecorder;
// index gauges are refreshed after every write.
#ifndef RELATED_SERVER_SERVICE_METRICS_H_
#define RELATED_SERVER_SERVICE_METRICS_H_

#include <grpcpp/support/status.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "server/core/article_index.h"

namespace related {

class ServiceMetrics {
 public:
  // `index_kind` and the build version go into related_build_info.
  explicit ServiceMetrics(absl::string_view index_kind);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void RecordRequest(const std::string& method, grpc::StatusCode code,
                     absl::Duration latency);
  void RecordWrites(int64_t upserted, int64_t deleted);
  void SetIndexStats(const IndexStats& stats);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Gauge& articles_;
  prometheus::Gauge& memory_bytes_;
  prometheus::Counter& upserted_;
  prometheus::Counter& deleted_;
};

// Times one RPC from construction and records it when Finish is called:
//   RequestRecorder recorder(metrics, "GetRelated");
//   ...
//   return recorder.Finish(status);
class RequestRecorder {
 public:
  RequestRecorder(ServiceMetrics& metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(absl::Now()) {}

  grpc::Status Finish(grpc::Status status) {
    metrics_.RecordRequest(method_, status.error_code(), absl::Now() - start_);
    return status;
  }

 private:
  ServiceMetrics& metrics_;
  std::string method_;
  absl::Time start_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_METRICS_H_
