#include "client/related_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "related/v1/related.grpc.pb.h"

namespace related::client {
namespace {

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

Metadata MetadataFromProto(const v1::ArticleMetadata& proto) {
  Metadata m{
      proto.title(),   proto.url(),
      proto.section(), proto.language(),
      std::nullopt,    {proto.attributes().begin(), proto.attributes().end()}};
  if (proto.has_published_at()) {
    m.published_at = absl::FromUnixSeconds(proto.published_at().seconds()) +
                     absl::Nanoseconds(proto.published_at().nanos());
  }
  return m;
}

void MetadataToProto(const Metadata& m, v1::ArticleMetadata* proto) {
  proto->set_title(m.title);
  proto->set_url(m.url);
  proto->set_section(m.section);
  proto->set_language(m.language);
  if (m.published_at.has_value()) {
    const absl::Duration since_epoch = *m.published_at - absl::UnixEpoch();
    const int64_t seconds =
        absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
    proto->mutable_published_at()->set_seconds(seconds);
    proto->mutable_published_at()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
  }
  proto->mutable_attributes()->insert(m.attributes.begin(), m.attributes.end());
}

void ArticlesToProto(const std::vector<Article>& articles,
                     v1::UpsertArticlesRequest* request) {
  for (const Article& article : articles) {
    v1::Article* proto = request->add_articles();
    proto->set_id(article.id);
    proto->mutable_embedding()->Add(article.embedding.begin(),
                                    article.embedding.end());
    MetadataToProto(article.metadata, proto->mutable_metadata());
  }
}

std::vector<RelatedItem> RelatedFromProto(
    const google::protobuf::RepeatedPtrField<v1::RelatedArticle>& protos) {
  std::vector<RelatedItem> items;
  items.reserve(protos.size());
  for (const auto& p : protos) {
    items.push_back(
        {p.article_id(), p.score(), MetadataFromProto(p.metadata())});
  }
  return items;
}

class StreamImporter : public Importer {
 public:
  StreamImporter(v1::RelatedArticles::Stub& stub, absl::Duration timeout) {
    SetDeadline(context_, timeout);
    writer_ = stub.ImportArticles(&context_, &response_);
  }

  absl::Status Send(const std::vector<Article>& batch) override {
    v1::UpsertArticlesRequest request;
    ArticlesToProto(batch, &request);
    if (!writer_->Write(request)) {
      return absl::UnavailableError(
          "the import stream was closed by the server");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ImportSummary> Finish() override {
    writer_->WritesDone();
    grpc::Status status = writer_->Finish();
    if (!status.ok()) return FromGrpc(status);
    return ImportSummary{response_.upserted(), response_.batches()};
  }

 private:
  grpc::ClientContext context_;
  v1::ImportArticlesResponse response_;
  std::unique_ptr<grpc::ClientWriter<v1::UpsertArticlesRequest>> writer_;
};

}  // namespace

struct RelatedClient::Stubs {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::RelatedArticles::Stub> related;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

RelatedClient::RelatedClient(const ClientOptions& options)
    : options_(options), stubs_(std::make_unique<Stubs>()) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  stubs_->channel = grpc::CreateCustomChannel(
      options.address, grpc::InsecureChannelCredentials(), args);
  stubs_->related = v1::RelatedArticles::NewStub(stubs_->channel);
  stubs_->health = grpc::health::v1::Health::NewStub(stubs_->channel);
}

RelatedClient::~RelatedClient() = default;

absl::StatusOr<std::vector<RelatedItem>> RelatedClient::Related(
    const std::string& article_id, int limit,
    const std::vector<std::string>& exclude_ids) {
  v1::GetRelatedRequest request;
  request.set_article_id(article_id);
  request.set_limit(limit);
  request.mutable_exclude_ids()->Add(exclude_ids.begin(), exclude_ids.end());
  v1::GetRelatedResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  grpc::Status status =
      stubs_->related->GetRelated(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return RelatedFromProto(response.articles());
}

absl::StatusOr<std::vector<BatchItem>> RelatedClient::BatchRelated(
    const std::vector<std::string>& article_ids, int limit,
    const std::vector<std::string>& exclude_ids) {
  v1::BatchGetRelatedRequest request;
  request.mutable_article_ids()->Add(article_ids.begin(), article_ids.end());
  request.set_limit(limit);
  request.mutable_exclude_ids()->Add(exclude_ids.begin(), exclude_ids.end());
  v1::BatchGetRelatedResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  grpc::Status status =
      stubs_->related->BatchGetRelated(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  std::vector<BatchItem> items;
  for (const auto& result : response.results()) {
    items.push_back({result.article_id(),
                     absl::Status(static_cast<absl::StatusCode>(result.code()),
                                  result.error_message()),
                     RelatedFromProto(result.articles())});
  }
  return items;
}

absl::StatusOr<int> RelatedClient::Upsert(
    const std::vector<Article>& articles) {
  v1::UpsertArticlesRequest request;
  ArticlesToProto(articles, &request);
  v1::UpsertArticlesResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  grpc::Status status =
      stubs_->related->UpsertArticles(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response.upserted();
}

std::unique_ptr<Importer> RelatedClient::StartImport(absl::Duration timeout) {
  return std::make_unique<StreamImporter>(*stubs_->related, timeout);
}

absl::StatusOr<int> RelatedClient::Delete(
    const std::vector<std::string>& article_ids) {
  v1::DeleteArticlesRequest request;
  request.mutable_article_ids()->Add(article_ids.begin(), article_ids.end());
  v1::DeleteArticlesResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  grpc::Status status =
      stubs_->related->DeleteArticles(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response.deleted();
}

absl::StatusOr<Article> RelatedClient::GetArticle(const std::string& article_id,
                                                  bool include_embedding) {
  v1::GetArticleRequest request;
  request.set_article_id(article_id);
  request.set_include_embedding(include_embedding);
  v1::GetArticleResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  grpc::Status status =
      stubs_->related->GetArticle(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  const v1::Article& a = response.article();
  return Article{a.id(),
                 {a.embedding().begin(), a.embedding().end()},
                 MetadataFromProto(a.metadata())};
}

absl::StatusOr<Stats> RelatedClient::GetStats() {
  v1::GetStatsResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  grpc::Status status =
      stubs_->related->GetStats(&context, v1::GetStatsRequest(), &response);
  if (!status.ok()) return FromGrpc(status);
  return Stats{response.article_count(),  response.dimension(),
               response.index_kind(),     response.index_memory_bytes(),
               response.default_limit(),  response.max_limit(),
               response.max_batch_size(), response.max_id_bytes()};
}

absl::Status RelatedClient::Ping() {
  v1::PingResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  return FromGrpc(
      stubs_->related->Ping(&context, v1::PingRequest(), &response));
}

absl::StatusOr<std::string> RelatedClient::Health(const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  grpc::Status status = stubs_->health->Check(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
      response.status());
}

absl::Status RelatedClient::WaitUntilServing(absl::Duration timeout) {
  // Check with wait_for_ready rides out a server that is still binding its
  // port. (Health's Watch stream would avoid the pause below, but an open
  // Watch holds up the server's shutdown drain by seconds.)
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::DeadlineExceededError("no answer yet");
  while (absl::Now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    context.set_wait_for_ready(true);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stubs_->health->Check(
        &context, grpc::health::v1::HealthCheckRequest(), &response);
    if (status.ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    last = status.ok() ? absl::UnavailableError("server reports NOT_SERVING")
                       : FromGrpc(status);
    absl::SleepFor(absl::Milliseconds(20));  // bounded by `deadline`
  }
  return last;
}

}  // namespace related::client
