#include "common/token_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace related {
namespace {

// `echo token > file` and editors leave one newline (or CRLF) at the end; it
// is not part of the token.
std::string WithoutTrailingNewline(std::string text) {
  if (absl::EndsWith(text, "\n")) text.pop_back();
  if (absl::EndsWith(text, "\r")) text.pop_back();
  return text;
}

}  // namespace

absl::StatusOr<std::string> LoadToken(const std::string& file,
                                      const char* env_var) {
  if (file.empty()) {
    const char* from_env = std::getenv(env_var);
    if (from_env == nullptr) return std::string();
    // An environment variable filled from a Secret created from a file
    // carries that file's newline too.
    return WithoutTrailingNewline(from_env);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read token file ", file, ": ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string token = WithoutTrailingNewline(content.str());
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", file, " is empty"));
  }
  return token;
}

}  // namespace related
