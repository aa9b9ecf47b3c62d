#include "server/tls_files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace related {
namespace {

constexpr char kCertificateMarker[] = "-----BEGIN CERTIFICATE";
// "PRIVATE KEY-----" ends PKCS#8, RSA and EC key headers alike.
constexpr char kPrivateKeyMarker[] = "PRIVATE KEY-----";

// The content of the PEM file `path` given to --`flag`, checked to contain
// `marker` (a `description` in the error if not).
absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path,
                                    const char* marker,
                                    const char* description) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (!absl::StrContains(content.str(), marker)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", path, " holds no PEM ", description));
  }
  return content.str();
}

}  // namespace

absl::StatusOr<std::optional<TlsOptions>> LoadTlsFiles(
    const TlsFilePaths& paths) {
  if (paths.cert_file.empty() && paths.key_file.empty()) {
    if (!paths.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
    }
    return std::nullopt;
  }
  if (paths.cert_file.empty() || paths.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file must be given together");
  }
  TlsOptions tls;
  auto cert = ReadPem("tls_cert_file", paths.cert_file, kCertificateMarker,
                      "certificate");
  if (!cert.ok()) return cert.status();
  tls.cert_chain = *std::move(cert);
  auto key =
      ReadPem("tls_key_file", paths.key_file, kPrivateKeyMarker, "private key");
  if (!key.ok()) return key.status();
  tls.private_key = *std::move(key);
  if (!paths.client_ca_file.empty()) {
    auto ca = ReadPem("tls_client_ca_file", paths.client_ca_file,
                      kCertificateMarker, "certificate");
    if (!ca.ok()) return ca.status();
    tls.client_ca = *std::move(ca);
  }
  return tls;
}

}  // namespace related
