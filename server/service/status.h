// The one mapping from core statuses to gRPC statuses.
#ifndef RELATED_SERVER_SERVICE_STATUS_H_
#define RELATED_SERVER_SERVICE_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace related {

// absl and gRPC share the canonical code numbering, so the code carries over
// unchanged; the message is kept as the core wrote it.
inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_STATUS_H_
