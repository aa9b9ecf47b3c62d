#include "server/service/related_service.h"

#include <grpcpp/support/slice.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/core/freed_memory.h"
#include "server/service/proto_conversion.h"
#include "server/service/related_encoding.h"
#include "server/service/status.h"

namespace related {
namespace {

// A call whose deadline passed or whose client went away is not worth
// starting: the answer would be thrown away. Reads check only the deadline
// (a clock read, the cheapest); writes, and batch lookups now and then, also
// ask gRPC whether the client went away.
bool DeadlinePassed(const grpc::CallbackServerContext& context) {
  return absl::FromChrono(context.deadline()) <= absl::Now();
}

const grpc::Status kAbandoned(grpc::StatusCode::CANCELLED,
                              "the call was cancelled or its deadline expired");

// Finishes a unary call with `status`, recorded by `recorder`.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 RequestRecorder& recorder,
                                 const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(recorder.Finish(status, context));
  return reactor;
}

// Parses a raw request (most arrive as one slice: no copy).
bool Parse(const grpc::ByteBuffer& bytes,
           google::protobuf::MessageLite& message) {
  grpc::Slice slice;
  if (!bytes.DumpToSingleSlice(&slice).ok()) return false;
  return message.ParseFromArray(slice.begin(), static_cast<int>(slice.size()));
}

// The buffer a thread encodes GetRelated responses into, reused from call
// to call; its bytes are copied once into a slice of gRPC's own (one
// allocation per call, where a string handed over would take two).
std::string& EncodingBuffer() {
  thread_local std::string buffer;
  buffer.clear();
  return buffer;
}

grpc::Slice ToSlice(absl::string_view bytes) {
  grpc::Slice slice(bytes.size());
  std::memcpy(const_cast<uint8_t*>(slice.begin()), bytes.data(), bytes.size());
  return slice;
}

// A request for the default box: no policy control set, no exclusions, the
// default limit. Its answer depends on the article and the index state
// alone, so BoxCache may keep it.
bool AsksForTheDefaultBox(const v1::GetRelatedRequest& request,
                          int default_limit) {
  return request.exclude_ids_size() == 0 &&
         request.policy().ByteSizeLong() == 0 &&
         (request.limit() == 0 || request.limit() == default_limit);
}

}  // namespace

RelatedService::RelatedService(ArticleIndex& index, ServiceMetrics& metrics,
                               const Authorizer& authorizer,
                               WriteWorker& writes,
                               const TextEmbedding& embedding,
                               TextBootstrap& texts, int box_cache_entries)
    : index_(index),
      box_cache_(box_cache_entries),
      metrics_(metrics),
      authorizer_(authorizer),
      writes_(writes),
      embedding_(embedding),
      texts_(texts),
      get_related_(metrics.Method("GetRelated")),
      search_by_vector_(metrics.Method("SearchByVector")),
      batch_get_related_(metrics.Method("BatchGetRelated")),
      upsert_articles_(metrics.Method("UpsertArticles")),
      import_articles_(metrics.Method("ImportArticles")),
      delete_articles_(metrics.Method("DeleteArticles")),
      get_article_(metrics.Method("GetArticle")),
      get_stats_(metrics.Method("GetStats")),
      ping_(metrics.Method("Ping")) {}

std::optional<grpc::Status> RelatedService::Refuse(
    grpc::CallbackServerContext* context, Access access) const {
  if (auto denied = authorizer_.Check(*context, access)) return denied;
  if (!ready_.load(std::memory_order_acquire)) {
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "the server is starting (recovering stored articles); retry");
  }
  if (DeadlinePassed(*context) ||
      (access == Access::kWrite && context->IsCancelled())) {
    return kAbandoned;
  }
  return std::nullopt;
}

