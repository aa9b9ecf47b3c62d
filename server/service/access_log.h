// The access log: one line (log.h) for a sampled share of RPCs, with the
// method, status code, duration, the caller's address and the article ID
// the call was about. Off unless --access_log_sample is above 0: at tens of
// thousands of calls a second, a line per call would cost more than the
// call. Never logs request bodies or tokens.
#ifndef RELATED_SERVER_SERVICE_ACCESS_LOG_H_
#define RELATED_SERVER_SERVICE_ACCESS_LOG_H_

#include <grpcpp/support/status.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace related {

class AccessLog {
 public:
  // The share of calls logged, in [0, 1]; set once at start.
  static void SetSample(double share);
  // Whether this call is one of the sample (cheap when the log is off).
  static bool Sampled();
  static void Write(absl::string_view method, const grpc::Status& status,
                    absl::Duration latency, absl::string_view peer,
                    absl::string_view article_id);
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_ACCESS_LOG_H_
