// RelatedLookup: the read side of a related lookup for a stored article.
// It answers from the article's precomputed box when the query allows it
// (the server's default policy, at most the default limit, no exclude_ids;
// docs/performance.md), and by a fresh search (related_search.h) otherwise;
// then it hands out what each boxed article shows: its card.
//
// Reads only: the caller holds the index lock (shared) for the lookup's
// whole life, and validated the query (request_limits.h).
#ifndef RELATED_SERVER_CORE_RELATED_LOOKUP_H_
#define RELATED_SERVER_CORE_RELATED_LOOKUP_H_

#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/core/article_table.h"
#include "server/core/box_source.h"
#include "server/core/index_options.h"
#include "server/core/related_lists.h"
#include "server/core/related_query.h"
#include "server/core/vector_index.h"

namespace related {

// Receives a box's articles, best first: the similarity to the query (in
// [-1, 1]) and the article's card, valid only during the call.
using RelatedVisitor =
    absl::FunctionRef<void(float score, const ArticleCard& card)>;

class RelatedLookup {
 public:
  // `lists` is null when no lists are kept.
  RelatedLookup(const VectorIndex& vectors, const ArticleTable& articles,
                const RelatedLists* lists, const ArticleIndexOptions& options)
      : vectors_(vectors),
        articles_(articles),
        lists_(lists),
        options_(options) {}

  // Finds the box of `query` for the article at `slot` and calls `use` with
  // its first `limit` entries. Returns how the box was ranked.
  using BoxUse = absl::FunctionRef<void(absl::Span<const BoxedArticle> box)>;
  absl::StatusOr<RankingDebug> LookUp(Slot slot, const RelatedQuery& query,
                                      int limit, BoxUse use) const;

  // Hands each entry of `box` to `visit` with the card it shows.
  void Visit(absl::Span<const BoxedArticle> box, RelatedVisitor visit) const;

  // The versions `box`, shown for the article at `slot`, was read from
  // (box_source.h); `precomputed` and `epoch` are the caller's to set.
  BoxSource SourceOf(Slot slot, absl::Span<const BoxedArticle> box) const;
  // Whether every version `source` names is still the current one.
  bool Unchanged(const BoxSource& source) const;
  // The box as the API returns it (the metadata copied out of the cards).
  std::vector<RelatedArticle> ToRelatedArticles(
      absl::Span<const BoxedArticle> box) const;

 private:
  // Whether `query` may be answered from the article's list.
  bool UsesList(const RelatedQuery& query) const;
  // The card an entry shows: the one the box was ranked with, or the slot's
  // current one if the article was written since; kNoCard if deleted.
  CardRef Shown(const BoxedArticle& entry) const;
  // Whether every entry of `box` still shows an article.
  bool Fresh(const StoredBox& box) const;
  // Whether every article `box` shows is in `language`.
  bool AllIn(absl::string_view language,
             absl::Span<const BoxedArticle> box) const;
  // What a box from a list reports of its ranking.
  RankingDebug ListDebug(const StoredBox& box, bool fresh,
                         const RelatedQuery& query) const;

  const VectorIndex& vectors_;
  const ArticleTable& articles_;
  const RelatedLists* lists_;
  const ArticleIndexOptions& options_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_RELATED_LOOKUP_H_
