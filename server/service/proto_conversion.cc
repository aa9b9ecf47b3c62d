#include "server/service/proto_conversion.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace related {
namespace {

// The range google.protobuf.Timestamp documents: 0001-01-01 to 9999-12-31.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

absl::StatusOr<absl::Time> TimeFromProto(const google::protobuf::Timestamp& ts,
                                         absl::string_view field) {
  if (ts.seconds() < kMinTimestampSeconds ||
      ts.seconds() > kMaxTimestampSeconds || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ": outside 0001-01-01..9999-12-31 or nanos outside "
                     "0..999999999"));
  }
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// The range google.protobuf.Duration documents: about +-10,000 years.
constexpr int64_t kMaxDurationSeconds = 315576000000;

absl::StatusOr<absl::Duration> DurationFromProto(
    const google::protobuf::Duration& d, absl::string_view field) {
  if (d.seconds() < -kMaxDurationSeconds || d.seconds() > kMaxDurationSeconds ||
      d.nanos() < -999999999 || d.nanos() > 999999999 ||
      (d.seconds() > 0 && d.nanos() < 0) ||
      (d.seconds() < 0 && d.nanos() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field,
        ": not a valid duration (seconds within +-315576000000, nanos "
        "within +-999999999 with the same sign)"));
  }
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void DurationToProto(absl::Duration d, google::protobuf::Duration* proto) {
  const int64_t seconds =
      absl::ToInt64Seconds(absl::Trunc(d, absl::Seconds(1)));
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(d - absl::Seconds(seconds))));
}

absl::StatusOr<ArticleMetadata> MetadataFromProto(
    const v1::ArticleMetadata& proto, absl::string_view field) {
  ArticleMetadata metadata;
  metadata.title = proto.title();
  metadata.url = proto.url();
  metadata.section = proto.section();
  metadata.language = proto.language();
  if (proto.has_published_at()) {
    auto published_at = TimeFromProto(
        proto.published_at(), absl::StrCat(field, ".metadata.published_at"));
    if (!published_at.ok()) return published_at.status();
    metadata.published_at = *published_at;
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
    TimeToProto(*metadata.published_at, proto->mutable_published_at());
  }
  proto->mutable_attributes()->insert(metadata.attributes.begin(),
                                      metadata.attributes.end());
}

}  // namespace

void TimeToProto(absl::Time t, google::protobuf::Timestamp* proto) {
  const absl::Duration since_epoch = t - absl::UnixEpoch();
  const int64_t seconds =
      absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
}

absl::StatusOr<Article> ArticleFromProto(const v1::Article& proto,
                                         absl::string_view field) {
  auto metadata = MetadataFromProto(proto.metadata(), field);
  if (!metadata.ok()) return metadata.status();
  return Article{proto.id(),
                 {proto.embedding().begin(), proto.embedding().end()},
                 *std::move(metadata), proto.text()};
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
                    bool include_text, v1::Article* proto) {
  if (include_text) proto->set_text(article.text);
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
    MetadataToProto(*r.metadata, item->mutable_metadata());
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
  proto->set_max_metadata_bytes(options.max_metadata_bytes);
  proto->set_related_lists_precomputed(stats.related_lists_precomputed);
  proto->set_related_lists_memory_bytes(stats.related_lists_memory_bytes);
  proto->set_related_lists_stale(stats.related_lists_stale);
  // Deprecated in the API (the Prometheus gauges carry them now), still
  // filled for clients built against an older related.proto.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  proto->set_cards_memory_bytes(stats.cards_memory_bytes);
  proto->set_card_pages_per_box(stats.card_pages_per_box);
  proto->set_card_layout_seconds(stats.card_layout_seconds);
  proto->set_card_layout_pause_seconds(stats.card_layout_pause_seconds);
#pragma GCC diagnostic pop
}

