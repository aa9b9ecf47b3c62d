#include "server/service/access_log.h"

#include <atomic>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "server/service/log.h"

namespace related {
namespace {

std::atomic<double> g_sample{0};

}  // namespace

void AccessLog::SetSample(double share) { g_sample.store(share); }

bool AccessLog::Sampled() {
  const double share = g_sample.load(std::memory_order_relaxed);
  if (share <= 0) return false;
  if (share >= 1) return true;
  thread_local std::minstd_rand random(std::random_device{}());
  return std::uniform_real_distribution<double>(0, 1)(random) < share;
}

void AccessLog::Write(absl::string_view method, const grpc::Status& status,
                      absl::Duration latency, absl::string_view peer,
                      absl::string_view article_id) {
  LogFields fields = {
      {"method", std::string(method)},
      {"code", absl::StatusCodeToString(
                   static_cast<absl::StatusCode>(status.error_code()))},
      {"duration_ms",
       absl::StrFormat("%.3f", absl::ToDoubleMilliseconds(latency))},
      {"peer", std::string(peer)}};
  if (!article_id.empty()) {
    fields.emplace_back("article_id", std::string(article_id));
  }
  LogLine(LogLevel::kInfo, "rpc", fields);
}

}  // namespace related
