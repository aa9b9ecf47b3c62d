// ReplicationMetrics: replicated mode's Prometheus metrics, fed by the
// replication layer (replication::ReplicationObserver): how far this
// replica has applied the stream and how far behind its head it is, how
// long publishes and applies take, and whether NATS is connected.
#ifndef RELATED_SERVER_SERVICE_REPLICATION_METRICS_H_
#define RELATED_SERVER_SERVICE_REPLICATION_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "server/replication/replica.h"

namespace related {

class ReplicationMetrics final : public replication::ReplicationObserver {
 public:
  // Registers the series in `registry`, which must outlive this.
  explicit ReplicationMetrics(prometheus::Registry& registry);

  void Applied(uint64_t sequence, uint64_t head, absl::Duration lag,
               absl::Duration apply) override;
  void Published(absl::Duration latency, bool acknowledged) override;
  void Connected(bool connected) override;
  void Started(uint64_t applied, uint64_t head) override;

 private:
  prometheus::Gauge& applied_sequence_;
  prometheus::Gauge& stream_sequence_;
  prometheus::Gauge& lag_messages_;
  prometheus::Gauge& lag_seconds_;
  prometheus::Histogram& replication_delay_seconds_;
  prometheus::Histogram& apply_seconds_;
  prometheus::Histogram& publish_seconds_;
  prometheus::Family<prometheus::Counter>& publishes_;
  prometheus::Counter& publishes_ok_;
  prometheus::Counter& publishes_failed_;
  prometheus::Gauge& connected_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_REPLICATION_METRICS_H_
