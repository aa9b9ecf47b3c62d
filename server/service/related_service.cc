#include "server/service/related_service.h"

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/method_handler.h"
#include "grpcpp/support/slice.h"
#include "server/core/freed_memory.h"
#include "server/service/proto_conversion.h"
#include "server/service/related_encoding.h"
#include "server/service/status.h"

namespace related {
namespace {

// A call whose deadline passed or whose client went away is not worth
// starting: the answer would be thrown away. Asking gRPC whether a call was
// cancelled (IsCancelled) polls the completion queue: ~17 us measured here,
// three times a whole precomputed lookup. So reads check only the deadline
// (a clock read); writes, and batch lookups now and then, ask gRPC.
bool Abandoned(grpc::ServerContext* context) { return context->IsCancelled(); }

bool DeadlinePassed(const grpc::ServerContext& context) {
  return absl::FromChrono(context.deadline()) <= absl::Now();
}

const grpc::Status kAbandoned(grpc::StatusCode::CANCELLED,
                              "the call was cancelled or its deadline expired");

}  // namespace

std::optional<grpc::Status> RelatedService::Refuse(grpc::ServerContext* context,
                                                   Access access) const {
  if (auto denied = authorizer_.Check(*context, access)) return denied;
  if (!ready_.load(std::memory_order_acquire)) {
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "the server is starting (recovering stored articles); retry");
  }
  if (access == Access::kRead ? DeadlinePassed(*context) : Abandoned(context)) {
    return kAbandoned;
  }
  return std::nullopt;
}

RelatedService::RelatedService(ArticleIndex& index, ServiceMetrics& metrics,
                               const Authorizer& authorizer)
    : index_(index), metrics_(metrics), authorizer_(authorizer) {
  AddUnaryMethod("GetRelated", &RelatedService::GetRelated);
  AddUnaryMethod("SearchByVector", &RelatedService::SearchByVector);
  AddUnaryMethod("BatchGetRelated", &RelatedService::BatchGetRelated);
  AddUnaryMethod("UpsertArticles", &RelatedService::UpsertArticles);
  AddImportMethod();
  AddUnaryMethod("DeleteArticles", &RelatedService::DeleteArticles);
  AddUnaryMethod("GetArticle", &RelatedService::GetArticle);
  AddUnaryMethod("GetStats", &RelatedService::GetStats);
  AddUnaryMethod("Ping", &RelatedService::Ping);
}

const char* RelatedService::MethodPath(const char* name) {
  method_paths_.push_back(std::make_unique<std::string>(
      absl::StrCat("/", v1::RelatedArticles::service_full_name(), "/", name)));
  return method_paths_.back()->c_str();
}

template <class Request, class Response>
void RelatedService::AddUnaryMethod(
    const char* name,
    grpc::Status (RelatedService::*handler)(grpc::ServerContext*,
                                            const Request*, Response*)) {
  // What gRPC serialises the response as: itself if it is bytes already.
  using Serialized =
      std::conditional_t<std::is_same_v<Response, grpc::ByteBuffer>,
                         grpc::ByteBuffer, google::protobuf::MessageLite>;
  AddMethod(new grpc::internal::RpcServiceMethod(
      MethodPath(name), grpc::internal::RpcMethod::NORMAL_RPC,
      new grpc::internal::RpcMethodHandler<RelatedService, Request, Response,
                                           google::protobuf::MessageLite,
                                           Serialized>(
          [handler](RelatedService* service, grpc::ServerContext* context,
                    const Request* request, Response* response) {
            return (service->*handler)(context, request, response);
          },
          this)));
}

void RelatedService::AddImportMethod() {
  AddMethod(new grpc::internal::RpcServiceMethod(
      MethodPath("ImportArticles"), grpc::internal::RpcMethod::CLIENT_STREAMING,
      new grpc::internal::ClientStreamingHandler<RelatedService,
                                                 v1::ImportArticlesRequest,
                                                 v1::ImportArticlesResponse>(
          [](RelatedService* service, grpc::ServerContext* context,
             grpc::ServerReader<v1::ImportArticlesRequest>* reader,
             v1::ImportArticlesResponse* response) {
            return service->ImportArticles(context, reader, response);
          },
          this)));
}