grpc::ServerUnaryReactor* RelatedService::GetRelated(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  RequestRecorder recorder(get_related_);
  if (auto refused = Refuse(context, Access::kRead)) {
    return Finish(context, recorder, *refused);
  }
  v1::GetRelatedRequest request;
  const bool parsed = Parse(*request_bytes, request);
  recorder.set_article_id(request.article_id());
  if (!parsed) {
    return Finish(context, recorder,
                  grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "the request is not a GetRelatedRequest"));
  }
  const bool cacheable =
      box_cache_.enabled() &&
      AsksForTheDefaultBox(request, index_.options().default_limit);
  if (cacheable) {
    if (auto cached =
            box_cache_.Find(request.article_id(), index_.state_generation(),
                            [&](const BoxSource& source) {
                              auto still = index_.BoxStillCurrent(source);
                              metrics_.RecordCacheCheck(still.has_value());
                              return still;
                            })) {
      metrics_.RecordCachedBox();
      *response = grpc::ByteBuffer(&*cached, 1);
      return Finish(context, recorder, grpc::Status::OK);
    }
  }
  auto policy =
      PolicyFromProto(request.policy(), index_.options().default_policy);
  if (!policy.ok()) {
    return Finish(context, recorder, ToGrpcStatus(policy.status()));
  }
  // Encoded while the index is read (no copies of the articles).
  std::string& bytes = EncodingBuffer();
  uint64_t generation = 0;  // of the state the box is read from
  BoxSource source;         // and what in it
  auto debug = index_.VisitRelated(
      {request.article_id(), request.limit(),
       IdsFromProto(request.exclude_ids()), *policy},
      [&](float score, const ArticleCard& card) {
        generation = index_.state_generation();
        AppendRelatedArticle(card, score, bytes);
      },
      cacheable ? &source : nullptr);
  if (!debug.ok()) {
    return Finish(
        context, recorder,
        ToGrpcStatus(Explained(debug.status(), request.article_id())));
  }
  metrics_.RecordBox(debug->precomputed);
  if (request.policy().debug()) {
    v1::RankingDebug proto;
    DebugToProto(*debug, *policy, &proto);
    AppendRankingDebug(proto, bytes);
  }
  grpc::Slice slice = ToSlice(bytes);
  if (cacheable && debug->precomputed && !bytes.empty()) {
    box_cache_.Store(request.article_id(), generation, slice,
                     std::move(source));
  }
  *response = grpc::ByteBuffer(&slice, 1);
  return Finish(context, recorder, grpc::Status::OK);
}

absl::Status RelatedService::Explained(absl::Status status,
                                       const ArticleId& id) const {
  if (status.code() != absl::StatusCode::kNotFound) return status;
  absl::Status held = texts_.WhyHeld(id);
  return held.ok() ? status : held;
}

absl::StatusOr<std::vector<float>> RelatedService::QueryVector(
    const v1::SearchByVectorRequest& request) const {
  if (request.text().empty()) {
    return std::vector<float>(request.embedding().begin(),
                              request.embedding().end());
  }
  if (!request.embedding().empty()) {
    return absl::InvalidArgumentError(
        "give either embedding or text, not both");
  }
  return embedding_.EmbedQuery(request.text());
}

template <typename Run>
grpc::ServerUnaryReactor* RelatedService::Lookup(
    grpc::CallbackServerContext* context, MethodMetrics& method,
    const v1::RankingPolicy& policy_proto, Run run) {
  RequestRecorder recorder(method);
  if (auto refused = Refuse(context, Access::kRead)) {
    return Finish(context, recorder, *refused);
  }
  auto policy = PolicyFromProto(policy_proto, index_.options().default_policy);
  if (!policy.ok()) {
    return Finish(context, recorder, ToGrpcStatus(policy.status()));
  }
  return Finish(context, recorder, run(*policy));
}

grpc::ServerUnaryReactor* RelatedService::SearchByVector(
    grpc::CallbackServerContext* context,
    const v1::SearchByVectorRequest* request,
    v1::SearchByVectorResponse* response) {
  return Lookup(
      context, search_by_vector_, request->policy(),
      [&](const RankingPolicy& policy) {
        auto query = QueryVector(*request);
        if (!query.ok()) return ToGrpcStatus(query.status());
        auto related = index_.RelatedToVector(
            {*std::move(query), request->limit(),
             IdsFromProto(request->exclude_ids()), policy});
        if (related.ok()) {
          RelatedToProto(related->articles, response->mutable_articles());
          if (request->policy().debug()) {
            DebugToProto(related->debug, policy, response->mutable_debug());
          }
        }
        return ToGrpcStatus(related.status());
      });
}

