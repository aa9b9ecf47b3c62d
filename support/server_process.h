// Starts the real related-server binary on 127.0.0.1 with OS-chosen ports,
// for integration tests and benchmarks. Readiness is the server's own
// "listening" line plus the health check, never a sleep.
#ifndef RELATED_SUPPORT_SERVER_PROCESS_H_
#define RELATED_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace related::testing {

class ServerProcess {
 public:
  // Starts `binary` with `--grpc_address=127.0.0.1:0
  // --metrics_address=127.0.0.1:0` plus `extra_flags`, and waits (at most
  // `timeout`) for its listening line. Fails if it exits first.
  static absl::StatusOr<ServerProcess> Start(
      const std::string& binary, const std::vector<std::string>& extra_flags,
      absl::Duration timeout = absl::Seconds(20));

  // Runs `binary` with exactly `flags` until it exits (at most `timeout`,
  // then it is killed); returns its exit code and everything it wrote to
  // stderr.
  struct Exit {
    int code;
    std::string stderr_text;
  };
  static absl::StatusOr<Exit> RunToExit(
      const std::string& binary, const std::vector<std::string>& flags,
      absl::Duration timeout = absl::Seconds(20));

  ServerProcess(ServerProcess&& other) noexcept;
  ServerProcess& operator=(ServerProcess&&) = delete;
  ~ServerProcess();  // SIGKILLs a server still running

  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  // Empty unless started with --health_address.
  const std::string& health_address() const { return health_address_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits (at most `timeout`) for the exit; returns the
  // exit code (128 + signal number if killed by a signal).
  absl::StatusOr<int> StopWith(int signal,
                               absl::Duration timeout = absl::Seconds(30));
  // Everything the server wrote to stderr so far (read after it exits).
  std::string DrainStderr();

 private:
  ServerProcess() = default;

  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::string stderr_text_;
  std::string grpc_address_;
  std::string metrics_address_;
  std::string health_address_;
};

// The path of the related-server binary under test (from the build).
std::string ServerBinary();

}  // namespace related::testing

#endif  // RELATED_SUPPORT_SERVER_PROCESS_H_
