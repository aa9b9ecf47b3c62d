#include "support/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace related::testing {
namespace {

pid_t Spawn(const std::string& binary, const std::vector<std::string>& flags,
            int* stderr_fd) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const std::string& flag : flags)
      argv.push_back(const_cast<char*>(flag.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  *stderr_fd = pipe_fds[0];
  return pid;
}

// Appends what is readable on `fd` within `wait` to `out`; false on EOF.
bool ReadSome(int fd, absl::Duration wait, std::string& out) {
  pollfd p = {fd, POLLIN, 0};
  const int ready =
      poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait)));
  if (ready <= 0) return true;
  char buffer[4096];
  const ssize_t n = read(fd, buffer, sizeof buffer);
  if (n <= 0) return n < 0 && errno == EINTR;
  out.append(buffer, static_cast<size_t>(n));
  return true;
}

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

absl::StatusOr<int> WaitForExit(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int wait_status = 0;
    const pid_t done = waitpid(pid, &wait_status, WNOHANG);
    if (done == pid) return ExitCode(wait_status);
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &wait_status, 0);
      return absl::DeadlineExceededError(
          "process did not exit in time; killed");
    }
    // Polling a child's exit has no blocking-with-timeout primitive short
    // of signalfd; a short pause between checks is bounded by the deadline.
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace

std::string ServerBinary() {
  const char* path = std::getenv("RELATED_SERVER_BINARY");
  return path != nullptr ? path : RELATED_SERVER_BINARY_DEFAULT;
}

absl::StatusOr<ServerProcess> ServerProcess::Start(
    const std::string& binary, const std::vector<std::string>& extra_flags,
    absl::Duration timeout) {
  std::vector<std::string> flags = {"--grpc_address=127.0.0.1:0",
                                    "--metrics_address=127.0.0.1:0"};
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  ServerProcess process;
  process.pid_ = Spawn(binary, flags, &process.stderr_fd_);
  if (process.pid_ < 0) return absl::InternalError("cannot start " + binary);
  static const std::regex kListening(
      R"(listening grpc=(\S+) metrics=(\S+)( health=(\S+))?\n)");
  const absl::Time deadline = absl::Now() + timeout;
  std::smatch match;
  while (!std::regex_search(process.stderr_text_, match, kListening)) {
    if (absl::Now() > deadline ||
        !ReadSome(process.stderr_fd_, absl::Milliseconds(200),
                  process.stderr_text_)) {
      return absl::UnavailableError(absl::StrCat(
          "server did not report listening; stderr: ", process.stderr_text_));
    }
  }
  process.grpc_address_ = match[1];
  process.metrics_address_ = match[2];
  process.health_address_ = match[4];
  return process;
}

absl::StatusOr<ServerProcess::Exit> ServerProcess::RunToExit(
    const std::string& binary, const std::vector<std::string>& flags,
    absl::Duration timeout) {
  int fd = -1;
  const pid_t pid = Spawn(binary, flags, &fd);
  if (pid < 0) return absl::InternalError("cannot start " + binary);
  std::string text;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline &&
         ReadSome(fd, absl::Milliseconds(100), text)) {
  }
  close(fd);
  auto code = WaitForExit(pid, deadline - absl::Now() + absl::Seconds(1));
  if (!code.ok()) return code.status();
  return Exit{*code, text};
}

ServerProcess::ServerProcess(ServerProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      stderr_text_(std::move(other.stderr_text_)),
      grpc_address_(std::move(other.grpc_address_)),
      metrics_address_(std::move(other.metrics_address_)),
      health_address_(std::move(other.health_address_)) {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int wait_status;
    waitpid(pid_, &wait_status, 0);
  }
  if (stderr_fd_ >= 0) close(stderr_fd_);
}

absl::StatusOr<int> ServerProcess::StopWith(int signal,
                                            absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, signal);
  auto code = WaitForExit(pid_, timeout);
  pid_ = -1;
  return code;
}

std::string ServerProcess::DrainStderr() {
  while (stderr_fd_ >= 0 &&
         ReadSome(stderr_fd_, absl::Milliseconds(50), stderr_text_)) {
    if (pid_ > 0) break;  // still running: take what is there
  }
  return stderr_text_;
}

}  // namespace related::testing
