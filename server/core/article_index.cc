#include "server/core/article_index.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/article_writes.h"
#include "server/core/card_layout.h"
#include "server/core/chunks.h"
#include "server/core/freed_memory.h"
#include "server/core/related_search.h"

namespace related {
namespace {

// The slot of stored article `id`; NOT_FOUND naming it otherwise.
absl::StatusOr<Slot> SlotOf(const ArticleTable& articles,
                            absl::string_view id) {
  if (std::optional<Slot> slot = articles.Find(id)) return *slot;
  return absl::NotFoundError(absl::StrCat("article '", id, "' not found"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ArticleIndex>> ArticleIndex::Create(
    const ArticleIndexOptions& options) {
  if (absl::Status s = ValidateIndexOptions(options); !s.ok()) return s;
  return std::unique_ptr<ArticleIndex>(new ArticleIndex(options));
}

ArticleIndex::ArticleIndex(const ArticleIndexOptions& options)
    : options_(options), limits_(options_), dimension_(0) {
  if (options.dimension > 0) {
    absl::MutexLock write_lock(&write_mu_);
    CreateVectors(options.dimension);
  }
}

ArticleIndex::~ArticleIndex() {
  std::shared_ptr<Compaction> compaction;
  {
    absl::MutexLock write_lock(&write_mu_);
    compaction = std::move(compaction_);
  }
  if (compaction != nullptr) {
    // Without the writers' lock, which the run may be waiting for.
    compaction->Stop();
    compaction->AwaitFinished();
  }
}

void ArticleIndex::CreateVectors(int dimension) {
  ExclusiveHold lock(*this);
  vectors_ = MakeVectorIndex(options_.index_kind, dimension, options_.hnsw);
  lists_ = MakeRelatedLists(options_, *vectors_);
  ++parts_epoch_;
  dimension_.store(dimension);
}

absl::StatusOr<ArticleIndex::Recorded> ArticleIndex::Record(
    absl::FunctionRef<absl::StatusOr<uint64_t>(Journal&)> record) {
  if (journal_ == nullptr) return Recorded{};
  auto ticket = record(*journal_);
  if (!ticket.ok()) return ticket.status();
  return Recorded{journal_, *ticket};
}

absl::Status ArticleIndex::Upsert(std::vector<Article> articles,
                                  BulkLoad* bulk) {
  if (absl::Status s = limits_.CheckBatchSize(articles.size(), "articles");
      !s.ok() || articles.empty()) {
    return s;
  }
  absl::StatusOr<Recorded> recorded;
  {
    absl::MutexLock write_lock(&write_mu_);
    if (absl::Status s = limits_.CheckArticles(articles, dimension_.load());
        !s.ok()) {
      return s;
    }
    // In the log before it is applied, so a write that readers can see is
    // in the log too.
    recorded = Record([&](Journal& j) { return j.RecordUpsert(articles); });
    if (!recorded.ok()) return recorded.status();
    if (compaction_ != nullptr) compaction_->Record(articles);
    if (dimension_.load() == 0) {
      CreateVectors(static_cast<int>(articles.front().embedding.size()));
    }
    // Readers wait for one chunk at most; with none (a recovery), the
    // whole batch is one.
    const size_t chunk = bulk != nullptr && !bulk->readers_
                             ? articles.size()
                             : options_.write_chunk_size;
    for (size_t begin = 0; begin < articles.size(); begin += chunk) {
      const auto part = absl::MakeConstSpan(articles).subspan(begin, chunk);
      if (absl::Status s = ApplyChunk(part, bulk); !s.ok()) return s;
    }
    RelayOutCardsIfWasteful();
    MaybeCompact();
  }
  return recorded->Commit();
}

absl::Status ArticleIndex::ApplyChunk(absl::Span<const Article> chunk,
                                      BulkLoad* bulk) {
  // Placing a vector in the graph searches for its neighbours anyway: a
  // write, and a recovery's chunk that joins the lists at once, take them
  // from there instead of searching again (lists that wait for
  // FinishBulkLoad need none).
  absl::StatusOr<SlotChanges> changes = Exclusive([&] {
    const bool use_met = bulk == nullptr ||
                         JoinsAtOnce(*bulk, static_cast<int64_t>(chunk.size()));
    const int reach = use_met && lists_ ? Builder().write_reach() : 0;
    return PlaceArticles(*vectors_, articles_, chunk, WriteThreads(options_),
                         reach);
  });
  if (!changes.ok()) return changes.status();
  if (bulk == nullptr || !DeferRelatedLists(*changes, *bulk)) {
    UpdateRelatedLists(changes->added, changes->removed, changes->neighbors);
  } else if (bulk->readers_) {
    UpdateRelatedLists({}, changes->removed);  // readers see removals at once
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ArticleIndex::Delete(const std::vector<ArticleId>& ids) {
  if (absl::Status s = limits_.CheckIds(ids, "article_ids"); !s.ok()) return s;
  absl::StatusOr<Recorded> recorded;
  int deleted = 0;
  {
    absl::MutexLock write_lock(&write_mu_);
    // Only deletes that change something are logged.
    const std::vector<ArticleId> stored = Stored(ids);
    if (stored.empty()) return 0;
    recorded = Record([&](Journal& j) { return j.RecordDelete(stored); });
    if (!recorded.ok()) return recorded.status();
    if (compaction_ != nullptr) compaction_->Record(stored);
    ForEachChunk(
        ids, options_.write_chunk_size, [&](absl::Span<const ArticleId> chunk) {
          const std::vector<Slot> removed = Exclusive(
              [&] { return RemoveArticles(*vectors_, articles_, chunk); });
          deleted += static_cast<int>(removed.size());
          UpdateRelatedLists({}, removed);
        });
    RelayOutCardsIfWasteful();
    MaybeCompact();
  }
  if (absl::Status s = recorded->Commit(); !s.ok()) return s;
  return deleted;
}

absl::Status ArticleIndex::WriteBeside(
    absl::FunctionRef<absl::StatusOr<uint64_t>(Journal&)> record,
    absl::FunctionRef<void()> apply) {
  absl::StatusOr<Recorded> recorded;
  {
    absl::MutexLock write_lock(&write_mu_);
    recorded = Record(record);
    if (!recorded.ok()) return recorded.status();
    apply();
  }
  return recorded->Commit();
}

std::vector<ArticleId> ArticleIndex::Stored(
    const std::vector<ArticleId>& ids) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<ArticleId> stored;
  for (const ArticleId& id : ids) {
    if (articles_.Find(id).has_value()) stored.push_back(id);
  }
  return stored;
}

void ArticleIndex::UpdateRelatedLists(
    const std::vector<Slot>& added, const std::vector<Slot>& removed,
    const std::vector<std::vector<Neighbor>>& neighbors) {
  if (added.empty() && removed.empty()) return;
  if (!Shared([&] { return lists_ != nullptr; })) return;
  // The searches run while readers go on; only this writer changes anything.
  const auto found = Shared([&] {
    return Builder().CompletedFromNearestLists(
        added,
        neighbors.size() == added.size()
            ? neighbors
            : Builder().FindNeighbors(added, Builder().write_reach()),
        RelatedListBuilder::kNearestListsRead);
  });
  const absl::flat_hash_set<Slot> stale =
      Exclusive([&] { return Builder().ApplyWrite(added, found, removed); });
  RankAndPublish({stale.begin(), stale.end()});
}

void ArticleIndex::RankAndPublish(const std::vector<Slot>& stale) {
  // A reader meanwhile ranks a stale box itself.
  auto boxes = Shared([&] {
    return BoxRanker(*vectors_, articles_, *lists_, options_).RankBoxes(stale);
  });
  Exclusive([&] { Builder().Publish(stale, boxes); });
}

void ArticleIndex::RelayOutCardsIfWasteful() {
  if (!Shared([&] { return CardsNeedLayout(articles_.cards()); })) return;
  RelayOutCards();
  ReleaseFreedMemory();  // the old cards, freed as RelayOutCards returned
}

void ArticleIndex::RelayOutCards() {
  // Built under the shared lock (readers go on; the writers' lock keeps
  // everything as it is), swapped in under the exclusive one: rewriting
  // every box entry's card is one pass over the lists.
  const absl::Time start = absl::Now();
  CardLayout layout =
      Shared([&] { return LayOutCards(articles_, lists_.get()); });
  absl::Duration readers_held;
  {
    ExclusiveHold lock(*this);
    const absl::Time exclusive = absl::Now();
    // The old cards come back in `layout`, freed after the lock is released.
    InstallLayout(layout, articles_, lists_.get());
    ++parts_epoch_;
    readers_held = absl::Now() - exclusive;
  }
  card_layout_seconds_.store(absl::ToDoubleSeconds(absl::Now() - start));
  card_layout_pause_seconds_.store(absl::ToDoubleSeconds(readers_held));
  card_pages_per_box_.store(Shared([&] {
    return CardPagesPerBox(articles_.cards(), lists_.get(),
                           articles_.slot_count());
  }));
}

absl::StatusOr<Article> ArticleIndex::Get(const ArticleId& id) const {
  if (absl::Status s = limits_.CheckId(id, "article_id"); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<Slot> slot = SlotOf(articles_, id);
  if (!slot.ok()) return slot.status();
  return ArticleAt(*vectors_, articles_, *slot);
}

absl::StatusOr<RankingDebug> ArticleIndex::LookUp(const RelatedQuery& query,
                                                  RelatedLookup::BoxUse use,
                                                  BoxSource* source) const {
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<Slot> slot = SlotOf(articles_, query.article_id);
  if (!slot.ok()) return slot.status();
  auto debug = Reader().LookUp(*slot, query, limits_.BoxSize(query.limit),
                               [&](absl::Span<const BoxedArticle> box) {
                                 use(box);
                                 if (source != nullptr) {
                                   *source = Reader().SourceOf(*slot, box);
                                 }
                               });
  if (source != nullptr && debug.ok()) {
    source->precomputed = debug->precomputed;
    source->epoch = parts_epoch_;
  }
  return debug;
}

absl::StatusOr<RankingDebug> ArticleIndex::VisitRelated(
    const RelatedQuery& query, RelatedVisitor visit, BoxSource* source) const {
  if (absl::Status s = limits_.CheckLookup(query); !s.ok()) return s;
  return LookUp(
      query,
      [&](absl::Span<const BoxedArticle> box) { Reader().Visit(box, visit); },
      source);
}

std::optional<uint64_t> ArticleIndex::BoxStillCurrent(
    const BoxSource& source) const {
  absl::ReaderMutexLock lock(&mu_);
  // (No exclusive hold runs now, so the generation names this state.)
  if (!source.precomputed || source.epoch != parts_epoch_ ||
      !Reader().Unchanged(source)) {
    return std::nullopt;
  }
  return state_generation();
}

absl::StatusOr<RelatedList> ArticleIndex::Related(
    const RelatedQuery& query) const {
  if (absl::Status s = limits_.CheckLookup(query); !s.ok()) return s;
  return RelatedChecked(query);
}

absl::StatusOr<RelatedList> ArticleIndex::RelatedChecked(
    const RelatedQuery& query) const {
  RelatedList out;
  auto debug = LookUp(query, [&](absl::Span<const BoxedArticle> box) {
    out.articles = Reader().ToRelatedArticles(box);
  });
  if (!debug.ok()) return debug.status();
  out.debug = *debug;
  return out;
}

absl::StatusOr<RelatedList> ArticleIndex::RelatedToVector(
    VectorQuery query) const {
  if (absl::Status s = limits_.CheckLookup(query, dimension_.load()); !s.ok()) {
    return s;
  }
  absl::ReaderMutexLock lock(&mu_);
  // Before the first article is stored there is nothing to relate to.
  if (vectors_ == nullptr) return RelatedList{};
  auto ranked =
      RelatedSearch(*vectors_, articles_)
          .Rank(query.embedding.data(), std::nullopt,
                limits_.BoxSize(query.limit), query.exclude_ids, query.policy);
  if (!ranked.ok()) return ranked.status();
  return RelatedList{Reader().ToRelatedArticles(ranked->chosen), ranked->debug};
}

absl::StatusOr<std::vector<RelatedResult>> ArticleIndex::BatchRelated(
    const std::vector<ArticleId>& article_ids, int limit,
    const std::vector<ArticleId>& exclude_ids, const RankingPolicy& policy,
    absl::FunctionRef<bool()> cancelled) const {
  if (absl::Status s =
          limits_.CheckBatchLookup(article_ids, limit, exclude_ids, policy);
      !s.ok()) {
    return s;
  }
  std::vector<RelatedResult> results(article_ids.size());
  for (size_t i = 0; i < article_ids.size(); ++i) {
    if (cancelled()) {
      return absl::CancelledError(
          absl::StrCat("the call was cancelled or its deadline expired after ",
                       i, " of ", article_ids.size(), " items"));
    }
    // Each item is its own lookup (and takes the lock on its own, so a
    // writer never waits for a whole large batch).
    auto related = RelatedChecked({article_ids[i], limit, exclude_ids, policy});
    results[i].article_id = article_ids[i];
    results[i].status = related.status();
    if (related.ok()) results[i].related = *std::move(related);
  }
  return results;
}

void ArticleIndex::AttachJournal(Journal* journal) {
  absl::MutexLock write_lock(&write_mu_);
  journal_ = journal;
}

absl::Status ArticleIndex::Checkpoint(
    absl::FunctionRef<absl::Status()> cut,
    absl::FunctionRef<absl::Status(const IndexParts&)> save) const {
  absl::MutexLock write_lock(&write_mu_);
  if (absl::Status s = cut(); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  return save(IndexParts{vectors_.get(), &articles_, lists_.get()});
}

absl::Status ArticleIndex::Restore(RestoredParts parts) {
  std::vector<Slot> unlisted;
  {
    absl::MutexLock write_lock(&write_mu_);
    ExclusiveHold lock(*this);
    if (articles_.size() != 0 || (vectors_ && vectors_->SlotCount() != 0)) {
      return absl::FailedPreconditionError("Restore needs an empty index");
    }
    if (parts.vectors == nullptr) return absl::OkStatus();
    if (parts.vectors->Kind() != options_.index_kind) {
      return absl::FailedPreconditionError("the snapshot's index kind differs");
    }
    const bool restored_lists = parts.lists != nullptr;
    dimension_.store(parts.vectors->Dimension());
    vectors_ = std::move(parts.vectors);
    articles_ = std::move(parts.articles);
    lists_ = std::move(parts.lists);
    if (lists_ == nullptr) lists_ = MakeRelatedLists(options_, *vectors_);
    ++parts_epoch_;
    card_pages_per_box_.store(CardPagesPerBox(articles_.cards(), lists_.get(),
                                              articles_.slot_count()));
    if (lists_ != nullptr && !restored_lists) {
      // Only a restored list is listed; the rest are built below.
      for (Slot slot = 0; slot < articles_.slot_count(); ++slot) {
        if (articles_.Occupied(slot) && !lists_->Listed(slot)) {
          unlisted.push_back(slot);
        }
      }
    }
  }
  if (!unlisted.empty()) RebuildRelatedLists(unlisted);
  return absl::OkStatus();
}

}  // namespace related
