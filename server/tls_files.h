// The PEM files of related-server's TLS flags, read and checked at start-up
// so that a missing, swapped or truncated file is one clear error line rather
// than a failed handshake later.
#ifndef RELATED_SERVER_TLS_FILES_H_
#define RELATED_SERVER_TLS_FILES_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/service/server.h"

namespace related {

// Paths as given on the command line; "" means the flag was not set.
struct TlsFilePaths {
  std::string cert_file;       // --tls_cert_file: PEM certificate chain
  std::string key_file;        // --tls_key_file: its PEM private key
  std::string client_ca_file;  // --tls_client_ca_file: CAs for mutual TLS
};

// nullopt (plaintext gRPC) when neither certificate nor key is given;
// otherwise the files' content. INVALID_ARGUMENT, with a message naming the
// flag, when only one of certificate and key is given, a client CA comes
// without them, a file cannot be read, or a file holds no PEM block of the
// kind its flag expects.
absl::StatusOr<std::optional<TlsOptions>> LoadTlsFiles(
    const TlsFilePaths& paths);

}  // namespace related

#endif  // RELATED_SERVER_TLS_FILES_H_