absl::StatusOr<RankingPolicy> PolicyFromProto(const v1::RankingPolicy& proto,
                                              const RankingPolicy& defaults) {
  RankingPolicy policy = defaults;
  // Lists replace the default list when given.
  if (proto.sections_size() > 0)
    policy.sections = {proto.sections().begin(), proto.sections().end()};
  if (proto.exclude_sections_size() > 0) {
    policy.exclude_sections = {proto.exclude_sections().begin(),
                               proto.exclude_sections().end()};
  }
  if (proto.languages_size() > 0) {
    policy.languages = {proto.languages().begin(), proto.languages().end()};
  }
  if (proto.has_same_language()) {
    policy.same_language = proto.same_language().value();
  }
  if (!proto.required_attributes().empty()) {
    policy.required_attributes = {proto.required_attributes().begin(),
                                  proto.required_attributes().end()};
  }
  struct TimeField {
    bool present;
    const google::protobuf::Timestamp& value;
    const char* name;
    std::optional<absl::Time>& target;
  };
  for (TimeField f :
       {TimeField{proto.has_published_after(), proto.published_after(),
                  "policy.published_after", policy.published_after},
        TimeField{proto.has_published_before(), proto.published_before(),
                  "policy.published_before", policy.published_before},
        TimeField{proto.has_now(), proto.now(), "policy.now", policy.now}}) {
    if (!f.present) continue;
    auto t = TimeFromProto(f.value, f.name);
    if (!t.ok()) return t.status();
    f.target = *t;
  }
  struct DurationField {
    bool present;
    const google::protobuf::Duration& value;
    const char* name;
    std::optional<absl::Duration>& target;
  };
  for (DurationField f :
       {DurationField{proto.has_max_age(), proto.max_age(), "policy.max_age",
                      policy.max_age},
        DurationField{proto.has_recency_half_life(), proto.recency_half_life(),
                      "policy.recency_half_life", policy.recency_half_life}}) {
    if (!f.present) continue;
    auto d = DurationFromProto(f.value, f.name);
    if (!d.ok()) return d.status();
    f.target = *d;
  }
  if (proto.has_min_score()) policy.min_score = proto.min_score().value();
  if (proto.has_duplicate_threshold()) {
    policy.duplicate_threshold = proto.duplicate_threshold().value();
  }
  if (proto.has_diversity_lambda())
    policy.diversity_lambda = proto.diversity_lambda().value();
  if (proto.has_recency_weight())
    policy.recency_weight = proto.recency_weight().value();
  if (proto.candidates() != 0) policy.candidates = proto.candidates();
  return policy;
}

void DebugToProto(const RankingDebug& debug, const RankingPolicy& applied,
                  v1::RankingDebug* proto) {
  v1::RankingPolicy* p = proto->mutable_applied_policy();
  p->mutable_sections()->Add(applied.sections.begin(), applied.sections.end());
  p->mutable_exclude_sections()->Add(applied.exclude_sections.begin(),
                                     applied.exclude_sections.end());
  p->mutable_languages()->Add(applied.languages.begin(),
                              applied.languages.end());
  p->mutable_same_language()->set_value(applied.same_language);
  if (applied.published_after)
    TimeToProto(*applied.published_after, p->mutable_published_after());
  if (applied.published_before) {
    TimeToProto(*applied.published_before, p->mutable_published_before());
  }
  if (applied.max_age) DurationToProto(*applied.max_age, p->mutable_max_age());
  p->mutable_required_attributes()->insert(applied.required_attributes.begin(),
                                           applied.required_attributes.end());
  if (applied.min_score) p->mutable_min_score()->set_value(*applied.min_score);
  if (applied.duplicate_threshold) {
    p->mutable_duplicate_threshold()->set_value(*applied.duplicate_threshold);
  }
  p->mutable_diversity_lambda()->set_value(applied.diversity_lambda);
  if (applied.recency_half_life) {
    DurationToProto(*applied.recency_half_life, p->mutable_recency_half_life());
  }
  p->mutable_recency_weight()->set_value(applied.recency_weight);
  // The clock actually used, also when the request left it to the server.
  TimeToProto(applied.now.value_or(debug.now), p->mutable_now());
  p->set_candidates(applied.candidates);
  p->set_debug(true);
  proto->set_removed_by_section(debug.removed_by_section);
  proto->set_removed_by_language(debug.removed_by_language);
  proto->set_removed_by_date(debug.removed_by_date);
  proto->set_removed_by_attributes(debug.removed_by_attributes);
  proto->set_removed_by_exclude_ids(debug.removed_by_exclude_ids);
  proto->set_removed_by_min_score(debug.removed_by_min_score);
  proto->set_removed_as_near_duplicate(debug.removed_as_near_duplicate);
  proto->set_candidates_considered(debug.candidates_considered);
  proto->set_search_rounds(debug.search_rounds);
  proto->set_precomputed(debug.precomputed);
}

std::vector<ArticleId> IdsFromProto(
    const google::protobuf::RepeatedPtrField<std::string>& ids) {
  return {ids.begin(), ids.end()};
}

}  // namespace related
