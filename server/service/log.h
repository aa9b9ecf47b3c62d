// The server's log: one line per event on stderr, as text
// ("related-server: message key=value") or, with --log_format=json, as one
// JSON object per line ({"time", "level", "message", and the fields}) for
// log collectors. JSON is written with nlohmann/json (Debian
// nlohmann-json3-dev), which escapes whatever a message or field holds.
// Tokens are never passed here.
#ifndef RELATED_SERVER_SERVICE_LOG_H_
#define RELATED_SERVER_SERVICE_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace related {

enum class LogFormat { kText, kJson };
enum class LogLevel { kInfo, kWarning, kError };

// Parses "text" or "json"; false otherwise.
bool ParseLogFormat(absl::string_view text, LogFormat* format);
// Set once at start, before other threads log (text until then).
void SetLogFormat(LogFormat format);

using LogFields = std::vector<std::pair<std::string, std::string>>;
// Writes one line; lines from several threads never interleave.
void LogLine(LogLevel level, absl::string_view message,
             const LogFields& fields = {});
inline void LogInfo(absl::string_view message) {
  LogLine(LogLevel::kInfo, message);
}

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_LOG_H_
