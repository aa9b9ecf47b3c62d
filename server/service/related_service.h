// The gRPC handlers of related.v1.RelatedArticles, on gRPC's callback API.
// Each handler is thin: check the call is still wanted, convert the request,
// call the core, convert the result and status, record metrics.
//
// Reads answer on gRPC's callback thread: they take the index's shared
// lock, which a writer holds exclusively only for short memory updates.
// Writes and imports wait on the writers' lock and on the disk, so they run
// on a WriteWorker thread, which finishes the call.
//
// GetRelated is registered raw (WithRawCallbackMethod_GetRelated): it
// answers with GetRelatedResponse's wire form, written directly from the
// index's results (related_encoding.h), because building the message for a
// box of ten and then serialising it took more server time than the lookup.
#ifndef RELATED_SERVER_SERVICE_RELATED_SERVICE_H_
#define RELATED_SERVER_SERVICE_RELATED_SERVICE_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <optional>

#include "related/v1/related.grpc.pb.h"
#include "server/core/article_index.h"
#include "server/core/article_writer.h"
#include "server/core/text_bootstrap.h"
#include "server/core/text_embedding.h"
#include "server/service/auth.h"
#include "server/service/box_cache.h"
#include "server/service/metrics.h"
#include "server/service/write_worker.h"

namespace related {

// The generated service class, whose member templates add the API variants.
using Generated = v1::RelatedArticles;

// Every method on the callback API, GetRelated with raw bytes.
using RelatedCallbackService = Generated::WithRawCallbackMethod_GetRelated<
    Generated::WithCallbackMethod_SearchByVector<
        Generated::WithCallbackMethod_BatchGetRelated<
            Generated::WithCallbackMethod_UpsertArticles<
                Generated::WithCallbackMethod_ImportArticles<
                    Generated::WithCallbackMethod_DeleteArticles<
                        Generated::WithCallbackMethod_GetArticle<
                            Generated::WithCallbackMethod_GetStats<
                                Generated::WithCallbackMethod_Ping<
                                    Generated::Service>>>>>>>>>;

class RelatedService final : public RelatedCallbackService {
 public:
  // `authorizer` decides who may read and write; Ping is always open.
  // Writes run on `writes`; articles sent as text are embedded there by
  // `embedding` (through `texts`, which holds them while there is no model
  // yet), before they reach the writer. Up to `box_cache_entries` default
  // GetRelated answers are kept encoded (box_cache.h).
  RelatedService(ArticleIndex& index, ServiceMetrics& metrics,
                 const Authorizer& authorizer, WriteWorker& writes,
                 const TextEmbedding& embedding, TextBootstrap& texts,
                 int box_cache_entries);

  // Until then every call but Ping fails with UNAVAILABLE (recovery runs).
  // Writes go to `writer` from then on (the index itself, or the replicated
  // stream).
  void SetReady(ArticleWriter& writer) {
    writer_ = &writer;
    ready_.store(true, std::memory_order_release);
  }

  grpc::ServerUnaryReactor* GetRelated(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SearchByVector(
      grpc::CallbackServerContext* context,
      const v1::SearchByVectorRequest* request,
      v1::SearchByVectorResponse* response) override;
  grpc::ServerUnaryReactor* BatchGetRelated(
      grpc::CallbackServerContext* context,
      const v1::BatchGetRelatedRequest* request,
      v1::BatchGetRelatedResponse* response) override;
  grpc::ServerUnaryReactor* UpsertArticles(
      grpc::CallbackServerContext* context,
      const v1::UpsertArticlesRequest* request,
      v1::UpsertArticlesResponse* response) override;
  grpc::ServerReadReactor<v1::ImportArticlesRequest>* ImportArticles(
      grpc::CallbackServerContext* context,
      v1::ImportArticlesResponse* response) override;
  grpc::ServerUnaryReactor* DeleteArticles(
      grpc::CallbackServerContext* context,
      const v1::DeleteArticlesRequest* request,
      v1::DeleteArticlesResponse* response) override;
  grpc::ServerUnaryReactor* GetArticle(
      grpc::CallbackServerContext* context,
      const v1::GetArticleRequest* request,
      v1::GetArticleResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context,
                                 const v1::PingRequest* request,
                                 v1::PingResponse* response) override;

 private:
  class ImportReactor;

  // The status to fail a call with before doing any work: UNAUTHENTICATED or
  // PERMISSION_DENIED without a token granting `access`, UNAVAILABLE while
  // recovering, CANCELLED if the caller gave up.
  std::optional<grpc::Status> Refuse(grpc::CallbackServerContext* context,
                                     Access access) const;
  // Applies one batch of articles (of an import stream if `import` is set)
  // and updates the write metrics.
  absl::Status Upsert(
      const google::protobuf::RepeatedPtrField<v1::Article>& articles,
      ArticleWriter::Import* import);
  // Runs `write` on the write worker, then finishes the call with the
  // status it returns.
  grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* context,
                                  MethodMetrics& method,
                                  std::function<grpc::Status()> write);

  // A lookup of SearchByVector or BatchGetRelated: unless the call is
  // refused or `policy` is not valid, runs `run(policy)` on the callback
  // thread (reads do not block) and finishes the call with its status.
  template <typename Run>
  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* context,
                                   MethodMetrics& method,
                                   const v1::RankingPolicy& policy, Run run);
  // One item of a BatchGetRelated response.
  void BatchResultToProto(const RelatedResult& result, bool debug,
                          const RankingPolicy& policy,
                          v1::BatchGetRelatedResult* item) const;

  // A lookup's status: NOT_FOUND for an article held for the first text
  // model becomes FAILED_PRECONDITION saying what it waits for.
  absl::Status Explained(absl::Status status, const ArticleId& id) const;
  // SearchByVector's vector: the embedding given, or its text embedded.
  absl::StatusOr<std::vector<float>> QueryVector(
      const v1::SearchByVectorRequest& request) const;

  ArticleIndex& index_;
  BoxCache box_cache_;
  ServiceMetrics& metrics_;
  const Authorizer& authorizer_;
  WriteWorker& writes_;
  const TextEmbedding& embedding_;
  TextBootstrap& texts_;
  // Set once, before ready_.
  ArticleWriter* writer_ = nullptr;
  std::atomic<bool> ready_{false};
  // Each method's metrics, resolved once.
  MethodMetrics& get_related_;
  MethodMetrics& search_by_vector_;
  MethodMetrics& batch_get_related_;
  MethodMetrics& upsert_articles_;
  MethodMetrics& import_articles_;
  MethodMetrics& delete_articles_;
  MethodMetrics& get_article_;
  MethodMetrics& get_stats_;
  MethodMetrics& ping_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_RELATED_SERVICE_H_