grpc::Status RelatedService::GetRelated(grpc::ServerContext* context,
                                        const v1::GetRelatedRequest* request,
                                        grpc::ByteBuffer* response) {
  RequestRecorder recorder(metrics_, "GetRelated");
  if (auto refused = RefuseRead(context)) return recorder.Finish(*refused);
  auto policy =
      PolicyFromProto(request->policy(), index_.options().default_policy);
  if (!policy.ok()) return recorder.Finish(ToGrpcStatus(policy.status()));
  // Encoded while the index is read (no copies of the articles), straight
  // into the buffer gRPC will send.
  auto bytes = std::make_unique<std::string>();
  bytes->reserve(1024);  // a box of ten with short titles, without regrowing
  auto debug = index_.VisitRelated(
      {request->article_id(), request->limit(),
       IdsFromProto(request->exclude_ids()), *policy},
      [&](float score, const ArticleCard& card) {
        AppendRelatedArticle(card, score, *bytes);
      });
  if (!debug.ok()) return recorder.Finish(ToGrpcStatus(debug.status()));
  if (request->policy().debug()) {
    v1::RankingDebug proto;
    DebugToProto(*debug, *policy, &proto);
    AppendRankingDebug(proto, *bytes);
  }
  // gRPC sends the buffer without copying it and frees it once sent.
  std::string* sent = bytes.release();
  grpc::Slice slice(
      sent->data(), sent->size(),
      [](void* buffer) { delete static_cast<std::string*>(buffer); }, sent);
  *response = grpc::ByteBuffer(&slice, 1);
  return recorder.Finish(grpc::Status::OK);
}

grpc::Status RelatedService::SearchByVector(
    grpc::ServerContext* context, const v1::SearchByVectorRequest* request,
    v1::SearchByVectorResponse* response) {
  RequestRecorder recorder(metrics_, "SearchByVector");
  if (auto refused = RefuseRead(context)) return recorder.Finish(*refused);
  auto policy =
      PolicyFromProto(request->policy(), index_.options().default_policy);
  if (!policy.ok()) return recorder.Finish(ToGrpcStatus(policy.status()));
  auto related = index_.RelatedToVector(
      {{request->embedding().begin(), request->embedding().end()},
       request->limit(),
       IdsFromProto(request->exclude_ids()),
       *policy});
  if (related.ok()) {
    RelatedToProto(related->articles, response->mutable_articles());
    if (request->policy().debug()) {
      DebugToProto(related->debug, *policy, response->mutable_debug());
    }
  }
  return recorder.Finish(ToGrpcStatus(related.status()));
}

grpc::Status RelatedService::BatchGetRelated(
    grpc::ServerContext* context, const v1::BatchGetRelatedRequest* request,
    v1::BatchGetRelatedResponse* response) {
  RequestRecorder recorder(metrics_, "BatchGetRelated");
  if (auto refused = RefuseRead(context)) return recorder.Finish(*refused);
  auto policy =
      PolicyFromProto(request->policy(), index_.options().default_policy);
  if (!policy.ok()) return recorder.Finish(ToGrpcStatus(policy.status()));
  int asked = 0;  // items started: gRPC is asked every 16th
  auto results = index_.BatchRelated(
      IdsFromProto(request->article_ids()), request->limit(),
      IdsFromProto(request->exclude_ids()), *policy, [context, &asked] {
        return DeadlinePassed(*context) ||
               (++asked % 16 == 0 && Abandoned(context));
      });
  if (results.ok()) {
    for (const RelatedResult& result : *results) {
      v1::BatchGetRelatedResult* item = response->add_results();
      item->set_article_id(result.article_id);
      item->set_code(static_cast<int32_t>(result.status.code()));
      item->set_error_message(std::string(result.status.message()));
      RelatedToProto(result.related.articles, item->mutable_articles());
      if (request->policy().debug() && result.status.ok()) {
        DebugToProto(result.related.debug, *policy, item->mutable_debug());
      }
    }
  }
  return recorder.Finish(ToGrpcStatus(results.status()));
}

absl::Status RelatedService::Upsert(
    const google::protobuf::RepeatedPtrField<v1::Article>& protos,
    ArticleIndex::BulkLoad* bulk) {
  auto articles = ArticlesFromProto(protos);
  if (!articles.ok()) return articles.status();
  const int64_t count = static_cast<int64_t>(articles->size());
  absl::Status status = index_.Upsert(*std::move(articles), bulk);
  if (status.ok()) metrics_.RecordWrites(count, 0);
  metrics_.SetIndexStats(index_.Stats());
  return status;
}

