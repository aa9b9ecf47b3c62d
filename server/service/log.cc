#include "server/service/log.h"

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace related {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string TextLine(absl::string_view message, const LogFields& fields) {
  std::string line = absl::StrCat("related-server: ", message);
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, " ", key, "=", value);
  }
  return line;
}

std::string JsonLine(LogLevel level, absl::string_view message,
                     const LogFields& fields) {
  nlohmann::ordered_json line;
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                  absl::UTCTimeZone());
  line["level"] = LevelName(level);
  line["message"] = std::string(message);
  for (const auto& [key, value] : fields) line[key] = value;
  // Invalid UTF-8 (an article ID is checked, but not every message is) is
  // replaced rather than thrown on.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

bool ParseLogFormat(absl::string_view text, LogFormat* format) {
  if (text == "text") {
    *format = LogFormat::kText;
  } else if (text == "json") {
    *format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

void SetLogFormat(LogFormat format) { g_format.store(format); }

void LogLine(LogLevel level, absl::string_view message,
             const LogFields& fields) {
  std::string line = g_format.load() == LogFormat::kJson
                         ? JsonLine(level, message, fields)
                         : TextLine(message, fields);
  line.push_back('\n');
  // One write per line: stdio locks the stream for each call.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace related
