// Which embedder model made the vectors in a data directory. Vectors of two
// models must never be compared (their spaces have nothing in common), so
// the model's identity is stored beside the data, in the file EMBEDDER,
// and a server started with another model, or with none, refuses to start
// on that data rather than mix them. Why refuse instead of re-embedding in
// the background: see docs/text.md.
#ifndef RELATED_SERVER_CORE_STORAGE_EMBEDDER_IDENTITY_H_
#define RELATED_SERVER_CORE_STORAGE_EMBEDDER_IDENTITY_H_

#include <string>

#include "absl/status/status.h"

namespace related::storage {

// `identity` is the model this server embeds with (empty: it has none).
// If `data_dir` records another model: FAILED_PRECONDITION saying which,
// and what to do. If it records none and `identity` is set, records it
// (written to a temporary file, synced and renamed). UNAVAILABLE if the
// file cannot be read or written.
absl::Status CheckEmbedderIdentity(const std::string& data_dir,
                                   const std::string& identity);

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_EMBEDDER_IDENTITY_H_
