#include "server/service/metrics_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace related {
namespace {

// Where a local connection reaches a server listening on `address`
// (the loopback address for a wildcard host), if it is an IP literal.
std::optional<sockaddr_storage> LocalPeer(absl::string_view address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port <= 0) {
    return std::nullopt;
  }
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0" || host == "localhost")
    host = "127.0.0.1";
  if (host == "::") host = "::1";
  sockaddr_storage peer{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&peer);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&peer);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    return std::nullopt;  // a host name: no knocking, the stop just waits
  }
  return peer;
}

// Opens and closes one connection: enough to end the accept thread's poll.
void Knock(const sockaddr_storage& peer) {
  const int fd = socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const socklen_t size =
      peer.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  (void)connect(fd, reinterpret_cast<const sockaddr*>(&peer), size);
  close(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& address,
    const std::shared_ptr<prometheus::Registry>& registry) {
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  try {
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  endpoint->exposer_->RegisterCollectable(registry);
  const std::vector<int> ports = endpoint->exposer_->GetListeningPorts();
  endpoint->address_ = absl::StrCat(address.substr(0, address.rfind(':')), ":",
                                    ports.empty() ? 0 : ports.front());
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() {
  const std::optional<sockaddr_storage> peer = LocalPeer(address_);
  std::atomic<bool> stopped{false};
  std::thread knocker;
  if (peer.has_value()) {
    // The stop flag is set inside the Exposer's destructor, so knock until
    // that has returned; a knock before the flag is set only costs a poll.
    knocker = std::thread([&] {
      while (!stopped.load()) {
        Knock(*peer);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  exposer_.reset();
  stopped.store(true);
  if (knocker.joinable()) knocker.join();
}

}  // namespace related
