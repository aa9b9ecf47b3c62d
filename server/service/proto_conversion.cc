#include "server/service/proto_conversion.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace related {
namespace {

// The range google.protobuf.Timestamp documents: 0001-01-01 to 9999-12-31.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

absl::StatusOr<ArticleMetadata> MetadataFromProto(
    const v1::ArticleMetadata& proto, absl::string_view field) {
  ArticleMetadata metadata;
  metadata.title = proto.title();
  metadata.url = proto.url();
  metadata.section = proto.section();
  metadata.language = proto.language();
  if (proto.has_published_at()) {
    const auto& ts = proto.published_at();
    if (ts.seconds() < kMinTimestampSeconds ||
        ts.seconds() > kMaxTimestampSeconds || ts.nanos() < 0 ||
        ts.nanos() > 999999999) {
      return absl::InvalidArgumentError(absl::StrCat(
          field,
          ".metadata.published_at: outside 0001-01-01..9999-12-31 or "
          "nanos outside 0..999999999"));
    }
    metadata.published_at =
        absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  }
  metadata.attributes.insert(proto.attributes().begin(),
                             proto.attributes().end());
  return metadata;
}

void MetadataToProto(const ArticleMetadata& metadata,
                     v1::ArticleMetadata* proto) {
  proto->set_title(metadata.title);
  proto->set_url(metadata.url);
  proto->set_section(metadata.section);
  proto->set_language(metadata.language);
  if (metadata.published_at.has_value()) {
    const absl::Duration since_epoch =
        *metadata.published_at - absl::UnixEpoch();
    const int64_t seconds =
        absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
    proto->mutable_published_at()->set_seconds(seconds);
    proto->mutable_published_at()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
  }
  proto->mutable_attributes()->insert(metadata.attributes.begin(),
                                      metadata.attributes.end());
}

}  // namespace

absl::StatusOr<Article> ArticleFromProto(const v1::Article& proto,
                                         absl::string_view field) {
  auto metadata = MetadataFromProto(proto.metadata(), field);
  if (!metadata.ok()) return metadata.status();
  return Article{proto.id(),
                 {proto.embedding().begin(), proto.embedding().end()},
                 *std::move(metadata)};
}

absl::StatusOr<std::vector<Article>> ArticlesFromProto(
    const google::protobuf::RepeatedPtrField<v1::Article>& protos) {
  std::vector<Article> articles;
  articles.reserve(protos.size());
  for (int i = 0; i < protos.size(); ++i) {
    auto article =
        ArticleFromProto(protos[i], absl::StrCat("articles[", i, "]"));
    if (!article.ok()) return article.status();
    articles.push_back(*std::move(article));
  }
  return articles;
}

void ArticleToProto(const Article& article, bool include_embedding,
                    v1::Article* proto) {
  proto->set_id(article.id);
  if (include_embedding) {
    proto->mutable_embedding()->Add(article.embedding.begin(),
                                    article.embedding.end());
  }
  MetadataToProto(article.metadata, proto->mutable_metadata());
}

void RelatedToProto(
    const std::vector<RelatedArticle>& related,
    google::protobuf::RepeatedPtrField<v1::RelatedArticle>* out) {
  out->Reserve(static_cast<int>(related.size()));
  for (const RelatedArticle& r : related) {
    v1::RelatedArticle* item = out->Add();
    item->set_article_id(r.id);
    item->set_score(r.score);
    MetadataToProto(r.metadata, item->mutable_metadata());
  }
}

void StatsToProto(const IndexStats& stats, const ArticleIndexOptions& options,
                  v1::GetStatsResponse* proto) {
  proto->set_article_count(stats.article_count);
  proto->set_dimension(stats.dimension);
  proto->set_index_kind(std::string(IndexKindName(stats.index_kind)));
  proto->set_index_memory_bytes(stats.index_memory_bytes);
  proto->set_default_limit(options.default_limit);
  proto->set_max_limit(options.max_limit);
  proto->set_max_batch_size(options.max_batch_size);
  proto->set_max_id_bytes(options.max_id_bytes);
}

std::vector<ArticleId> IdsFromProto(
    const google::protobuf::RepeatedPtrField<std::string>& ids) {
  return {ids.begin(), ids.end()};
}

}  // namespace related
