#include "server/stop_signals.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace related {
namespace {

// Written by the signal handler, read by the thread that shuts down. A pipe
// because a signal handler may do almost nothing else safely, and because
// some library threads (civetweb's) unblock signals, so the signal can land
// on any thread.
int stop_pipe[2] = {-1, -1};

void OnStopSignal(int signal) {
  const char byte = static_cast<char>(signal);
  [[maybe_unused]] ssize_t ignored = write(stop_pipe[1], &byte, 1);
}

}  // namespace

absl::Status InstallStopHandlers() {
  if (pipe(stop_pipe) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  return absl::OkStatus();
}

int WaitForStopSignal() {
  char signal = 0;
  while (read(stop_pipe[0], &signal, 1) < 0 && errno == EINTR) {
  }
  return signal;
}

}  // namespace related
