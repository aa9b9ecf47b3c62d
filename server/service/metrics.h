// The server's Prometheus metrics. Handlers record through RequestRecorder;
// index gauges are refreshed after every write.
#ifndef RELATED_SERVER_SERVICE_METRICS_H_
#define RELATED_SERVER_SERVICE_METRICS_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/core/article_index.h"
#include "server/service/access_log.h"

namespace related {

// One RPC method's series, resolved once: prometheus-cpp looks a series up
// by its labels under a lock shared by the whole family, which tens of
// thousands of calls a second would otherwise queue on.
class MethodMetrics {
 public:
  MethodMetrics(prometheus::Family<prometheus::Counter>& requests,
                prometheus::Family<prometheus::Histogram>& latency,
                const std::string& method);

  void Record(grpc::StatusCode code, absl::Duration latency);
  const std::string& method() const { return method_; }

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  const std::string method_;
  prometheus::Histogram& latency_;
  // The counter of each status code, added on its first use.
  std::array<std::atomic<prometheus::Counter*>, 17> by_code_{};
};

class ServiceMetrics {
 public:
  // `index_kind` and the build version go into related_build_info.
  explicit ServiceMetrics(absl::string_view index_kind);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // The series of RPC `method` ("GetRelated"); made on first use, then
  // kept for the server's life.
  MethodMetrics& Method(const std::string& method);
  void RecordWrites(int64_t upserted, int64_t deleted);
  // One GetRelated box, read from a precomputed list or searched.
  void RecordBox(bool precomputed);
  // One GetRelated box served from the BoxCache (a precomputed box too).
  void RecordCachedBox() {
    boxes_precomputed_.Increment();
    box_cache_hits_.Increment();
  }
  // A cached box of an older state generation checked against the index
  // after a write: still current (then served) or changed (encoded again).
  void RecordCacheCheck(bool current) {
    (current ? box_cache_current_ : box_cache_changed_).Increment();
  }
  // The index's gauges, read from `index` now (without the figures no
  // gauge shows, which cost a walk over every related list).
  void SetIndexStats(const ArticleIndex& index);
  // Text-only articles held for the server's first text model.
  void SetHeldTexts(int64_t held) {
    held_texts_.Set(static_cast<double>(held));
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Gauge& articles_;
  prometheus::Gauge& memory_bytes_;
  prometheus::Gauge& tombstone_ratio_;
  prometheus::Gauge& held_texts_;
  prometheus::Counter& compactions_;
  prometheus::Gauge& compaction_seconds_;
  prometheus::Gauge& compacting_;
  absl::Mutex compactions_mu_;
  int64_t compactions_seen_ ABSL_GUARDED_BY(compactions_mu_) = 0;
  prometheus::Gauge& cards_memory_bytes_;
  prometheus::Gauge& card_pages_per_box_;
  prometheus::Gauge& card_layout_seconds_;
  prometheus::Gauge& card_layout_pause_seconds_;
  prometheus::Counter& upserted_;
  prometheus::Counter& deleted_;
  prometheus::Family<prometheus::Counter>& boxes_;
  prometheus::Counter& boxes_precomputed_;
  prometheus::Counter& boxes_searched_;
  prometheus::Counter& box_cache_hits_;
  prometheus::Family<prometheus::Counter>& box_cache_checks_;
  prometheus::Counter& box_cache_current_;
  prometheus::Counter& box_cache_changed_;
  absl::Mutex methods_mu_;
  std::map<std::string, std::unique_ptr<MethodMetrics>> methods_
      ABSL_GUARDED_BY(methods_mu_);
};

// Times one RPC from construction and records it when Finish is called,
// in the metrics and, for a sampled share, in the access log:
//   RequestRecorder recorder(metrics_.Method("GetRelated"));
//   ...
//   return recorder.Finish(status, context);
class RequestRecorder {
 public:
  explicit RequestRecorder(MethodMetrics& method)
      : method_(method), start_(absl::Now()) {}

  // The article the call is about, for the access log. `id` must outlive
  // Finish (it is the request's).
  void set_article_id(absl::string_view id) { article_id_ = id; }

  grpc::Status Finish(grpc::Status status,
                      const grpc::ServerContextBase* context = nullptr) {
    const absl::Duration latency = absl::Now() - start_;
    method_.Record(status.error_code(), latency);
    if (AccessLog::Sampled()) {
      AccessLog::Write(method_.method(), status, latency,
                       context != nullptr ? context->peer() : "", article_id_);
    }
    return status;
  }

 private:
  MethodMetrics& method_;
  absl::Time start_;
  absl::string_view article_id_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_METRICS_H_
