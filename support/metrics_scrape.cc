#include "support/metrics_scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace related::testing {
namespace {

absl::StatusOr<sockaddr_in> LoopbackAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  sockaddr_in out = {};
  out.sin_family = AF_INET;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(), &out.sin_addr) !=
          1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 host:port: ", address));
  }
  out.sin_port = htons(static_cast<uint16_t>(port));
  return out;
}

}  // namespace

absl::StatusOr<std::string> ScrapeMetrics(const std::string& address) {
  auto target = LoopbackAddress(address);
  if (!target.ok()) return target.status();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  std::string response;
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
  if (connect(fd, reinterpret_cast<const sockaddr*>(&*target),
              sizeof(*target)) == 0 &&
      send(fd, request.data(), request.size(), 0) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[8192];
    for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) {
      response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (!absl::StartsWith(response, "HTTP/1.") ||
      response.find(" 200 ") == std::string::npos ||
      body == std::string::npos) {
    return absl::UnavailableError(
        absl::StrCat("no metrics from http://", address, "/metrics"));
  }
  return response.substr(body + 4);
}

std::optional<double> MetricValue(absl::string_view exposition,
                                  absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::ConsumePrefix(&line, name) || !absl::ConsumePrefix(&line, " ")) {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return std::nullopt;
}

}  // namespace related::testing
