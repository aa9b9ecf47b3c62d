// How related-server learns that it should stop: SIGTERM (Kubernetes, at
// the start of a pod's termination grace period) or SIGINT (Ctrl-C).
#ifndef RELATED_SERVER_STOP_SIGNALS_H_
#define RELATED_SERVER_STOP_SIGNALS_H_

#include "absl/status/status.h"

namespace related {

// Routes SIGTERM and SIGINT to WaitForStopSignal. Call once, before any
// thread that could receive the signal starts serving. Fails (e.g. out of
// file descriptors) with the message "pipe: <reason>".
absl::Status InstallStopHandlers();

// Blocks until SIGTERM or SIGINT arrives after InstallStopHandlers (or has
// arrived since), and returns which.
int WaitForStopSignal();

}  // namespace related

#endif  // RELATED_SERVER_STOP_SIGNALS_H_