grpc::Status RelatedService::UpsertArticles(
    grpc::ServerContext* context, const v1::UpsertArticlesRequest* request,
    v1::UpsertArticlesResponse* response) {
  RequestRecorder recorder(metrics_, "UpsertArticles");
  if (auto refused = RefuseWrite(context)) return recorder.Finish(*refused);
  absl::Status status = Upsert(request->articles(), nullptr);
  if (status.ok()) response->set_upserted(request->articles_size());
  return recorder.Finish(ToGrpcStatus(status));
}

grpc::Status RelatedService::ImportArticles(
    grpc::ServerContext* context,
    grpc::ServerReader<v1::ImportArticlesRequest>* reader,
    v1::ImportArticlesResponse* response) {
  RequestRecorder recorder(metrics_, "ImportArticles");
  if (auto refused = RefuseWrite(context)) return recorder.Finish(*refused);
  // The whole stream is one bulk load: the related lists of its articles
  // are built once it ends, before the call returns, however it ends
  // (batches applied before a failure stay applied).
  ArticleIndex::BulkLoad bulk;
  const grpc::Status status = ImportBatches(context, reader, bulk, response);
  index_.FinishBulkLoad(bulk);
  ReleaseFreedMemory();  // what the batches used
  return recorder.Finish(status);
}

grpc::Status RelatedService::ImportBatches(
    grpc::ServerContext* context,
    grpc::ServerReader<v1::ImportArticlesRequest>* reader,
    ArticleIndex::BulkLoad& bulk, v1::ImportArticlesResponse* response) {
  v1::ImportArticlesRequest batch;
  while (reader->Read(&batch)) {
    if (auto refused = RefuseWrite(context)) return *refused;
    absl::Status status = Upsert(batch.articles(), &bulk);
    if (!status.ok()) {
      // Earlier batches stay applied; say how far the import got so the
      // client can resume after fixing the batch.
      return ToGrpcStatus(absl::Status(
          status.code(),
          absl::StrCat("batch ", response->batches(), ": ", status.message(),
                       " (", response->upserted(),
                       " articles from earlier batches were imported)")));
    }
    response->set_batches(response->batches() + 1);
    response->set_upserted(response->upserted() + batch.articles_size());
  }
  return grpc::Status::OK;
}

grpc::Status RelatedService::DeleteArticles(
    grpc::ServerContext* context, const v1::DeleteArticlesRequest* request,
    v1::DeleteArticlesResponse* response) {
  RequestRecorder recorder(metrics_, "DeleteArticles");
  if (auto refused = RefuseWrite(context)) return recorder.Finish(*refused);
  auto deleted = index_.Delete(IdsFromProto(request->article_ids()));
  if (deleted.ok()) {
    response->set_deleted(*deleted);
    metrics_.RecordWrites(0, *deleted);
    metrics_.SetIndexStats(index_.Stats());
  }
  return recorder.Finish(ToGrpcStatus(deleted.status()));
}

grpc::Status RelatedService::GetArticle(grpc::ServerContext* context,
                                        const v1::GetArticleRequest* request,
                                        v1::GetArticleResponse* response) {
  RequestRecorder recorder(metrics_, "GetArticle");
  if (auto refused = RefuseRead(context)) return recorder.Finish(*refused);
  auto article = index_.Get(request->article_id());
  if (article.ok()) {
    ArticleToProto(*article, request->include_embedding(),
                   response->mutable_article());
  }
  return recorder.Finish(ToGrpcStatus(article.status()));
}

grpc::Status RelatedService::GetStats(grpc::ServerContext* context,
                                      const v1::GetStatsRequest* /*request*/,
                                      v1::GetStatsResponse* response) {
  RequestRecorder recorder(metrics_, "GetStats");
  if (auto refused = RefuseRead(context)) return recorder.Finish(*refused);
  StatsToProto(index_.Stats(), index_.options(), response);
  return recorder.Finish(grpc::Status::OK);
}

grpc::Status RelatedService::Ping(grpc::ServerContext* /*context*/,
                                  const v1::PingRequest* /*request*/,
                                  v1::PingResponse* /*response*/) {
  RequestRecorder recorder(metrics_, "Ping");
  return recorder.Finish(grpc::Status::OK);
}

}  // namespace related
