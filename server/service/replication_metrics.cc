#include "server/service/replication_metrics.h"

#include <algorithm>

namespace related {
namespace {

prometheus::Gauge& Gauge(prometheus::Registry& registry, const char* name,
                         const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add(
      {});
}

prometheus::Histogram& Histogram(prometheus::Registry& registry,
                                 const char* name, const char* help) {
  // From a loopback acknowledgement (under a millisecond) to a failover
  // (seconds).
  return prometheus::BuildHistogram()
      .Name(name)
      .Help(help)
      .Register(registry)
      .Add({}, prometheus::Histogram::BucketBoundaries{
                   0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1, 2.5, 5, 10});
}

}  // namespace

ReplicationMetrics::ReplicationMetrics(prometheus::Registry& registry)
    : applied_sequence_(Gauge(registry, "related_replication_applied_sequence",
                              "The last stream entry this replica applied.")),
      stream_sequence_(Gauge(registry, "related_replication_stream_sequence",
                             "The stream's last entry, as last seen.")),
      lag_messages_(Gauge(registry, "related_replication_lag_messages",
                          "Stream entries this replica has not applied yet.")),
      lag_seconds_(Gauge(registry, "related_replication_lag_seconds",
                         "How long the last applied entry took from being "
                         "stored in the stream to being applied here.")),
      replication_delay_seconds_(Histogram(
          registry, "related_replication_delay_seconds",
          "Per entry: from stored in the stream to applied here.")),
      apply_seconds_(Histogram(registry, "related_replication_apply_seconds",
                               "Per entry: the time to apply it here.")),
      publish_seconds_(Histogram(
          registry, "related_replication_publish_seconds",
          "Per publish: the time until JetStream acknowledged it (or "
          "failed).")),
      publishes_(prometheus::BuildCounter()
                     .Name("related_replication_publishes_total")
                     .Help("Publishes to the stream, by result.")
                     .Register(registry)),
      publishes_ok_(publishes_.Add({{"result", "acknowledged"}})),
      publishes_failed_(publishes_.Add({{"result", "failed"}})),
      connected_(Gauge(registry, "related_replication_nats_connected",
                       "1 while connected to NATS, 0 otherwise.")) {}

void ReplicationMetrics::Started(uint64_t applied, uint64_t head) {
  applied_sequence_.Set(static_cast<double>(applied));
  stream_sequence_.Set(static_cast<double>(head));
  lag_messages_.Set(static_cast<double>(head - std::min(head, applied)));
}

void ReplicationMetrics::Applied(uint64_t sequence, uint64_t head,
                                 absl::Duration lag, absl::Duration apply) {
  applied_sequence_.Set(static_cast<double>(sequence));
  stream_sequence_.Set(static_cast<double>(head));
  lag_messages_.Set(static_cast<double>(head - std::min(head, sequence)));
  lag_seconds_.Set(absl::ToDoubleSeconds(lag));
  replication_delay_seconds_.Observe(absl::ToDoubleSeconds(lag));
  apply_seconds_.Observe(absl::ToDoubleSeconds(apply));
}

void ReplicationMetrics::Published(absl::Duration latency, bool acknowledged) {
  publish_seconds_.Observe(absl::ToDoubleSeconds(latency));
  (acknowledged ? publishes_ok_ : publishes_failed_).Increment();
}

void ReplicationMetrics::Connected(bool connected) {
  connected_.Set(connected ? 1 : 0);
}

}  // namespace related
