#include "server/service/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace related {
namespace {

constexpr char kBearerPrefix[] = "Bearer ";

using Sha256Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;
static_assert(sizeof(Sha256Digest) == 32, "Authorizer::Digest holds SHA-256");

Sha256Digest Sha256(absl::string_view text) {
  Sha256Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest.data());
  return digest;
}

}  // namespace

Authorizer::Authorizer(const AuthOptions& options) {
  if (!options.write_token.empty()) {
    write_digest_ = Sha256(options.write_token);
  }
  if (!options.read_token.empty()) {
    read_digest_ = Sha256(options.read_token);
  }
}

std::optional<grpc::Status> Authorizer::Check(
    const grpc::ServerContextBase& context, Access access) const {
  const std::optional<Digest>& required =
      access == Access::kWrite ? write_digest_ : read_digest_;
  if (!required.has_value()) return std::nullopt;

  const auto& metadata = context.client_metadata();
  const auto header = metadata.find("authorization");
  const absl::string_view value =
      header == metadata.end()
          ? absl::string_view()
          : absl::string_view(header->second.data(), header->second.size());
  // The scheme name is case-insensitive (RFC 6750 via RFC 7235).
  if (!absl::StartsWithIgnoreCase(value, kBearerPrefix) ||
      value.size() == sizeof(kBearerPrefix) - 1) {
    return grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        "this call needs 'authorization: Bearer <token>' metadata");
  }
  // Compare digests, not the tokens: both sides are then 32 bytes whatever
  // the token's length, and CRYPTO_memcmp takes the same time wherever they
  // differ, so neither timing nor length tells a caller how close a guess
  // was. (OpenSSL is already there: gRPC's TLS uses it.)
  const Sha256Digest presented =
      Sha256(value.substr(sizeof(kBearerPrefix) - 1));
  bool granted =
      CRYPTO_memcmp(presented.data(), required->data(), presented.size()) == 0;
  if (access == Access::kRead && write_digest_.has_value()) {
    // Evaluated whether or not the read token matched, so the write token's
    // check costs the same either way.
    const bool write_granted =
        CRYPTO_memcmp(presented.data(), write_digest_->data(),
                      presented.size()) == 0;
    granted = granted || write_granted;
  }
  if (!granted) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        access == Access::kWrite
                            ? "the bearer token does not allow writes"
                            : "the bearer token does not allow reads");
  }
  return std::nullopt;
}

}  // namespace related
