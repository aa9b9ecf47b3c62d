// Reads a server's Prometheus endpoint, for tests and benchmarks: the
// figures that are metrics, not API (card layout, say), come from here.
#ifndef RELATED_SUPPORT_METRICS_SCRAPE_H_
#define RELATED_SUPPORT_METRICS_SCRAPE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace related::testing {

// The body of GET /metrics from `address` ("127.0.0.1:PORT"), over plain
// HTTP/1.0. Fails if the connection or the response is not what a
// Prometheus endpoint gives.
absl::StatusOr<std::string> ScrapeMetrics(const std::string& address);

// The value of the sample `name` without labels in `exposition` (Prometheus
// text format), or nullopt if there is none.
std::optional<double> MetricValue(absl::string_view exposition,
                                  absl::string_view name);

}  // namespace related::testing

#endif  // RELATED_SUPPORT_METRICS_SCRAPE_H_
