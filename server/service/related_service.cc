#include "server/service/related_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/core/freed_memory.h"
#include "server/service/proto_conversion.h"
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

grpc::Status RelatedService::GetRelated(grpc::ServerContext* context,
                                        const v1::GetRelatedRequest* request,
                                        v1::GetRelatedResponse* response) {
  RequestRecorder recorder(metrics_, "GetRelated");
  if (auto refused = RefuseRead(context)) return recorder.Finish(*refused);
  auto policy =
      PolicyFromProto(request->policy(), index_.options().default_policy);
  if (!policy.ok()) return recorder.Finish(ToGrpcStatus(policy.status()));
  auto related =
      index_.Related({request->article_id(), request->limit(),
                      IdsFromProto(request->exclude_ids()), *policy});
  if (related.ok()) {
    RelatedToProto(related->articles, response->mutable_articles());
    if (request->policy().debug()) {
      DebugToProto(related->debug, *policy, response->mutable_debug());
    }
  }
  return recorder.Finish(ToGrpcStatus(related.status()));
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

absl::Status RelatedService::Upsert(const v1::UpsertArticlesRequest& request,
                                   ArticleIndex::BulkLoad* bulk) {
  auto articles = ArticlesFromProto(request.articles());
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
  absl::Status status = Upsert(*request, nullptr);
  if (status.ok()) response->set_upserted(request->articles_size());
  return recorder.Finish(ToGrpcStatus(status));
}

grpc::Status RelatedService::ImportArticles(
    grpc::ServerContext* context,
    grpc::ServerReader<v1::UpsertArticlesRequest>* reader,
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
    grpc::ServerReader<v1::UpsertArticlesRequest>* reader,
    ArticleIndex::BulkLoad& bulk, v1::ImportArticlesResponse* response) {
  v1::UpsertArticlesRequest batch;
  while (reader->Read(&batch)) {
    if (auto refused = RefuseWrite(context)) return *refused;
    absl::Status status = Upsert(batch, &bulk);
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
