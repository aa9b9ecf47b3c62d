#include "client/related_client.h"

#include <grpc/grpc.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "related/v1/related.grpc.pb.h"

namespace related::client {
namespace {

// How the channel spreads and retries calls (gRPC service config).
//
// round_robin: gRPC's default, pick_first, sends every call to the first
// address that answers, so against a replicated deployment's headless
// Service one client would load one replica. round_robin keeps a
// connection to each address and takes them in turn; for one address it
// is the same.
//
// Reads that fail with UNAVAILABLE are tried again, up to 3 attempts within
// the call's deadline: the replica was stopped, killed, or is recovering
// (it answers UNAVAILABLE until it has caught up), and the next attempt
// goes to the next ready address. Writes are not retried here: a write
// that failed with UNAVAILABLE may still be applied (docs/replication.md),
// and whether to send it again is the caller's decision.
constexpr char kServiceConfig[] = R"json({
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [
      {"service": "related.v1.RelatedArticles", "method": "GetRelated"},
      {"service": "related.v1.RelatedArticles", "method": "BatchGetRelated"},
      {"service": "related.v1.RelatedArticles", "method": "SearchByVector"},
      {"service": "related.v1.RelatedArticles", "method": "GetArticle"},
      {"service": "related.v1.RelatedArticles", "method": "GetStats"},
      {"service": "related.v1.RelatedArticles", "method": "Ping"}
    ],
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.02s",
      "maxBackoff": "0.2s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})json";

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

void SetToken(grpc::ClientContext& context, const std::string& token) {
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
}

absl::StatusOr<std::string> ReadFile(const char* what,
                                     const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read the TLS ", what, " ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const std::optional<ClientTlsOptions>& tls) {
  if (!tls.has_value()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!tls->root_ca_file.empty()) {
    auto roots = ReadFile("root CA file", tls->root_ca_file);
    if (!roots.ok()) return roots.status();
    ssl.pem_root_certs = *std::move(roots);
  }
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    return absl::FailedPreconditionError(
        "a TLS client certificate needs both cert_file and key_file");
  }
  if (!tls->cert_file.empty()) {
    auto cert = ReadFile("certificate file", tls->cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadFile("key file", tls->key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& proto) {
  return absl::FromUnixSeconds(proto.seconds()) +
         absl::Nanoseconds(proto.nanos());
}

void TimeToProto(absl::Time time, google::protobuf::Timestamp* proto) {
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const int64_t seconds =
      absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
}

absl::Duration DurationFromProto(const google::protobuf::Duration& proto) {
  return absl::Seconds(proto.seconds()) + absl::Nanoseconds(proto.nanos());
}

// google.protobuf.Duration wants seconds and nanos of the same sign.
void DurationToProto(absl::Duration duration,
                     google::protobuf::Duration* proto) {
  const int64_t seconds =
      absl::ToInt64Seconds(absl::Trunc(duration, absl::Seconds(1)));
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(duration - absl::Seconds(seconds))));
}

Metadata MetadataFromProto(const v1::ArticleMetadata& proto) {
  Metadata m{
      proto.title(),   proto.url(),
      proto.section(), proto.language(),
      std::nullopt,    {proto.attributes().begin(), proto.attributes().end()}};
  if (proto.has_published_at()) {
    m.published_at = TimeFromProto(proto.published_at());
  }
  return m;
}

void MetadataToProto(const Metadata& m, v1::ArticleMetadata* proto) {
  proto->set_title(m.title);
  proto->set_url(m.url);
  proto->set_section(m.section);
  proto->set_language(m.language);
  if (m.published_at.has_value()) {
    TimeToProto(*m.published_at, proto->mutable_published_at());
  }
  proto->mutable_attributes()->insert(m.attributes.begin(), m.attributes.end());
}

// Only the controls the caller set go on the wire: an absent field is what
// tells the server to apply its default.
void PolicyToProto(const RankingPolicy& policy, v1::RankingPolicy* proto) {
  proto->mutable_sections()->Add(policy.sections.begin(),
                                 policy.sections.end());
  proto->mutable_exclude_sections()->Add(policy.exclude_sections.begin(),
                                         policy.exclude_sections.end());
  proto->mutable_languages()->Add(policy.languages.begin(),
                                  policy.languages.end());
  if (policy.same_language.has_value()) {
    proto->mutable_same_language()->set_value(*policy.same_language);
  }
  if (policy.published_after.has_value()) {
    TimeToProto(*policy.published_after, proto->mutable_published_after());
  }
  if (policy.published_before.has_value()) {
    TimeToProto(*policy.published_before, proto->mutable_published_before());
  }
  if (policy.max_age.has_value()) {
    DurationToProto(*policy.max_age, proto->mutable_max_age());
  }
  proto->mutable_required_attributes()->insert(
      policy.required_attributes.begin(), policy.required_attributes.end());
  if (policy.min_score.has_value()) {
    proto->mutable_min_score()->set_value(*policy.min_score);
  }
  if (policy.duplicate_threshold.has_value()) {
    proto->mutable_duplicate_threshold()->set_value(
        *policy.duplicate_threshold);
  }
  if (policy.diversity_lambda.has_value()) {
    proto->mutable_diversity_lambda()->set_value(*policy.diversity_lambda);
  }
  if (policy.recency_half_life.has_value()) {
    DurationToProto(*policy.recency_half_life,
                    proto->mutable_recency_half_life());
  }
  if (policy.recency_weight.has_value()) {
    proto->mutable_recency_weight()->set_value(*policy.recency_weight);
  }
  if (policy.now.has_value()) TimeToProto(*policy.now, proto->mutable_now());
  proto->set_candidates(policy.candidates);
  proto->set_debug(policy.debug);
}

RankingPolicy PolicyFromProto(const v1::RankingPolicy& proto) {
  RankingPolicy policy;
  policy.sections = {proto.sections().begin(), proto.sections().end()};
  policy.exclude_sections = {proto.exclude_sections().begin(),
                             proto.exclude_sections().end()};
  policy.languages = {proto.languages().begin(), proto.languages().end()};
  if (proto.has_same_language()) {
    policy.same_language = proto.same_language().value();
  }
  if (proto.has_published_after()) {
    policy.published_after = TimeFromProto(proto.published_after());
  }
  if (proto.has_published_before()) {
    policy.published_before = TimeFromProto(proto.published_before());
  }
  if (proto.has_max_age()) policy.max_age = DurationFromProto(proto.max_age());
  policy.required_attributes = {proto.required_attributes().begin(),
                                proto.required_attributes().end()};
  if (proto.has_min_score()) policy.min_score = proto.min_score().value();
  if (proto.has_duplicate_threshold()) {
    policy.duplicate_threshold = proto.duplicate_threshold().value();
  }
  if (proto.has_diversity_lambda()) {
    policy.diversity_lambda = proto.diversity_lambda().value();
  }
  if (proto.has_recency_half_life()) {
    policy.recency_half_life = DurationFromProto(proto.recency_half_life());
  }
  if (proto.has_recency_weight()) {
    policy.recency_weight = proto.recency_weight().value();
  }
  if (proto.has_now()) policy.now = TimeFromProto(proto.now());
  policy.candidates = proto.candidates();
  policy.debug = proto.debug();
  return policy;
}

RankingDebug DebugFromProto(const v1::RankingDebug& proto) {
  RankingDebug debug;
  debug.applied_policy = PolicyFromProto(proto.applied_policy());
  debug.removed_by_section = proto.removed_by_section();
  debug.removed_by_language = proto.removed_by_language();
  debug.removed_by_date = proto.removed_by_date();
  debug.removed_by_attributes = proto.removed_by_attributes();
  debug.removed_by_exclude_ids = proto.removed_by_exclude_ids();
  debug.removed_by_min_score = proto.removed_by_min_score();
  debug.removed_as_near_duplicate = proto.removed_as_near_duplicate();
  debug.candidates_considered = proto.candidates_considered();
  debug.search_rounds = proto.search_rounds();
  debug.precomputed = proto.precomputed();
  return debug;
}

void ArticlesToProto(const std::vector<Article>& articles,
                     google::protobuf::RepeatedPtrField<v1::Article>* protos) {
  for (const Article& article : articles) {
    v1::Article* proto = protos->Add();
    proto->set_id(article.id);
    proto->mutable_embedding()->Add(article.embedding.begin(),
                                    article.embedding.end());
    MetadataToProto(article.metadata, proto->mutable_metadata());
    proto->set_text(article.text);
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

// GetRelatedResponse and SearchByVectorResponse carry the same two fields.
template <typename Response>
RelatedList RelatedListFromProto(const Response& response) {
  RelatedList list{RelatedFromProto(response.articles()), std::nullopt};
  if (response.has_debug()) list.debug = DebugFromProto(response.debug());
  return list;
}

// What StartImport returns when the client could not be set up.
class FailedImporter : public Importer {
 public:
  explicit FailedImporter(absl::Status status) : status_(std::move(status)) {}
  absl::Status Send(const std::vector<Article>&) override { return status_; }
  absl::StatusOr<ImportSummary> Finish() override { return status_; }

 private:
  absl::Status status_;
};

class StreamImporter : public Importer {
 public:
  StreamImporter(v1::RelatedArticles::Stub& stub, absl::Duration timeout,
                 const std::string& token) {
    SetDeadline(context_, timeout);
    SetToken(context_, token);
    writer_ = stub.ImportArticles(&context_, &response_);
  }

  absl::Status Send(const std::vector<Article>& batch) override {
    v1::ImportArticlesRequest request;
    ArticlesToProto(batch, request.mutable_articles());
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
  std::unique_ptr<grpc::ClientWriter<v1::ImportArticlesRequest>> writer_;
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
  args.SetServiceConfigJSON(kServiceConfig);
  // This client's service config is the one that applies, not one a DNS
  // TXT record might publish.
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  if (options.tls.has_value() && !options.tls->target_name_override.empty()) {
    args.SetSslTargetNameOverride(options.tls->target_name_override);
  }
  auto credentials = ChannelCredentials(options.tls);
  if (!credentials.ok()) {
    // Calls fail with this status before touching the channel, which is
    // created only so that the stubs are never null.
    setup_status_ = credentials.status();
    credentials = grpc::InsecureChannelCredentials();
  }
  stubs_->channel =
      grpc::CreateCustomChannel(options.address, *credentials, args);
  stubs_->related = v1::RelatedArticles::NewStub(stubs_->channel);
  stubs_->health = grpc::health::v1::Health::NewStub(stubs_->channel);
}

RelatedClient::~RelatedClient() = default;

absl::Status RelatedClient::Prepare(grpc::ClientContext& context) const {
  if (!setup_status_.ok()) return setup_status_;
  SetDeadline(context, options_.timeout);
  SetToken(context, options_.bearer_token);
  return absl::OkStatus();
}

absl::StatusOr<RelatedList> RelatedClient::Related(
    const std::string& article_id, int limit,
    const std::vector<std::string>& exclude_ids, const RankingPolicy& policy) {
  v1::GetRelatedRequest request;
  request.set_article_id(article_id);
  request.set_limit(limit);
  request.mutable_exclude_ids()->Add(exclude_ids.begin(), exclude_ids.end());
  PolicyToProto(policy, request.mutable_policy());
  v1::GetRelatedResponse response;
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
  grpc::Status status =
      stubs_->related->GetRelated(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return RelatedListFromProto(response);
}

absl::StatusOr<std::vector<BatchItem>> RelatedClient::BatchRelated(
    const std::vector<std::string>& article_ids, int limit,
    const std::vector<std::string>& exclude_ids, const RankingPolicy& policy) {
  v1::BatchGetRelatedRequest request;
  request.mutable_article_ids()->Add(article_ids.begin(), article_ids.end());
  request.set_limit(limit);
  request.mutable_exclude_ids()->Add(exclude_ids.begin(), exclude_ids.end());
  PolicyToProto(policy, request.mutable_policy());
  v1::BatchGetRelatedResponse response;
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
  grpc::Status status =
      stubs_->related->BatchGetRelated(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  std::vector<BatchItem> items;
  for (const auto& result : response.results()) {
    BatchItem item{result.article_id(),
                   absl::Status(static_cast<absl::StatusCode>(result.code()),
                                result.error_message()),
                   RelatedFromProto(result.articles()), std::nullopt};
    if (result.has_debug()) item.debug = DebugFromProto(result.debug());
    items.push_back(std::move(item));
  }
  return items;
}

absl::StatusOr<RelatedList> RelatedClient::SearchByVector(
    const std::vector<float>& embedding, int limit,
    const std::vector<std::string>& exclude_ids, const RankingPolicy& policy) {
  v1::SearchByVectorRequest request;
  request.mutable_embedding()->Add(embedding.begin(), embedding.end());
  request.set_limit(limit);
  request.mutable_exclude_ids()->Add(exclude_ids.begin(), exclude_ids.end());
  PolicyToProto(policy, request.mutable_policy());
  v1::SearchByVectorResponse response;
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
  grpc::Status status =
      stubs_->related->SearchByVector(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return RelatedListFromProto(response);
}

absl::StatusOr<int> RelatedClient::Upsert(
    const std::vector<Article>& articles) {
  v1::UpsertArticlesRequest request;
  ArticlesToProto(articles, request.mutable_articles());
  v1::UpsertArticlesResponse response;
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
  grpc::Status status =
      stubs_->related->UpsertArticles(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response.upserted();
}

std::unique_ptr<Importer> RelatedClient::StartImport(absl::Duration timeout) {
  if (!setup_status_.ok()) {
    return std::make_unique<FailedImporter>(setup_status_);
  }
  return std::make_unique<StreamImporter>(*stubs_->related, timeout,
                                          options_.bearer_token);
}

absl::StatusOr<int> RelatedClient::Delete(
    const std::vector<std::string>& article_ids) {
  v1::DeleteArticlesRequest request;
  request.mutable_article_ids()->Add(article_ids.begin(), article_ids.end());
  v1::DeleteArticlesResponse response;
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
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
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
  grpc::Status status =
      stubs_->related->GetArticle(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  const v1::Article& a = response.article();
  return Article{a.id(),
                 {a.embedding().begin(), a.embedding().end()},
                 MetadataFromProto(a.metadata()),
                 a.text()};
}

absl::StatusOr<Stats> RelatedClient::GetStats() {
  v1::GetStatsResponse response;
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
  grpc::Status status =
      stubs_->related->GetStats(&context, v1::GetStatsRequest(), &response);
  if (!status.ok()) return FromGrpc(status);
  return Stats{response.article_count(),
               response.dimension(),
               response.index_kind(),
               response.index_memory_bytes(),
               response.default_limit(),
               response.max_limit(),
               response.max_batch_size(),
               response.max_id_bytes(),
               response.max_metadata_bytes(),
               response.related_lists_precomputed(),
               response.related_lists_memory_bytes(),
               response.related_lists_stale(),
               response.embedder_model(),
               response.max_text_bytes(),
               response.held_text_articles(),
               response.embedder_train_after()};
}

absl::Status RelatedClient::Ping() {
  v1::PingResponse response;
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
  return FromGrpc(
      stubs_->related->Ping(&context, v1::PingRequest(), &response));
}

absl::StatusOr<std::string> RelatedClient::Health(const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(context); !ready.ok()) return ready;
  grpc::Status status = stubs_->health->Check(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
      response.status());
}

absl::Status RelatedClient::WaitUntilServing(absl::Duration timeout) {
  // Check with wait_for_ready rides out a server that is still binding its
  // port. (Health's Watch stream would avoid the pause below, but an open
  // Watch holds up the server's shutdown drain by seconds.)
  if (!setup_status_.ok()) return setup_status_;
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
