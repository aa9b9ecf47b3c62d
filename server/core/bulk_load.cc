// ArticleIndex's bulk loads (an import stream, a recovery, a compaction's
// new index): the related lists of their articles are built when the load
// finishes rather than write by write.
#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "server/core/article_index.h"
#include "server/core/chunks.h"

namespace related {

bool ArticleIndex::DeferRelatedLists(const SlotChanges& changes,
                                     BulkLoad& bulk) {
  ExclusiveHold lock(*this);
  if (lists_ == nullptr) return false;
  if (!bulk.readers_ && bulk.added_.empty() &&
      changes.neighbors.size() == changes.added.size()) {
    // JoinsAtOnce said so before the chunk was placed.
    const absl::flat_hash_set<Slot> stale =
        Builder().ApplyWrite(changes.added,
                             Builder().CompletedFromNearestLists(
                                 changes.added, changes.neighbors,
                                 RelatedListBuilder::kNearestListsRead),
                             changes.removed);
    bulk.stale_.insert(stale.begin(), stale.end());
    bulk.joined_ += static_cast<int64_t>(changes.added.size());
    return true;
  }
  Builder().AwaitCandidates(changes.added);
  bulk.added_.insert(bulk.added_.end(), changes.added.begin(),
                     changes.added.end());
  if (!bulk.readers_) {
    // The replaced articles leave the lists now; the boxes that showed
    // them are ranked once, when the load finishes.
    const absl::flat_hash_set<Slot> stale =
        Builder().ApplyWrite({}, {}, changes.removed);
    bulk.stale_.insert(stale.begin(), stale.end());
  }
  return true;
}

bool ArticleIndex::JoinsAtOnce(const BulkLoad& bulk, int64_t articles) const {
  // A recovery replaying the writes since its snapshot: a few per cent of
  // the articles, whose neighbours their placement meets. Joining them as
  // they come costs their offers only; waiting would cost a search each at
  // the end. A load that is most of the index (a log without a snapshot)
  // waits for the cheaper rebuild, from its first batch on.
  return !bulk.readers_ && bulk.added_.empty() &&
         4 * (bulk.joined_ + articles) <= vectors_->LiveCount();
}

void ArticleIndex::FinishBulkLoad(BulkLoad& bulk) {
  const int64_t added = static_cast<int64_t>(bulk.added_.size()) + bulk.joined_;
  BuildBulkLoadLists(bulk);
  absl::MutexLock write_lock(&write_mu_);
  if (journal_ != nullptr && added > 0) journal_->BulkLoadFinished(added);
}

void ArticleIndex::BuildBulkLoadLists(BulkLoad& bulk) {
  std::vector<Slot> all;
  {
    absl::MutexLock write_lock(&write_mu_);
    bool mostly_new = false;
    const std::vector<Slot> waiting = WaitingLists(bulk, mostly_new);
    if (waiting.empty() && bulk.stale_.empty()) return;  // or no lists kept
    if (waiting.empty() || !mostly_new) {
      JoinExistingLists(waiting, bulk);
      return;
    }
    // Mostly new: each list is just its own top candidates, and the older
    // lists are rebuilt too (cheaper than offering every new article to
    // them).
    absl::ReaderMutexLock lock(&mu_);
    for (Slot slot = 0; slot < articles_.slot_count(); ++slot) {
      if (articles_.Occupied(slot)) all.push_back(slot);
    }
  }
  bulk.stale_.clear();  // every box is built afresh
  RebuildRelatedLists(all);
}

void ArticleIndex::JoinExistingLists(const std::vector<Slot>& waiting,
                                     BulkLoad& bulk) {
  if (bulk.readers_) {
    // As single writes would, chunk by chunk.
    ForEachChunk(waiting, options_.write_chunk_size,
                 [&](absl::Span<const Slot> chunk) {
                   UpdateRelatedLists({chunk.begin(), chunk.end()}, {});
                 });
    return;
  }
  // Nobody reads until the load is done (a recovery replaying its log):
  // the new articles are offered to their neighbours' lists first, and
  // each box that changed is ranked once at the end, not once for every
  // chunk that touched it.
  constexpr size_t kChunk = 1024;
  ForEachChunk(waiting, kChunk, [&](absl::Span<const Slot> chunk) {
    const std::vector<Slot> added(chunk.begin(), chunk.end());
    const auto found = Shared([&] {
      return Builder().FindNeighbors(added, Builder().write_reach());
    });
    const absl::flat_hash_set<Slot> stale =
        Exclusive([&] { return Builder().ApplyWrite(added, found, {}); });
    bulk.stale_.insert(stale.begin(), stale.end());
  });
  std::vector<Slot> unranked =
      Shared([&] { return Builder().Unranked(bulk.stale_); });
  bulk.stale_.clear();
  std::sort(unranked.begin(), unranked.end());  // lists in memory order
  // In chunks: the ranked boxes of a million lists at once would add
  // hundreds of MB to the recovery's peak.
  ForEachChunk(unranked, kChunk, [&](absl::Span<const Slot> chunk) {
    RankAndPublish({chunk.begin(), chunk.end()});
  });
}

std::vector<Slot> ArticleIndex::WaitingLists(BulkLoad& bulk, bool& mostly_new) {
  absl::ReaderMutexLock lock(&mu_);
  if (lists_ == nullptr) return {};
  const std::vector<Slot> waiting = Builder().StillAwaiting(bulk.added_);
  bulk.added_.clear();
  mostly_new =
      static_cast<int64_t>(waiting.size()) * 4 >= vectors_->LiveCount() * 3;
  return waiting;
}

void ArticleIndex::RebuildRelatedLists(const std::vector<Slot>& slots) {
  // Chunks large enough to keep every core busy, small enough that a
  // waiting writer gets its turn within a second or so.
  constexpr size_t kChunk = 512;
  const auto for_each_chunk = [&](auto&& apply) {
    ForEachChunk(slots, kChunk, [&](absl::Span<const Slot> chunk) {
      absl::MutexLock write_lock(&write_mu_);
      apply(std::vector<Slot>(chunk.begin(), chunk.end()));
    });
  };
  // 1. Each list from the article's own search, as a lookup would run it.
  for_each_chunk([&](const std::vector<Slot>& chunk) { SearchOwn(chunk); });
  // 2. Similarity is symmetric: each article is offered to the lists of its
  // candidates. An article written meanwhile by a single write is not
  // rebuilt here; if an offer changed its box, it is ranked again at the end.
  absl::flat_hash_set<Slot> others_changed;
  for_each_chunk([&](const std::vector<Slot>& chunk) {
    Exclusive(
        [&] { Builder().OfferToCandidates(chunk, slots, others_changed); });
  });
  // 3. One round of "my neighbours' neighbours are likely mine", then rank.
  for_each_chunk([&](const std::vector<Slot>& chunk) { Refine(chunk); });
  absl::MutexLock write_lock(&write_mu_);
  const std::vector<Slot> unranked =
      Shared([&] { return Builder().Unranked(others_changed); });
  if (!unranked.empty()) RankAndPublish(unranked);
  // Every box is ranked: its cards can now be placed together.
  RelayOutCards();
}

void ArticleIndex::SearchOwn(const std::vector<Slot>& chunk) {
  const auto found = Shared(
      [&] { return Builder().FindNeighbors(chunk, Builder().bulk_reach()); });
  Exclusive([&] { Builder().SetCandidates(chunk, found); });
}

void ArticleIndex::Refine(const std::vector<Slot>& chunk) {
  const auto merged =
      Shared([&] { return Builder().MergeNeighboursOfNeighbours(chunk); });
  RankAndPublish(
      Exclusive([&] { return Builder().SetCandidates(chunk, merged); }));
}

}  // namespace related
