#include "server/core/related_lookup.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "absl/time/clock.h"
#include "server/core/related_list_builder.h"
#include "server/core/related_search.h"

namespace related {
namespace {

// Float rounding can put a unit vector's cosine a hair outside [-1, 1]; the
// API promises that range.
float ApiScore(float score) { return std::clamp(score, -1.0f, 1.0f); }

// Asking for every card up front lets the memory reads overlap instead of
// running one after the other (each waits on a cache and often a TLB miss
// at a million articles).
void PrefetchCards(const ArticleCards& cards,
                   absl::Span<const BoxedArticle> box) {
  for (const BoxedArticle& entry : box) {
    if (entry.card != kNoCard) cards.Prefetch(entry.card);
  }
}

}  // namespace

absl::StatusOr<RankingDebug> RelatedLookup::LookUp(Slot slot,
                                                   const RelatedQuery& query,
                                                   int limit,
                                                   BoxUse use) const {
  const auto first = [&](absl::Span<const BoxedArticle> box) {
    return box.first(std::min(box.size(), static_cast<size_t>(limit)));
  };
  // The same-language rule, as a language filter on the query's language.
  const std::optional<absl::string_view> language =
      query.policy.same_language && query.policy.languages.empty()
          ? std::optional(articles_.CardOf(slot).language)
          : std::nullopt;
  // An article whose list a bulk load has not built yet is searched for.
  if (UsesList(query) && lists_->Listed(slot)) {
    const StoredBox* box = lists_->Box(slot);
    // The box's cards are read from the box itself; the slot table is
    // consulted only for an article written since (see Shown).
    if (box != nullptr) PrefetchCards(articles_.cards(), box->chosen);
    const bool fresh = box != nullptr && Fresh(*box);
    std::optional<StoredBox> ranked_now;
    if (!fresh) {
      // A write is updating this list right now, or a listed article was
      // removed: rank from the list here (readers never store it).
      auto ranked =
          BoxRanker(vectors_, articles_, *lists_, options_).RankBox(slot);
      if (!ranked.ok()) return ranked.status();
      box = &ranked_now.emplace(*std::move(ranked));
    }
    // Diversity over a widened search is not a prefix of a larger box.
    // A box whose articles all share the query's language is also its
    // same-language box: the ranking's choices depend only on the articles
    // chosen before them. Otherwise a filtered search ranks it.
    if ((!box->widened || limit == options_.default_limit ||
         query.policy.diversity_lambda >= 1.0f) &&
        (!language.has_value() || AllIn(*language, first(box->chosen)))) {
      use(first(box->chosen));
      return ListDebug(*box, fresh, query);
    }
  }
  RankingPolicy policy = query.policy;
  if (language.has_value()) policy.languages = {std::string(*language)};
  auto ranked = RelatedSearch(vectors_, articles_)
                    .Rank(vectors_.StoredVector(slot), slot, limit,
                          query.exclude_ids, policy);
  if (!ranked.ok()) return ranked.status();
  use(first(ranked->chosen));
  return ranked->debug;
}

bool RelatedLookup::UsesList(const RelatedQuery& query) const {
  return lists_ != nullptr && query.exclude_ids.empty() &&
         query.limit <= options_.default_limit &&
         SameRankingIgnoringClock(query.policy, options_.default_policy);
}

CardRef RelatedLookup::Shown(const BoxedArticle& entry) const {
  // After a delete or a new vector the old slot is empty (kNoCard here),
  // and a box still holding the article is ranked again. An edited headline
  // (same vector) changes no box: the box keeps the old card and shows the
  // new. A card is retired exactly when its article is, so an entry whose
  // card is not retired still shows its slot's current article.
  const ArticleCards& cards = articles_.cards();
  return entry.card != kNoCard && !cards.Retired(entry.card)
             ? entry.card
             : articles_.CardAt(entry.slot);
}

bool RelatedLookup::AllIn(absl::string_view language,
                          absl::Span<const BoxedArticle> box) const {
  return std::all_of(box.begin(), box.end(), [&](const BoxedArticle& entry) {
    return articles_.cards().Get(Shown(entry)).language == language;
  });
}

bool RelatedLookup::Fresh(const StoredBox& box) const {
  return std::all_of(
      box.chosen.begin(), box.chosen.end(),
      [&](const BoxedArticle& entry) { return Shown(entry) != kNoCard; });
}

RankingDebug RelatedLookup::ListDebug(const StoredBox& box, bool fresh,
                                      const RelatedQuery& query) const {
  RankingDebug debug;
  debug.candidates_considered = box.candidates_considered;
  debug.removed_by_min_score = box.removed_by_min_score;
  debug.removed_as_near_duplicate = box.removed_as_near_duplicate;
  debug.search_rounds = (!fresh && box.widened) ? 1 : 0;
  debug.precomputed = fresh;
  debug.now = query.policy.now.value_or(absl::Now());
  return debug;
}

void RelatedLookup::Visit(absl::Span<const BoxedArticle> box,
                          RelatedVisitor visit) const {
  for (const BoxedArticle& entry : box) {
    visit(ApiScore(entry.score), articles_.cards().Get(Shown(entry)));
  }
}

BoxSource RelatedLookup::SourceOf(Slot slot,
                                  absl::Span<const BoxedArticle> box) const {
  BoxSource source;
  source.slot = static_cast<uint32_t>(slot);
  source.list_version = lists_ != nullptr ? lists_->Version(slot) : 0;
  source.card_version = articles_.VersionAt(slot);
  for (const BoxedArticle& entry : box) {
    source.shown.emplace_back(entry.slot, articles_.VersionAt(entry.slot));
  }
  return source;
}

bool RelatedLookup::Unchanged(const BoxSource& source) const {
  const auto same = [&](const std::pair<uint32_t, uint32_t>& shown) {
    return articles_.VersionAt(shown.first) == shown.second;
  };
  return lists_ != nullptr &&
         lists_->Version(source.slot) == source.list_version &&
         articles_.VersionAt(source.slot) == source.card_version &&
         std::all_of(source.shown.begin(), source.shown.end(), same);
}

std::vector<RelatedArticle> RelatedLookup::ToRelatedArticles(
    absl::Span<const BoxedArticle> box) const {
  std::vector<RelatedArticle> out;
  out.reserve(box.size());
  Visit(box, [&](float score, const ArticleCard& card) {
    out.push_back({std::string(card.id), score,
                   std::make_shared<const ArticleMetadata>(MetadataOf(card))});
  });
  return out;
}

}  // namespace related
