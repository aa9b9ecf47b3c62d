#include "server/service/storage_metrics.h"

#include "absl/time/clock.h"

namespace related {
namespace {

prometheus::Gauge& Gauge(prometheus::Registry& registry, const char* name,
                         const char* help,
                         const prometheus::Labels& labels = {}) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add(
      labels);
}

// fdatasync takes from tens of microseconds (page cache, battery-backed
// controller) to seconds (a saturated or failing disk).
prometheus::Histogram::BucketBoundaries SyncBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
}

}  // namespace

StorageMetrics::StorageMetrics(prometheus::Registry& registry)
    : recovery_seconds_(
          Gauge(registry, "related_recovery_duration_seconds",
                "How long the last start took to recover the data directory.")),
      parts_loaded_(prometheus::BuildGauge()
                        .Name("related_recovery_part_loaded")
                        .Help("1 if the last recovery loaded this part from "
                              "the snapshot, 0 if it rebuilt it from the "
                              "articles.")
                        .Register(registry)),
      graph_loaded_(parts_loaded_.Add({{"part", "graph"}})),
      lists_loaded_(parts_loaded_.Add({{"part", "lists"}})),
      log_records_replayed_(
          Gauge(registry, "related_recovery_log_records",
                "Write-ahead log records the last recovery replayed after the "
                "snapshot.")),
      last_snapshot_timestamp_(
          Gauge(registry, "related_snapshot_last_success_timestamp_seconds",
                "When the newest snapshot was written (Unix time); 0 if "
                "none since the start.")),
      snapshot_bytes_(Gauge(registry, "related_snapshot_size_bytes",
                            "Size of the newest snapshot.")),
      snapshot_seconds_(Gauge(registry, "related_snapshot_duration_seconds",
                              "How long the newest snapshot took to write.")),
      snapshots_(prometheus::BuildCounter()
                     .Name("related_snapshots_total")
                     .Help("Snapshots attempted, by result.")
                     .Register(registry)),
      snapshots_ok_(snapshots_.Add({{"result", "ok"}})),
      snapshots_failed_(snapshots_.Add({{"result", "failed"}})),
      fsync_seconds_(prometheus::BuildHistogram()
                         .Name("related_wal_fsync_duration_seconds")
                         .Help("Time of each fdatasync of the write-ahead log.")
                         .Register(registry)
                         .Add({}, SyncBuckets())),
      log_bytes_since_snapshot_(Gauge(
          registry, "related_wal_bytes_since_snapshot",
          "Bytes of the write-ahead log that the newest snapshot does not "
          "hold (what a restart replays).")),
      write_failures_(prometheus::BuildCounter()
                          .Name("related_write_failures_total")
                          .Help("Writes that could not be made durable, by "
                                "cause (disk_full, io_error, other).")
                          .Register(registry)) {
  // Every cause from the start, at 0: an alert on its rate then sees the
  // first failure.
  for (const char* cause : {"disk_full", "io_error", "other"}) {
    write_failures_.Add({{"cause", cause}});
  }
}

void StorageMetrics::Recovered(const storage::RecoveryReport& report) {
  recovery_seconds_.Set(absl::ToDoubleSeconds(report.duration));
  graph_loaded_.Set(report.graph_loaded ? 1 : 0);
  lists_loaded_.Set(report.lists_loaded ? 1 : 0);
  log_records_replayed_.Set(static_cast<double>(report.wal_records));
}

void StorageMetrics::SnapshotTaken(int64_t size, absl::Duration duration) {
  last_snapshot_timestamp_.Set(
      absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  snapshot_bytes_.Set(static_cast<double>(size));
  snapshot_seconds_.Set(absl::ToDoubleSeconds(duration));
  snapshots_ok_.Increment();
}

void StorageMetrics::SnapshotFailed() { snapshots_failed_.Increment(); }

void StorageMetrics::LogSynced(absl::Duration latency) {
  fsync_seconds_.Observe(absl::ToDoubleSeconds(latency));
}

void StorageMetrics::LogBytesSinceSnapshot(int64_t bytes) {
  log_bytes_since_snapshot_.Set(static_cast<double>(bytes));
}

void StorageMetrics::WriteFailed(absl::StatusCode cause) {
  const char* name = cause == absl::StatusCode::kResourceExhausted ? "disk_full"
                     : cause == absl::StatusCode::kUnavailable     ? "io_error"
                                                                   : "other";
  write_failures_.Add({{"cause", name}}).Increment();
}

}  // namespace related
