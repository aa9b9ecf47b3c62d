// GetRelated's response written straight from the index's results into
// protobuf wire form, without building a GetRelatedResponse first.
//
// Why: building the response message for a box of ten (ten RelatedArticle
// and ten ArticleMetadata messages, about fifty strings allocated and
// copied), serialising it and destroying it cost more server time than the
// precomputed lookup itself; writing the same bytes directly needs one
// buffer. The bytes are what GetRelatedResponse's own serialisation would
// produce for the same values (field numbers come from the generated code;
// tests/service/related_encoding_test.cc parses them back and compares),
// so callers see no difference.
#ifndef RELATED_SERVER_SERVICE_RELATED_ENCODING_H_
#define RELATED_SERVER_SERVICE_RELATED_ENCODING_H_

#include <string>
#include <vector>

#include "related/v1/related.pb.h"
#include "server/core/article.h"
#include "server/core/article_cards.h"

namespace related {

// Appends one article, from its card, as an element of the `articles` field
// of a GetRelatedResponse (as RelatedToProto would fill it).
void AppendRelatedArticle(const ArticleCard& card, float score,
                          std::string& out);

// Appends `related` as the `articles` field of a GetRelatedResponse, in
// order, each with its metadata (as RelatedToProto would fill it).
void AppendRelatedArticles(const std::vector<RelatedArticle>& related,
                           std::string& out);

// Appends `debug` as the `debug` field of a GetRelatedResponse.
void AppendRankingDebug(const v1::RankingDebug& debug, std::string& out);

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_RELATED_ENCODING_H_
