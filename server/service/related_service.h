// The gRPC handlers of related.v1.RelatedArticles. Each handler is thin:
// check the call is still wanted, convert the request, call the core,
// convert the result and status, record metrics.
//
// The class registers its methods itself (as the generated
// RelatedArticles::Service would, with gRPC's synchronous handler
// templates) so that GetRelated can answer with bytes it encoded, not a
// message gRPC serialises: see GetRelated below.
#ifndef RELATED_SERVER_SERVICE_RELATED_SERVICE_H_
#define RELATED_SERVER_SERVICE_RELATED_SERVICE_H_

#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "related/v1/related.grpc.pb.h"
#include "server/core/article_index.h"
#include "server/service/auth.h"
#include "server/service/metrics.h"

namespace related {

class RelatedService final : public grpc::Service {
 public:
  // `authorizer` decides who may read and write; Ping is always open.
  RelatedService(ArticleIndex& index, ServiceMetrics& metrics,
                 const Authorizer& authorizer);

  // The call on every article page. Its response is GetRelatedResponse's
  // wire form, written directly from the index's results
  // (related_encoding.h): building the message for a box of ten and then
  // serialising it took more server time than the lookup.
  grpc::Status GetRelated(grpc::ServerContext* context,
                          const v1::GetRelatedRequest* request,
                          grpc::ByteBuffer* response);
  grpc::Status SearchByVector(grpc::ServerContext* context,
                              const v1::SearchByVectorRequest* request,
                              v1::SearchByVectorResponse* response);
  grpc::Status BatchGetRelated(grpc::ServerContext* context,
                               const v1::BatchGetRelatedRequest* request,
                               v1::BatchGetRelatedResponse* response);
  grpc::Status UpsertArticles(grpc::ServerContext* context,
                              const v1::UpsertArticlesRequest* request,
                              v1::UpsertArticlesResponse* response);
  grpc::Status ImportArticles(
      grpc::ServerContext* context,
      grpc::ServerReader<v1::ImportArticlesRequest>* reader,
      v1::ImportArticlesResponse* response);
  grpc::Status DeleteArticles(grpc::ServerContext* context,
                              const v1::DeleteArticlesRequest* request,
                              v1::DeleteArticlesResponse* response);
  grpc::Status GetArticle(grpc::ServerContext* context,
                          const v1::GetArticleRequest* request,
                          v1::GetArticleResponse* response);
  grpc::Status GetStats(grpc::ServerContext* context,
                        const v1::GetStatsRequest* request,
                        v1::GetStatsResponse* response);
  // Until then every call but Ping fails with UNAVAILABLE (recovery runs).
  void SetReady() { ready_.store(true, std::memory_order_release); }

  grpc::Status Ping(grpc::ServerContext* context,
                    const v1::PingRequest* request, v1::PingResponse* response);

 private:
  // The status to fail a call with before doing any work: UNAUTHENTICATED or
  // PERMISSION_DENIED without a token granting `access`, UNAVAILABLE while
  // recovering, CANCELLED if the caller gave up.
  std::optional<grpc::Status> Refuse(grpc::ServerContext* context,
                                     Access access) const;
  std::optional<grpc::Status> RefuseRead(grpc::ServerContext* context) const {
    return Refuse(context, Access::kRead);
  }
  std::optional<grpc::Status> RefuseWrite(grpc::ServerContext* context) const {
    return Refuse(context, Access::kWrite);
  }
  // Applies one upsert batch and updates the write metrics.
  // Reads and applies an import stream's batches.
  grpc::Status ImportBatches(
      grpc::ServerContext* context,
      grpc::ServerReader<v1::ImportArticlesRequest>* reader,
      ArticleIndex::BulkLoad& bulk, v1::ImportArticlesResponse* response);
  // `bulk`: the import stream this batch belongs to, or nullptr.
  absl::Status Upsert(const google::protobuf::RepeatedPtrField<v1::Article>& articles,
                      ArticleIndex::BulkLoad* bulk);

  // Registers `handler` as the unary method `name` of RelatedArticles. A
  // grpc::ByteBuffer response is sent as it is; a message is serialised.
  template <class Request, class Response>
  void AddUnaryMethod(const char* name,
                      grpc::Status (RelatedService::*handler)(
                          grpc::ServerContext*, const Request*, Response*));
  void AddImportMethod();
  // "/related.v1.RelatedArticles/<name>", kept for the life of the service
  // (gRPC holds on to the pointer).
  const char* MethodPath(const char* name);

  std::vector<std::unique_ptr<std::string>> method_paths_;
  ArticleIndex& index_;
  ServiceMetrics& metrics_;
  const Authorizer& authorizer_;
  std::atomic<bool> ready_{false};
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_RELATED_SERVICE_H_
