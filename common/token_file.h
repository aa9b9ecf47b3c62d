// Reading a bearer token the way an operator hands one over: a file (in
// Kubernetes, a Secret mounted as a file) or an environment variable. The
// server reads its write and read tokens this way and related-cli the token
// it sends, so that a token file works the same for both.
#ifndef RELATED_COMMON_TOKEN_FILE_H_
#define RELATED_COMMON_TOKEN_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace related {

// The token an operator configured: the content of `file` if non-empty,
// else the environment variable `env_var`, else "" (no token). One trailing
// newline (or CRLF) is removed from either, as `echo` or a Kubernetes Secret
// created from a file leaves one. INVALID_ARGUMENT "cannot read token file
// <file>: <reason>" if the file cannot be read, "token file <file> is empty"
// if it holds no token; callers prefix the flag that named the file.
absl::StatusOr<std::string> LoadToken(const std::string& file,
                                      const char* env_var);

}  // namespace related

#endif  // RELATED_COMMON_TOKEN_FILE_H_
