// Conversions between the public API's messages and the core's types: the
// only place that knows both.
#ifndef RELATED_SERVER_SERVICE_PROTO_CONVERSION_H_
#define RELATED_SERVER_SERVICE_PROTO_CONVERSION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "related/v1/related.pb.h"
#include "server/core/article.h"
#include "server/core/article_index.h"
#include "server/core/ranking_policy.h"

namespace related {

// INVALID_ARGUMENT naming `field` (e.g. "articles[2]") if the metadata's
// timestamp is out of range.
absl::StatusOr<Article> ArticleFromProto(const v1::Article& proto,
                                         absl::string_view field);
absl::StatusOr<std::vector<Article>> ArticlesFromProto(
    const google::protobuf::RepeatedPtrField<v1::Article>& protos);

// Whole seconds rounded down and the nanoseconds after them (0..999999999),
// as google.protobuf.Timestamp counts them.
void TimeToProto(absl::Time t, google::protobuf::Timestamp* proto);

void ArticleToProto(const Article& article, bool include_embedding,
                    bool include_text, v1::Article* proto);
void RelatedToProto(
    const std::vector<RelatedArticle>& related,
    google::protobuf::RepeatedPtrField<v1::RelatedArticle>* out);
void StatsToProto(const IndexStats& stats, const ArticleIndexOptions& options,
                  v1::GetStatsResponse* proto);

// The request's policy layered over `defaults`: each control the request
// sets replaces the default. INVALID_ARGUMENT naming "policy.<field>" for a
// malformed timestamp or duration (value ranges are the core's to check).
absl::StatusOr<RankingPolicy> PolicyFromProto(const v1::RankingPolicy& proto,
                                              const RankingPolicy& defaults);
// What a debug response carries: the applied policy and the removal counts.
void DebugToProto(const RankingDebug& debug, const RankingPolicy& applied,
                  v1::RankingDebug* proto);

std::vector<ArticleId> IdsFromProto(
    const google::protobuf::RepeatedPtrField<std::string>& ids);

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_PROTO_CONVERSION_H_
