// StorageMetrics: the data directory's Prometheus metrics, fed by the
// store as it works (storage::StoreObserver): recovery, snapshots, the
// write-ahead log's syncs and size, write failures.
#ifndef RELATED_SERVER_SERVICE_STORAGE_METRICS_H_
#define RELATED_SERVER_SERVICE_STORAGE_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "server/core/storage/article_store.h"

namespace related {

class StorageMetrics final : public storage::StoreObserver {
 public:
  // Registers the series in `registry`, which must outlive this.
  explicit StorageMetrics(prometheus::Registry& registry);

  void Recovered(const storage::RecoveryReport& report) override;
  void SnapshotTaken(int64_t size, absl::Duration duration) override;
  void SnapshotFailed() override;
  void LogSynced(absl::Duration latency) override;
  void LogBytesSinceSnapshot(int64_t bytes) override;
  void WriteFailed(absl::StatusCode cause) override;

 private:
  prometheus::Gauge& recovery_seconds_;
  prometheus::Family<prometheus::Gauge>& parts_loaded_;
  prometheus::Gauge& graph_loaded_;
  prometheus::Gauge& lists_loaded_;
  prometheus::Gauge& log_records_replayed_;
  prometheus::Gauge& last_snapshot_timestamp_;
  prometheus::Gauge& snapshot_bytes_;
  prometheus::Gauge& snapshot_seconds_;
  prometheus::Family<prometheus::Counter>& snapshots_;
  prometheus::Counter& snapshots_ok_;
  prometheus::Counter& snapshots_failed_;
  prometheus::Histogram& fsync_seconds_;
  prometheus::Gauge& log_bytes_since_snapshot_;
  prometheus::Family<prometheus::Counter>& write_failures_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_STORAGE_METRICS_H_
