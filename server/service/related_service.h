// The gRPC handlers of related.v1.RelatedArticles. Each handler is thin:
// check the call is still wanted, convert the request, call the core,
// convert the result and status, record metrics.
#ifndef RELATED_SERVER_SERVICE_RELATED_SERVICE_H_
#define RELATED_SERVER_SERVICE_RELATED_SERVICE_H_

#include <atomic>
#include <optional>

#include "related/v1/related.grpc.pb.h"
#include "server/core/article_index.h"
#include "server/service/auth.h"
#include "server/service/metrics.h"

namespace related {

class RelatedService final : public v1::RelatedArticles::Service {
 public:
  // `authorizer` decides who may read and write; Ping is always open.
  RelatedService(ArticleIndex& index, ServiceMetrics& metrics,
                 const Authorizer& authorizer)
      : index_(index), metrics_(metrics), authorizer_(authorizer) {}

  grpc::Status GetRelated(grpc::ServerContext* context,
                          const v1::GetRelatedRequest* request,
                          v1::GetRelatedResponse* response) override;
  grpc::Status SearchByVector(grpc::ServerContext* context,
                              const v1::SearchByVectorRequest* request,
                              v1::SearchByVectorResponse* response) override;
  grpc::Status BatchGetRelated(grpc::ServerContext* context,
                               const v1::BatchGetRelatedRequest* request,
                               v1::BatchGetRelatedResponse* response) override;
  grpc::Status UpsertArticles(grpc::ServerContext* context,
                              const v1::UpsertArticlesRequest* request,
                              v1::UpsertArticlesResponse* response) override;
  grpc::Status ImportArticles(
      grpc::ServerContext* context,
      grpc::ServerReader<v1::UpsertArticlesRequest>* reader,
      v1::ImportArticlesResponse* response) override;
  grpc::Status DeleteArticles(grpc::ServerContext* context,
                              const v1::DeleteArticlesRequest* request,
                              v1::DeleteArticlesResponse* response) override;
  grpc::Status GetArticle(grpc::ServerContext* context,
                          const v1::GetArticleRequest* request,
                          v1::GetArticleResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context,
                        const v1::GetStatsRequest* request,
                        v1::GetStatsResponse* response) override;
  // Until then every call but Ping fails with UNAVAILABLE (recovery runs).
  void SetReady() { ready_.store(true, std::memory_order_release); }

  grpc::Status Ping(grpc::ServerContext* context,
                    const v1::PingRequest* request,
                    v1::PingResponse* response) override;

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
      grpc::ServerReader<v1::UpsertArticlesRequest>* reader,
      ArticleIndex::BulkLoad& bulk, v1::ImportArticlesResponse* response);
  // `bulk`: the import stream this batch belongs to, or nullptr.
  absl::Status Upsert(const v1::UpsertArticlesRequest& request,
                      ArticleIndex::BulkLoad* bulk);

  ArticleIndex& index_;
  ServiceMetrics& metrics_;
  const Authorizer& authorizer_;
  std::atomic<bool> ready_{false};
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_RELATED_SERVICE_H_
