// Authorizer: bearer-token checks for the RelatedArticles RPCs. The tokens
// come from the operator (a file or an environment variable, typically a
// Kubernetes Secret); a call presents one as `authorization: Bearer <token>`
// metadata. Tokens are held only as SHA-256 digests and never logged.
#ifndef RELATED_SERVER_SERVICE_AUTH_H_
#define RELATED_SERVER_SERVICE_AUTH_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <array>
#include <optional>
#include <string>

namespace related {

// What a call needs: reads (lookups, GetArticle, GetStats) or writes
// (upsert, import, delete).
enum class Access { kRead, kWrite };

struct AuthOptions {
  // Empty: that kind of call is open to everyone. The write token is also
  // accepted for reads.
  std::string write_token;
  std::string read_token;
};

class Authorizer {
 public:
  explicit Authorizer(const AuthOptions& options);

  // nullopt if the call may go ahead; otherwise UNAUTHENTICATED (no bearer
  // token sent) or PERMISSION_DENIED (a token that does not grant `access`).
  // The messages never echo the token.
  std::optional<grpc::Status> Check(const grpc::ServerContextBase& context,
                                    Access access) const;

  bool protects_reads() const { return read_digest_.has_value(); }
  bool protects_writes() const { return write_digest_.has_value(); }

 private:
  using Digest = std::array<unsigned char, 32>;  // SHA-256

  std::optional<Digest> write_digest_;
  std::optional<Digest> read_digest_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_AUTH_H_
