// The HTTP endpoint Prometheus scrapes (/metrics), on its own port.
//
// A thin owner of prometheus-cpp's Exposer whose only addition is a quick
// stop: the Exposer's web server (civetweb) stops by waiting for its accept
// thread to notice a flag, and that thread looks only between polls of the
// listening socket, which time out every 2 s. Every server stop (each pod
// termination, each test) would wait up to that long for nothing.
#ifndef RELATED_SERVER_SERVICE_METRICS_ENDPOINT_H_
#define RELATED_SERVER_SERVICE_METRICS_ENDPOINT_H_

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace related {

class MetricsEndpoint {
 public:
  // Serves `registry` on `address` ("host:port", port 0 for any free one).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address,
      const std::shared_ptr<prometheus::Registry>& registry);

  // Stops serving, waking the accept thread with connections to the port
  // instead of waiting for its poll to time out.
  ~MetricsEndpoint();

  // "host:port" with the port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsEndpoint() = default;

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_METRICS_ENDPOINT_H_
