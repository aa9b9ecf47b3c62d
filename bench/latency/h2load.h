// The independent cross-check: h2load (Debian's nghttp2-client) sends the
// same gRPC calls as raw HTTP/2 requests, so one figure of the project's own
// load generator can be compared with a tool that shares none of its code.
#ifndef RELATED_BENCH_LATENCY_H2LOAD_H_
#define RELATED_BENCH_LATENCY_H2LOAD_H_

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace related::bench {

struct H2loadResult {
  double requests_per_second = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  double mean_request_us = 0;  // h2load's "time for request" mean
};

// Writes a gRPC request body: the 5-byte length-prefixed message framing
// (no compression) around `message` (serialized protobuf).
inline bool WriteGrpcBody(const std::string& path, const std::string& message) {
  std::ofstream out(path, std::ios::binary);
  const uint32_t size = static_cast<uint32_t>(message.size());
  const char prefix[5] = {
      0, static_cast<char>(size >> 24), static_cast<char>(size >> 16),
      static_cast<char>(size >> 8), static_cast<char>(size)};
  out.write(prefix, 5);
  out.write(message.data(), static_cast<std::streamsize>(message.size()));
  return static_cast<bool>(out);
}

// Parses h2load's value with a unit ("95us", "1.2ms", "0s").
inline double MicrosFrom(absl::string_view text) {
  double scale = 1;  // "us", or no unit
  if (absl::ConsumeSuffix(&text, "ms")) {
    scale = 1e3;
  } else if (!absl::ConsumeSuffix(&text, "us") &&
             absl::ConsumeSuffix(&text, "s")) {
    scale = 1e6;
  }
  double value = 0;
  return absl::SimpleAtod(text, &value) ? value * scale : -1;
}

// Runs h2load against `address` (host:port) on one connection with
// `streams` concurrent streams for `seconds`, POSTing `body_path` to
// `method` ("/related.v1.RelatedArticles/Ping"). nullopt if h2load is
// missing or its output cannot be read.
inline std::optional<H2loadResult> RunH2load(const std::string& address,
                                             const std::string& method,
                                             const std::string& body_path,
                                             int streams, int seconds) {
  const std::string command = absl::StrCat(
      "h2load -c 1 -m ", streams, " -t 1 -D ", seconds,
      " --warm-up-time=1 -H 'content-type: application/grpc' -H 'te: "
      "trailers' -d ",
      body_path, " http://", address, method, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe))
    output.append(buffer, n);
  if (pclose(pipe) != 0) return std::nullopt;

  H2loadResult result;
  bool have_rate = false, have_requests = false;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    std::vector<absl::string_view> words =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    // "finished in 5.00s, 12345.60 req/s, 1.2MB/s"
    if (words.size() >= 5 && words[0] == "finished" && words[4] == "req/s,") {
      have_rate = absl::SimpleAtod(words[3], &result.requests_per_second);
    }
    // "requests: 100 total, 100 started, 100 done, 99 succeeded, 1 failed, ..."
    if (words.size() >= 11 && words[0] == "requests:") {
      have_requests = absl::SimpleAtoi(words[7], &result.succeeded) &&
                      absl::SimpleAtoi(words[9], &result.failed);
    }
    // "time for request:  80us  2.1ms  95us  20us  90.00%"
    if (words.size() >= 6 && words[0] == "time" && words[2] == "request:") {
      result.mean_request_us = MicrosFrom(words[5]);
    }
  }
  if (!have_rate || !have_requests) {
    std::fprintf(stderr, "h2load output not understood:\n%s\n", output.c_str());
    return std::nullopt;
  }
  return result;
}

}  // namespace related::bench

#endif  // RELATED_BENCH_LATENCY_H2LOAD_H_