grpc::ServerUnaryReactor* RelatedService::BatchGetRelated(
    grpc::CallbackServerContext* context,
    const v1::BatchGetRelatedRequest* request,
    v1::BatchGetRelatedResponse* response) {
  return Lookup(context, batch_get_related_, request->policy(),
                [&](const RankingPolicy& policy) {
                  auto results = index_.BatchRelated(
                      IdsFromProto(request->article_ids()), request->limit(),
                      IdsFromProto(request->exclude_ids()), policy, [context] {
                        return DeadlinePassed(*context) ||
                               context->IsCancelled();
                      });
                  if (!results.ok()) return ToGrpcStatus(results.status());
                  for (const RelatedResult& result : *results) {
                    BatchResultToProto(result, request->policy().debug(),
                                       policy, response->add_results());
                  }
                  return grpc::Status::OK;
                });
}

void RelatedService::BatchResultToProto(const RelatedResult& result, bool debug,
                                        const RankingPolicy& policy,
                                        v1::BatchGetRelatedResult* item) const {
  item->set_article_id(result.article_id);
  const absl::Status status = Explained(result.status, result.article_id);
  item->set_code(static_cast<int32_t>(status.code()));
  item->set_error_message(std::string(status.message()));
  RelatedToProto(result.related.articles, item->mutable_articles());
  if (debug && result.status.ok()) {
    DebugToProto(result.related.debug, policy, item->mutable_debug());
  }
}

absl::Status RelatedService::Upsert(
    const google::protobuf::RepeatedPtrField<v1::Article>& protos,
    ArticleWriter::Import* import) {
  auto articles = ArticlesFromProto(protos);
  if (!articles.ok()) return articles.status();
  const int64_t count = static_cast<int64_t>(articles->size());
  absl::Status status = texts_.Upsert(
      *std::move(articles),
      [&](std::vector<Article> embedded) {
        return import != nullptr ? import->Upsert(std::move(embedded))
                                 : writer_->Upsert(std::move(embedded));
      },
      /*importing=*/import != nullptr);
  if (status.ok()) metrics_.RecordWrites(count, 0);
  metrics_.SetIndexStats(index_);
  metrics_.SetHeldTexts(texts_.held());
  return status;
}

grpc::ServerUnaryReactor* RelatedService::Write(
    grpc::CallbackServerContext* context, MethodMetrics& method,
    std::function<grpc::Status()> write) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  writes_.Post([this, context, reactor, write = std::move(write),
                recorder = RequestRecorder(method)]() mutable {
    const std::optional<grpc::Status> refused = Refuse(context, Access::kWrite);
    reactor->Finish(recorder.Finish(refused ? *refused : write(), context));
  });
  return reactor;
}

grpc::ServerUnaryReactor* RelatedService::UpsertArticles(
    grpc::CallbackServerContext* context,
    const v1::UpsertArticlesRequest* request,
    v1::UpsertArticlesResponse* response) {
  return Write(context, upsert_articles_, [this, request, response] {
    absl::Status status = Upsert(request->articles(), nullptr);
    if (status.ok()) response->set_upserted(request->articles_size());
    return ToGrpcStatus(status);
  });
}

grpc::ServerUnaryReactor* RelatedService::DeleteArticles(
    grpc::CallbackServerContext* context,
    const v1::DeleteArticlesRequest* request,
    v1::DeleteArticlesResponse* response) {
  return Write(context, delete_articles_, [this, request, response] {
    auto deleted = texts_.Delete(IdsFromProto(request->article_ids()),
                                 [this](const std::vector<ArticleId>& ids) {
                                   return writer_->Delete(ids);
                                 });
    if (deleted.ok()) {
      response->set_deleted(*deleted);
      metrics_.RecordWrites(0, *deleted);
      metrics_.SetIndexStats(index_);
    }
    return ToGrpcStatus(deleted.status());
  });
}

// An import stream: each batch is applied on the write worker, and the next
// one is read once it is. The whole stream is one bulk load: the related
// lists of its articles are built when it ends, before the call returns,
// however it ends (batches applied before a failure stay applied).
class RelatedService::ImportReactor final
    : public grpc::ServerReadReactor<v1::ImportArticlesRequest> {
 public:
  ImportReactor(RelatedService& service, grpc::CallbackServerContext* context,
                v1::ImportArticlesResponse* response)
      : service_(service),
        context_(context),
        response_(response),
        recorder_(service.import_articles_) {
    if (auto refused = service_.Refuse(context_, Access::kWrite)) {
      Finish(recorder_.Finish(*refused, context_));
      return;
    }
    import_ = service_.writer_->StartImport();
    StartRead(&batch_);
  }

  void OnReadDone(bool ok) override {
    // !ok: the client finished the stream, or went away.
    service_.writes_.Post([this, ok] { ok ? Apply() : End(grpc::Status::OK); });
  }

  void OnDone() override { delete this; }

 private:
  void Apply() {
    if (auto refused = service_.Refuse(context_, Access::kWrite)) {
      return End(*refused);
    }
    absl::Status status = service_.Upsert(batch_.articles(), import_.get());
    if (!status.ok()) {
      // Say how far the import got, so the client can resume after fixing
      // the batch.
      return End(ToGrpcStatus(absl::Status(
          status.code(),
          absl::StrCat("batch ", response_->batches(), ": ", status.message(),
                       " (", response_->upserted(),
                       " articles from earlier batches were imported)"))));
    }
    response_->set_batches(response_->batches() + 1);
    response_->set_upserted(response_->upserted() + batch_.articles_size());
    StartRead(&batch_);
  }

  void End(const grpc::Status& status) {
    import_->Finish();
    service_.texts_.ImportEnded();
    ReleaseFreedMemory();  // what the batches used
    service_.metrics_.SetIndexStats(service_.index_);
    Finish(recorder_.Finish(status, context_));
  }

  RelatedService& service_;
  grpc::CallbackServerContext* const context_;
  v1::ImportArticlesResponse* const response_;
  RequestRecorder recorder_;
  v1::ImportArticlesRequest batch_;
  std::unique_ptr<ArticleWriter::Import> import_;
};

grpc::ServerReadReactor<v1::ImportArticlesRequest>*
RelatedService::ImportArticles(grpc::CallbackServerContext* context,
                               v1::ImportArticlesResponse* response) {
  return new ImportReactor(*this, context, response);
}

grpc::ServerUnaryReactor* RelatedService::GetArticle(
    grpc::CallbackServerContext* context, const v1::GetArticleRequest* request,
    v1::GetArticleResponse* response) {
  RequestRecorder recorder(get_article_);
  recorder.set_article_id(request->article_id());
  if (auto refused = Refuse(context, Access::kRead)) {
    return Finish(context, recorder, *refused);
  }
  auto article = index_.Get(request->article_id());
  if (article.ok()) {
    ArticleToProto(*article, request->include_embedding(),
                   request->include_text(), response->mutable_article());
  }
  return Finish(
      context, recorder,
      ToGrpcStatus(Explained(article.status(), request->article_id())));
}

grpc::ServerUnaryReactor* RelatedService::GetStats(
    grpc::CallbackServerContext* context,
    const v1::GetStatsRequest* /*request*/, v1::GetStatsResponse* response) {
  RequestRecorder recorder(get_stats_);
  if (auto refused = Refuse(context, Access::kRead)) {
    return Finish(context, recorder, *refused);
  }
  StatsToProto(index_.Stats(), index_.options(), response);
  if (const auto model = embedding_.model()) {
    response->set_embedder_model(model->identity());
    response->set_embedder_description(model->description());
  }
  response->set_max_text_bytes(embedding_.max_text_bytes());
  response->set_held_text_articles(texts_.held());
  response->set_embedder_train_after(texts_.train_after());
  return Finish(context, recorder, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RelatedService::Ping(
    grpc::CallbackServerContext* context, const v1::PingRequest* /*request*/,
    v1::PingResponse* /*response*/) {
  RequestRecorder recorder(ping_);
  return Finish(context, recorder, grpc::Status::OK);
}

}  // namespace related
