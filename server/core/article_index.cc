#include "server/core/article_index.h"

#include <faiss/utils/distances.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/ranking.h"
#include "common/input_rules.h"

namespace related {
namespace {

absl::Status CheckBatchSize(size_t size, int max, absl::string_view field) {
  if (static_cast<int64_t>(size) > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", size, " entries, more than the limit of ",
                     max, " per request; split the batch"));
  }
  return absl::OkStatus();
}

size_t MetadataBytes(const ArticleMetadata& m) {
  size_t bytes =
      m.title.size() + m.url.size() + m.section.size() + m.language.size();
  for (const auto& [key, value] : m.attributes)
    bytes += key.size() + value.size();
  return bytes;
}

// Float rounding can put a unit vector's cosine a hair outside [-1, 1]; the
// API promises that range.
float ApiScore(float score) { return std::clamp(score, -1.0f, 1.0f); }

}  // namespace

absl::StatusOr<std::unique_ptr<ArticleIndex>> ArticleIndex::Create(
    const ArticleIndexOptions& options) {
  if (options.dimension < 0) {
    return absl::InvalidArgumentError(
        "dimension must be >= 0 (0: set by the first write)");
  }
  if (options.max_limit < 1 || options.default_limit < 1 ||
      options.default_limit > options.max_limit) {
    return absl::InvalidArgumentError(
        "limits must satisfy 1 <= default_limit <= max_limit");
  }
  if (options.max_batch_size < 1 || options.max_id_bytes < 1 ||
      options.write_chunk_size < 1 || options.max_metadata_bytes < 1) {
    return absl::InvalidArgumentError(
        "max_batch_size, max_id_bytes, max_metadata_bytes and write_chunk_size "
        "must be >= 1");
  }
  if (options.index_kind == IndexKind::kHnsw &&
      (options.hnsw.m < 2 || options.hnsw.ef_construction < 1 ||
       options.hnsw.ef_search < 1)) {
    return absl::InvalidArgumentError(
        "HNSW needs m >= 2, ef_construction >= 1 and ef_search >= 1");
  }
  if (absl::Status s = ValidateRankingPolicy(options.default_policy); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("default ranking policy: ", s.message()));
  }
  return std::unique_ptr<ArticleIndex>(new ArticleIndex(options));
}

ArticleIndex::ArticleIndex(const ArticleIndexOptions& options)
    : options_(options), dimension_(options.dimension) {
  if (options.dimension > 0) CreateIndexLocked(options.dimension);
}

void ArticleIndex::CreateIndexLocked(int dimension) {
  index_ = MakeVectorIndex(options_.index_kind, dimension, options_.hnsw);
  const RankingPolicy& policy = options_.default_policy;
  if (options_.precompute_related && !index_->MovesSlots() &&
      RankingIsPrecomputable(policy)) {
    // Without diversity (and precomputable means without recency) the
    // default policy picks in order of similarity, and the box of a lookup
    // is decided by its first candidates: a list of 3 x limit is enough
    // whenever near-duplicates leave the box full (else RankBoxLocked
    // searches). Diversity weighs every candidate: the list must be the
    // whole pool a lookup would rank.
    const bool by_similarity = policy.diversity_lambda >= 1.0f;
    const int limit = options_.default_limit;
    related_lists_ = std::make_unique<RelatedLists>(
        by_similarity ? std::max(3 * limit, 20)
                      : CandidatePoolSize(policy, limit),
        limit, by_similarity);
  }
}

int ArticleIndex::WriteThreads() const {
  return options_.write_threads > 0 ? options_.write_threads
                                    : std::max(1, omp_get_num_procs());
}

absl::Status ArticleIndex::Upsert(std::vector<Article> articles) {
  return Upsert(std::move(articles), nullptr);
}

absl::Status ArticleIndex::Upsert(std::vector<Article> articles,
                                  BulkLoad* bulk) {
  if (absl::Status s =
          CheckBatchSize(articles.size(), options_.max_batch_size, "articles");
      !s.ok()) {
    return s;
  }
  if (articles.empty()) return absl::OkStatus();
  Journal* journal = nullptr;
  uint64_t ticket = 0;
  {
    absl::MutexLock write_lock(&write_mu_);
    if (absl::Status s = ValidateUpsertLocked(articles); !s.ok()) return s;
    // In the log before it is applied, so a write that readers can see is
    // in the log too.
    journal = journal_;
    if (journal != nullptr) {
      auto recorded = journal->RecordUpsert(articles);
      if (!recorded.ok()) return recorded.status();
      ticket = *recorded;
    }
    if (dimension_.load() == 0) {
      const int dimension = static_cast<int>(articles.front().embedding.size());
      absl::WriterMutexLock lock(&mu_);
      CreateIndexLocked(dimension);
      dimension_.store(dimension);
    }
    for (auto begin = articles.begin(); begin != articles.end();) {
      const auto end = begin + std::min<ptrdiff_t>(options_.write_chunk_size,
                                                   articles.end() - begin);
      std::vector<Slot> added;
      auto removed = ApplyChunk(begin, end, added);
      if (!removed.ok()) return removed.status();
      if (bulk != nullptr && DeferRelatedLists(added, *bulk)) added.clear();
      UpdateRelatedLists(added, *removed);
      begin = end;
    }
    RelayOutCardsIfWasteful();
  }
  // Outside the writers' lock, so concurrent writers share one disk sync.
  return journal != nullptr ? journal->Commit(ticket) : absl::OkStatus();
}

absl::Status ArticleIndex::ValidateUpsertLocked(
    std::vector<Article>& articles) {
  // With no dimension yet, the batch's first article proposes it and the rest
  // must agree.
  const int dimension =
      dimension_.load() != 0
          ? dimension_.load()
          : static_cast<int>(articles.front().embedding.size());
  absl::flat_hash_set<absl::string_view> seen;
  for (size_t i = 0; i < articles.size(); ++i) {
    Article& article = articles[i];
    const std::string field = absl::StrCat("articles[", i, "]");
    if (absl::Status s = ValidateArticleId(article.id, options_.max_id_bytes,
                                           absl::StrCat(field, ".id"));
        !s.ok()) {
      return s;
    }
    if (!seen.insert(article.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".id: '", article.id,
                       "' appears more than once in the batch"));
    }
    if (absl::Status s = NormalizeEmbedding(article.embedding, dimension,
                                            absl::StrCat(field, ".embedding"));
        !s.ok()) {
      return s;
    }
    const size_t metadata_bytes = MetadataBytes(article.metadata);
    if (metadata_bytes > static_cast<size_t>(options_.max_metadata_bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".metadata: ", metadata_bytes,
          " bytes, more than the limit of ", options_.max_metadata_bytes));
    }
  }
  return absl::OkStatus();
}

// The request's own strings were allocated while the whole batch was
// converted, so a moved title would sit far from its article; copied here,
// one after the other, they are allocated next to it, and a reader of the
// article touches fewer pages. (A precomputed box reads cards instead.)
std::shared_ptr<const StoredArticle> ArticleIndex::StoreArticle(
    const ArticleId& id, const ArticleMetadata& metadata) {
  return std::make_shared<const StoredArticle>(StoredArticle{id, metadata});
}

absl::StatusOr<std::vector<Slot>> ArticleIndex::ApplyChunk(
    std::vector<Article>::iterator begin, std::vector<Article>::iterator end,
    std::vector<Slot>& added) {
  const int dimension = dimension_.load();
  std::vector<float> stored_vector(dimension);
  absl::WriterMutexLock lock(&mu_);

  // An upsert that repeats an article's stored vector only changes its
  // metadata: no index work (the common case of an edited headline).
  std::vector<Article*> needs_vector;
  for (auto it = begin; it != end; ++it) {
    auto existing = by_id_.find(it->id);
    if (existing != by_id_.end()) {
      index_->Vector(existing->second.slot, stored_vector.data());
      if (std::memcmp(stored_vector.data(), it->embedding.data(),
                      sizeof(float) * dimension) == 0) {
        auto stored = StoreArticle(it->id, it->metadata);
        existing->second.article = stored;
        PutArticleLocked(existing->second.slot, std::move(stored));
        continue;
      }
    }
    needs_vector.push_back(&*it);
  }
  if (needs_vector.empty()) return std::vector<Slot>{};

  std::vector<float> vectors;
  vectors.reserve(needs_vector.size() * dimension);
  for (const Article* article : needs_vector) {
    vectors.insert(vectors.end(), article->embedding.begin(),
                   article->embedding.end());
  }
  // Add before removing replaced vectors: if FAISS fails, nothing changed.
  auto slots =
      index_->Add(vectors.data(), static_cast<int64_t>(needs_vector.size()),
                  WriteThreads());
  if (!slots.ok()) return slots.status();
  added.insert(added.end(), slots->begin(), slots->end());

  std::vector<Slot> replaced;
  by_slot_.resize(by_slot_.size() + needs_vector.size());
  card_by_slot_.resize(by_slot_.size(), kNoCard);
  for (size_t i = 0; i < needs_vector.size(); ++i) {
    Article& article = *needs_vector[i];
    auto stored = StoreArticle(article.id, article.metadata);
    auto [entry, inserted] = by_id_.try_emplace(article.id);
    if (!inserted) replaced.push_back(entry->second.slot);
    entry->second = Entry{(*slots)[i], stored};
    PutArticleLocked((*slots)[i], std::move(stored));
  }
  // Highest first: removing a slot may move the last slot into it, and the
  // last slot is then never one still waiting to be removed.
  std::sort(replaced.begin(), replaced.end(), std::greater<>());
  for (Slot slot : replaced) RemoveSlotLocked(slot);
  return replaced;
}

std::vector<std::vector<Neighbor>> ArticleIndex::FindNeighbors(
    const std::vector<Slot>& slots, int k) const {
  std::vector<std::vector<Neighbor>> found(slots.size());
  // Readers go on meanwhile; only this writer changes anything.
  absl::ReaderMutexLock lock(&mu_);
#pragma omp parallel for num_threads(WriteThreads()) schedule(dynamic, 1)
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot self = slots[i];
    if (by_slot_[self] == nullptr) continue;  // removed since
    auto neighbors = index_->Search(index_->StoredVector(self), k,
                                    [self](Slot slot) { return slot != self; });
    // On a failed search the list starts empty, and ranking its box falls
    // back to a search of its own.
    if (neighbors.ok()) found[i] = *std::move(neighbors);
  }
  return found;
}

void ArticleIndex::RankAndPublish(const std::vector<Slot>& stale) {
  std::vector<absl::StatusOr<StoredBox>> boxes(stale.size());
  {
    // A reader meanwhile ranks a stale box itself.
    absl::ReaderMutexLock lock(&mu_);
#pragma omp parallel for num_threads(WriteThreads()) schedule(dynamic, 4)
    for (size_t i = 0; i < stale.size(); ++i) {
      boxes[i] = RankBoxLocked(stale[i]);
    }
  }
  absl::WriterMutexLock lock(&mu_);
  for (size_t i = 0; i < stale.size(); ++i) {
    // A box that failed to rank stays stale; lookups rank it themselves.
    if (boxes[i].ok()) related_lists_->SetBox(stale[i], *std::move(boxes[i]));
  }
}

void ArticleIndex::UpdateRelatedLists(const std::vector<Slot>& added,
                                      const std::vector<Slot>& removed) {
  int pool = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (related_lists_ == nullptr) return;
    pool = related_lists_->pool_size();
  }
  // 1. Each new article's candidates: the search a lookup would run, but
  // reaching further (100). Similarity is symmetric, but rank is not: an
  // article can be in the top 10 of a neighbour that is not in its own list,
  // and the wider reach finds nearly all such lists (core test
  // LargerCorpusAgreesWithExactSearchThroughChurn, lists of 50: agreement
  // with exact search rose from 0.991 to 1 going from a reach of 50 to 100).
  const std::vector<std::vector<Neighbor>> found =
      FindNeighbors(added, std::max(2 * pool, 100));

  // 2. Memory updates only, under the exclusive lock: a removed article
  // leaves the lists of its own candidates (similarity is symmetric, so
  // they are where it is listed; a list it stays in skips it when ranking),
  // and a new article joins the lists of its candidates where it ranks.
  absl::flat_hash_set<Slot> stale;
  {
    absl::WriterMutexLock lock(&mu_);
    for (Slot gone : removed) {
      for (const ListedNeighbor& n : related_lists_->Release(gone)) {
        if (by_slot_[n.slot] != nullptr &&
            related_lists_->Withdraw(n.slot, gone)) {
          stale.insert(n.slot);
        }
      }
    }
    for (size_t i = 0; i < added.size(); ++i) {
      if (by_slot_[added[i]] == nullptr) continue;
      related_lists_->SetCandidates(added[i], found[i]);
      stale.insert(added[i]);
      for (const Neighbor& n : found[i]) {
        if (related_lists_->Offer(n.slot, added[i], n.score)) {
          stale.insert(n.slot);
        }
      }
    }
  }

  // 3. Rank the boxes that may have changed, then publish them.
  RankAndPublish({stale.begin(), stale.end()});
}

bool ArticleIndex::DeferRelatedLists(const std::vector<Slot>& added,
                                      BulkLoad& bulk) {
  absl::WriterMutexLock lock(&mu_);
  if (related_lists_ == nullptr) return false;
  for (Slot slot : added) related_lists_->AwaitCandidates(slot);
  bulk.added_.insert(bulk.added_.end(), added.begin(), added.end());
  return true;
}

void ArticleIndex::FinishBulkLoad(BulkLoad& bulk) {
  std::vector<Slot> live;
  {
    absl::MutexLock write_lock(&write_mu_);
    std::vector<Slot> waiting;
    int64_t live_count = 0;
    {
      absl::ReaderMutexLock lock(&mu_);
      if (related_lists_ == nullptr) return;
      for (Slot slot : bulk.added_) {
        // Not replaced or deleted later in the load.
        if (by_slot_[slot] != nullptr && !related_lists_->Listed(slot)) {
          waiting.push_back(slot);
        }
      }
      live_count = index_->LiveCount();
    }
    bulk.added_.clear();
    if (waiting.empty()) return;
    if (static_cast<int64_t>(waiting.size()) * 4 < live_count * 3) {
      // A few new among many: as single writes would, chunk by chunk.
      for (size_t begin = 0; begin < waiting.size();
           begin += options_.write_chunk_size) {
        const size_t end =
            std::min(waiting.size(), begin + options_.write_chunk_size);
        UpdateRelatedLists({waiting.begin() + begin, waiting.begin() + end},
                           {});
      }
      return;
    }
    // Mostly new: each list is just its own top candidates, and the older
    // lists are rebuilt too (cheaper than offering every new article to
    // them).
    absl::ReaderMutexLock lock(&mu_);
    for (Slot slot = 0; slot < static_cast<Slot>(by_slot_.size()); ++slot) {
      if (by_slot_[slot] != nullptr) live.push_back(slot);
    }
  }
  RebuildRelatedLists(live);
}

void ArticleIndex::RebuildRelatedLists(const std::vector<Slot>& slots) {
  // `slots` is in ascending order (see FinishBulkLoad).
  // Chunks large enough to keep every core busy, small enough that a
  // waiting writer gets its turn within a second or so.
  constexpr size_t kChunk = 512;
  const auto for_each_chunk = [&](auto&& apply) {
    for (size_t begin = 0; begin < slots.size(); begin += kChunk) {
      const std::vector<Slot> chunk(
          slots.begin() + begin,
          slots.begin() + std::min(slots.size(), begin + kChunk));
      absl::MutexLock write_lock(&write_mu_);
      apply(chunk);
    }
  };
  int pool = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    pool = related_lists_->pool_size();
  }
  // 1. Each list from the article's own search, as a lookup would run it.
  for_each_chunk([&](const std::vector<Slot>& chunk)
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    const std::vector<std::vector<Neighbor>> found =
        FindNeighbors(chunk, pool);
    absl::WriterMutexLock lock(&mu_);
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (by_slot_[chunk[i]] == nullptr) continue;  // deleted meanwhile
      related_lists_->SetCandidates(chunk[i], found[i]);
    }
  });
  // 2. Similarity is symmetric: each article is offered to the lists of its
  // candidates (memory only; the scores are known). An article written
  // meanwhile by a single write is not rebuilt here; if an offer changed
  // its box, it is ranked again at the end.
  absl::flat_hash_set<Slot> others_changed;
  for_each_chunk([&](const std::vector<Slot>& chunk)
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    absl::WriterMutexLock lock(&mu_);
    for (Slot slot : chunk) {
      if (by_slot_[slot] == nullptr) continue;
      // A copy: offers to this list's members may come back to this list.
      const std::vector<ListedNeighbor> own = related_lists_->Candidates(slot);
      for (const ListedNeighbor& n : own) {
        if (related_lists_->Offer(n.slot, slot, n.score) &&
            !std::binary_search(slots.begin(), slots.end(),
                                static_cast<Slot>(n.slot))) {
          others_changed.insert(n.slot);
        }
      }
    }
  });
  // 3. One round of "my neighbours' neighbours are likely mine": each list
  // is merged with the lists of its members, by exact similarity. An HNSW
  // search misses some true neighbours (at a million articles, recall@10 of
  // one search at efSearch 128 was 0.954 to 0.968); they are nearly always
  // in a neighbour's list. Cheaper than searching harder: ~500 dot products
  // per article instead of a search twice as wide.
  for_each_chunk([&](const std::vector<Slot>& chunk)
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    std::vector<std::vector<Neighbor>> merged(chunk.size());
    {
      absl::ReaderMutexLock lock(&mu_);
#pragma omp parallel for num_threads(WriteThreads()) schedule(dynamic, 8)
      for (size_t i = 0; i < chunk.size(); ++i) {
        merged[i] = NeighboursOfNeighboursLocked(chunk[i]);
      }
    }
    std::vector<Slot> stale;
    {
      absl::WriterMutexLock lock(&mu_);
      for (size_t i = 0; i < chunk.size(); ++i) {
        if (by_slot_[chunk[i]] == nullptr) continue;
        related_lists_->SetCandidates(chunk[i], merged[i]);
        stale.push_back(chunk[i]);
      }
    }
    RankAndPublish(stale);
  });
  absl::MutexLock write_lock(&write_mu_);
  std::vector<Slot> stale;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (Slot slot : others_changed) {
      if (by_slot_[slot] != nullptr && related_lists_->Listed(slot) &&
          related_lists_->Box(slot) == nullptr) {
        stale.push_back(slot);
      }
    }
  }
  if (!stale.empty()) RankAndPublish(stale);
  // Every box is ranked: its cards can now be placed together.
  RelayOutCards();
}

void ArticleIndex::RelayOutCardsIfWasteful() {
  {
    absl::ReaderMutexLock lock(&mu_);
    // Retired cards are reclaimed once they outweigh the live ones, so the
    // cards never take more than about twice their live size, and each
    // relayout is paid for by as many bytes of writes.
    if (cards_.RetiredBytes() < std::max<int64_t>(cards_.LiveBytes(), 1 << 20))
      return;
  }
  RelayOutCards();
}

void ArticleIndex::RelayOutCards() {
  // Built under the shared lock (readers go on; the writers' lock keeps
  // everything as it is), swapped in under the exclusive one: rewriting
  // every box entry's card is one pass over the lists.
  const absl::Time start = absl::Now();
  ArticleCards laid_out;
  std::vector<CardRef> card_by_slot;
  {
    absl::ReaderMutexLock lock(&mu_);
    card_by_slot.assign(card_by_slot_.size(), kNoCard);
    for (Slot slot : CardOrderLocked()) {
      card_by_slot[slot] = laid_out.Copy(cards_, card_by_slot_[slot]);
    }
  }
  absl::Duration readers_held;
  {
    absl::WriterMutexLock lock(&mu_);
    const absl::Time exclusive = absl::Now();
    if (related_lists_ != nullptr) {
      // An entry shows its slot's current card (see Shown); a deleted
      // article's entry gets kNoCard and keeps its box counted as not fresh.
      related_lists_->RemapCards(
          [&](const BoxedArticle& entry) { return card_by_slot[entry.slot]; });
    }
    // The old cards are freed after the lock is released (they are in the
    // locals now).
    card_by_slot_.swap(card_by_slot);
    std::swap(cards_, laid_out);
    readers_held = absl::Now() - exclusive;
  }
  card_layout_seconds_.store(absl::ToDoubleSeconds(absl::Now() - start));
  card_layout_pause_seconds_.store(absl::ToDoubleSeconds(readers_held));
  absl::ReaderMutexLock lock(&mu_);
  card_pages_per_box_.store(CardPagesPerBoxLocked());
}

std::vector<Slot> ArticleIndex::CardOrderLocked() const {
  // Breadth first over the stored boxes: an article's box members that are
  // not placed yet follow it, then theirs, so a cluster of related articles
  // ends up on a few consecutive pages. Without lists, slot order.
  const Slot slots = static_cast<Slot>(card_by_slot_.size());
  std::vector<bool> placed(card_by_slot_.size(), false);
  std::vector<Slot> order;
  order.reserve(card_by_slot_.size());
  for (Slot root = 0; root < slots; ++root) {
    if (placed[root] || card_by_slot_[root] == kNoCard) continue;
    placed[root] = true;
    // `order` doubles as the queue: the walk is at `next`.
    size_t next = order.size();
    order.push_back(root);
    for (; next < order.size(); ++next) {
      const StoredBox* box = related_lists_ != nullptr
                                 ? related_lists_->Box(order[next])
                                 : nullptr;
      if (box == nullptr) continue;
      for (const BoxedArticle& entry : box->chosen) {
        const Slot member = entry.slot;
        if (!placed[member] && card_by_slot_[member] != kNoCard) {
          placed[member] = true;
          order.push_back(member);
        }
      }
    }
  }
  return order;
}

double ArticleIndex::CardPagesPerBoxLocked() const {
  if (related_lists_ == nullptr) return 0;
  int64_t boxes = 0, pages = 0;
  std::vector<uintptr_t> box_pages;
  for (Slot slot = 0; slot < static_cast<Slot>(card_by_slot_.size());
       ++slot) {
    const StoredBox* box = related_lists_->Box(slot);
    if (box == nullptr || box->chosen.empty()) continue;
    box_pages.clear();
    // Right after a layout every entry holds its slot's current card, so
    // the cards themselves need not be read.
    for (const BoxedArticle& entry : box->chosen) {
      if (entry.card == kNoCard) continue;
      box_pages.push_back(
          reinterpret_cast<uintptr_t>(cards_.Address(entry.card)) >> 12);
    }
    std::sort(box_pages.begin(), box_pages.end());
    pages += std::unique(box_pages.begin(), box_pages.end()) - box_pages.begin();
    ++boxes;
  }
  return boxes == 0 ? 0 : double(pages) / double(boxes);
}

std::vector<Neighbor> ArticleIndex::NeighboursOfNeighboursLocked(
    Slot slot) const {
  std::vector<Neighbor> merged;
  if (by_slot_[slot] == nullptr) return merged;
  const std::vector<ListedNeighbor>& own = related_lists_->Candidates(slot);
  std::vector<uint32_t> reached;
  reached.reserve(own.size() * (related_lists_->pool_size() + 1));
  for (const ListedNeighbor& n : own) {
    reached.push_back(n.slot);
    for (const ListedNeighbor& m : related_lists_->Candidates(n.slot)) {
      reached.push_back(m.slot);
    }
  }
  std::sort(reached.begin(), reached.end());
  reached.erase(std::unique(reached.begin(), reached.end()), reached.end());
  const float* self = index_->StoredVector(slot);
  const int dimension = index_->Dimension();
  merged.reserve(reached.size());
  for (uint32_t other : reached) {
    if (other == slot || by_slot_[other] == nullptr) continue;
    merged.push_back(
        {other, faiss::fvec_inner_product(self, index_->StoredVector(other),
                                          dimension)});
  }
  // Best first; equal scores in slot order, so the result is deterministic.
  const auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.score != b.score ? a.score > b.score : a.slot < b.slot;
  };
  const size_t keep =
      std::min(merged.size(), static_cast<size_t>(related_lists_->pool_size()));
  std::partial_sort(merged.begin(), merged.begin() + keep, merged.end(),
                    better);
  merged.resize(keep);
  return merged;
}

absl::StatusOr<StoredBox> ArticleIndex::RankBoxLocked(Slot slot) const {
  const RankingPolicy& policy = options_.default_policy;
  const int limit = options_.default_limit;
  std::vector<ListedNeighbor> listed;
  std::vector<Candidate> candidates;
  for (const ListedNeighbor& n : related_lists_->Candidates(slot)) {
    // Listed articles removed since are skipped (see UpdateRelatedLists).
    if (n.slot == slot || by_slot_[n.slot] == nullptr) continue;
    listed.push_back(n);
    candidates.push_back(
        {n.score, index_->StoredVector(n.slot), &by_slot_[n.slot]->metadata});
  }
  RankingDebug debug;
  const std::vector<size_t> chosen = RankCandidates(
      policy, absl::Now(), candidates, index_->Dimension(), limit, debug);

  StoredBox box;
  const bool below_min_score = policy.min_score.has_value() &&
                               !listed.empty() &&
                               listed.back().score < *policy.min_score;
  if (static_cast<int>(chosen.size()) < limit &&
      index_->LiveCount() - 1 > static_cast<int64_t>(listed.size()) &&
      !below_min_score) {
    // The list cannot fill the box (many near-duplicates, or removals) while
    // other articles exist: search as a lookup without a list would.
    auto ranked =
        RankSlotsLocked(index_->StoredVector(slot), slot, limit, {}, policy);
    if (!ranked.ok()) return ranked.status();
    box.chosen.assign(ranked->chosen.begin(), ranked->chosen.end());
    debug = ranked->debug;
    box.widened = true;
  } else {
    box.chosen.reserve(chosen.size());
    for (size_t position : chosen) {
      box.chosen.push_back(
          BoxEntry(listed[position].slot, listed[position].score));
    }
  }
  const auto count = [](int64_t n) {
    return static_cast<uint16_t>(std::min<int64_t>(n, UINT16_MAX));
  };
  box.candidates_considered = count(debug.candidates_considered);
  box.removed_by_min_score = count(debug.removed_by_min_score);
  box.removed_as_near_duplicate = count(debug.removed_as_near_duplicate);
  return box;
}

void ArticleIndex::PutArticleLocked(
    Slot slot, std::shared_ptr<const StoredArticle> stored) {
  CardRef& card = card_by_slot_[slot];
  if (card != kNoCard) cards_.Retire(card);
  card = cards_.Add(stored->id, stored->metadata);
  by_slot_[slot] = std::move(stored);
}

void ArticleIndex::RemoveSlotLocked(Slot slot) {
  cards_.Retire(card_by_slot_[slot]);
  const std::optional<SlotMove> move = index_->Remove(slot);
  if (!move.has_value()) {
    by_slot_[slot] = nullptr;
    card_by_slot_[slot] = kNoCard;
    return;
  }
  auto moved = std::move(by_slot_[move->from]);
  by_id_[moved->id].slot = move->to;
  by_slot_[move->to] = std::move(moved);
  by_slot_.resize(move->from);
  card_by_slot_[move->to] = card_by_slot_[move->from];
  card_by_slot_.resize(move->from);
}

absl::StatusOr<int> ArticleIndex::Delete(const std::vector<ArticleId>& ids) {
  if (absl::Status s =
          CheckBatchSize(ids.size(), options_.max_batch_size, "article_ids");
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (absl::Status s =
            ValidateArticleId(ids[i], options_.max_id_bytes,
                              absl::StrCat("article_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  Journal* journal = nullptr;
  uint64_t ticket = 0;
  int deleted = 0;
  {
    absl::MutexLock write_lock(&write_mu_);
    journal = journal_;
    if (journal != nullptr) {
      // Only deletes that change something are logged.
      std::vector<ArticleId> existing;
      {
        absl::ReaderMutexLock lock(&mu_);
        for (const ArticleId& id : ids) {
          if (by_id_.contains(id)) existing.push_back(id);
        }
      }
      if (existing.empty()) return 0;
      auto recorded = journal->RecordDelete(existing);
      if (!recorded.ok()) return recorded.status();
      ticket = *recorded;
    }
    for (size_t begin = 0; begin < ids.size();
         begin += options_.write_chunk_size) {
      const size_t end =
          std::min(ids.size(), begin + options_.write_chunk_size);
      std::vector<Slot> removed;
      {
        absl::WriterMutexLock lock(&mu_);
        for (size_t i = begin; i < end; ++i) {
          auto it = by_id_.find(ids[i]);
          if (it == by_id_.end()) continue;
          const Slot slot = it->second.slot;
          by_id_.erase(it);
          RemoveSlotLocked(slot);
          removed.push_back(slot);
          ++deleted;
        }
      }
      UpdateRelatedLists({}, removed);
    }
    RelayOutCardsIfWasteful();
  }
  if (journal != nullptr) {
    if (absl::Status s = journal->Commit(ticket); !s.ok()) return s;
  }
  return deleted;
}

absl::StatusOr<Article> ArticleIndex::Get(const ArticleId& id) const {
  if (absl::Status s =
          ValidateArticleId(id, options_.max_id_bytes, "article_id");
      !s.ok()) {
    return s;
  }
  Article article;
  std::shared_ptr<const StoredArticle> stored;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) {
      return absl::NotFoundError(absl::StrCat("article '", id, "' not found"));
    }
    article.embedding.resize(index_->Dimension());
    index_->Vector(it->second.slot, article.embedding.data());
    stored = it->second.article;
  }
  article.id = stored->id;
  article.metadata = stored->metadata;
  return article;
}

absl::Status ArticleIndex::ValidateLookup(
    const int limit, const std::vector<ArticleId>& exclude_ids,
    const RankingPolicy& policy) const {
  if (limit < 0 || limit > options_.max_limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be between 1 and ", options_.max_limit,
                     " (or 0 for the default of ", options_.default_limit,
                     "), got ", limit));
  }
  if (absl::Status s = CheckBatchSize(exclude_ids.size(),
                                      options_.max_batch_size, "exclude_ids");
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < exclude_ids.size(); ++i) {
    if (absl::Status s =
            ValidateArticleId(exclude_ids[i], options_.max_id_bytes,
                              absl::StrCat("exclude_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  return ValidateRankingPolicy(policy);
}

absl::Status ArticleIndex::ValidateRelatedQuery(
    const RelatedQuery& query) const {
  if (absl::Status s = ValidateArticleId(query.article_id,
                                         options_.max_id_bytes, "article_id");
      !s.ok()) {
    return s;
  }
  return ValidateLookup(query.limit, query.exclude_ids, query.policy);
}

absl::StatusOr<RelatedList> ArticleIndex::Related(
    const RelatedQuery& query) const {
  if (absl::Status s = ValidateRelatedQuery(query); !s.ok()) return s;
  return RelatedUnchecked(query);
}

absl::StatusOr<RankingDebug> ArticleIndex::VisitRelated(
    const RelatedQuery& query, RelatedVisitor visit) const {
  if (absl::Status s = ValidateRelatedQuery(query); !s.ok()) return s;
  return LookUpBox(query, [&](absl::Span<const BoxedArticle> box) {
    for (const BoxedArticle& entry : box) {
      visit(ApiScore(entry.score), cards_.Get(Shown(entry)));
    }
  });
}

absl::StatusOr<RelatedList> ArticleIndex::RelatedUnchecked(
    const RelatedQuery& query) const {
  RelatedList out;
  auto debug = LookUpBox(query, [&](absl::Span<const BoxedArticle> box) {
    out.articles = ToRelatedArticles(box);
  });
  if (!debug.ok()) return debug.status();
  out.debug = *debug;
  return out;
}

absl::StatusOr<RankingDebug> ArticleIndex::LookUpBox(
    const RelatedQuery& query,
    absl::FunctionRef<void(absl::Span<const BoxedArticle> box)> use) const {
  const size_t limit =
      query.limit == 0 ? options_.default_limit : size_t(query.limit);
  // The first `limit` of a ranked box.
  const auto use_first = [&](absl::Span<const BoxedArticle> box) {
    use(box.first(std::min(box.size(), limit)));
  };
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_id_.find(query.article_id);
  if (it == by_id_.end()) {
    return absl::NotFoundError(
        absl::StrCat("article '", query.article_id, "' not found"));
  }
  const Slot slot = it->second.slot;
  // An article whose list a bulk load has not built yet is searched for.
  if (UsesRelatedList(query) && related_lists_->Listed(slot)) {
    const StoredBox* box = related_lists_->Box(slot);
    // The box's cards are read from the box itself; the slot table is
    // consulted only for an article written since (see Shown).
    if (box != nullptr) PrefetchCards(box->chosen);
    const bool fresh =
        box != nullptr && std::all_of(box->chosen.begin(), box->chosen.end(),
                                      [&](const BoxedArticle& entry) {
                                        return Shown(entry) != kNoCard;
                                      });
    std::optional<StoredBox> ranked_now;
    if (!fresh) {
      // A write is updating this list right now, or a listed article was
      // removed: rank from the list here (readers never store it).
      auto ranked = RankBoxLocked(slot);
      if (!ranked.ok()) return ranked.status();
      ranked_now = *std::move(ranked);
      box = &*ranked_now;
    }
    // Diversity over a widened search is not a prefix of a larger box.
    if (!box->widened || limit == size_t(options_.default_limit) ||
        query.policy.diversity_lambda >= 1.0f) {
      RankingDebug debug;
      debug.candidates_considered = box->candidates_considered;
      debug.removed_by_min_score = box->removed_by_min_score;
      debug.removed_as_near_duplicate = box->removed_as_near_duplicate;
      debug.search_rounds = (!fresh && box->widened) ? 1 : 0;
      debug.precomputed = fresh;
      debug.now = query.policy.now.value_or(absl::Now());
      use_first(box->chosen);
      return debug;
    }
  }
  auto ranked = RankSlotsLocked(index_->StoredVector(slot), slot, int(limit),
                                query.exclude_ids, query.policy);
  if (!ranked.ok()) return ranked.status();
  use_first(ranked->chosen);
  return ranked->debug;
}

bool ArticleIndex::UsesRelatedList(const RelatedQuery& query) const {
  return related_lists_ != nullptr && query.exclude_ids.empty() &&
         query.limit <= options_.default_limit &&
         SameRankingIgnoringClock(query.policy, options_.default_policy);
}

CardRef ArticleIndex::Shown(const BoxedArticle& entry) const {
  // After a delete or a new vector the old slot is empty (kNoCard here),
  // and a box still holding the article is ranked again. An edited headline
  // (same vector) changes no box: the box keeps the old card and shows the
  // new. A card is retired exactly when its article is, so an entry whose
  // card is not retired still shows its slot's current article.
  return entry.card != kNoCard && !cards_.Retired(entry.card)
             ? entry.card
             : card_by_slot_[entry.slot];
}

BoxedArticle ArticleIndex::BoxEntry(Slot slot, float score) const {
  return {card_by_slot_[slot], static_cast<uint32_t>(slot), score};
}

void ArticleIndex::PrefetchCards(absl::Span<const BoxedArticle> box) const {
  // Asking for every card up front lets the memory reads overlap instead of
  // running one after the other (each waits on a cache and often a TLB
  // miss at a million articles).
  for (const BoxedArticle& entry : box) {
    if (entry.card != kNoCard) cards_.Prefetch(entry.card);
  }
}

std::vector<RelatedArticle> ArticleIndex::ToRelatedArticles(
    absl::Span<const BoxedArticle> box) const {
  std::vector<RelatedArticle> out;
  out.reserve(box.size());
  for (const BoxedArticle& entry : box) {
    // The slot's current article is the one Shown() shows (the box is
    // fresh, so the slot is not empty).
    const std::shared_ptr<const StoredArticle>& article = by_slot_[entry.slot];
    out.push_back({article->id, ApiScore(entry.score),
                   std::shared_ptr<const ArticleMetadata>(
                       article, &article->metadata)});
  }
  return out;
}

absl::StatusOr<RelatedList> ArticleIndex::RelatedToVector(
    VectorQuery query) const {
  if (absl::Status s =
          ValidateLookup(query.limit, query.exclude_ids, query.policy);
      !s.ok()) {
    return s;
  }
  // The dimension is fixed once the first article is stored; before that
  // there is nothing to relate to.
  const int dimension = dimension_.load();
  if (absl::Status s =
          NormalizeEmbedding(query.embedding, dimension, "embedding");
      !s.ok()) {
    return s;
  }
  absl::ReaderMutexLock lock(&mu_);
  if (index_ == nullptr) return RelatedList{};
  return RankLocked(query.embedding.data(), std::nullopt, query.limit,
                    query.exclude_ids, query.policy);
}

absl::StatusOr<std::vector<RelatedResult>> ArticleIndex::BatchRelated(
    const std::vector<ArticleId>& article_ids, int limit,
    const std::vector<ArticleId>& exclude_ids, const RankingPolicy& policy,
    absl::FunctionRef<bool()> cancelled) const {
  if (absl::Status s = CheckBatchSize(article_ids.size(),
                                      options_.max_batch_size, "article_ids");
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < article_ids.size(); ++i) {
    if (absl::Status s =
            ValidateArticleId(article_ids[i], options_.max_id_bytes,
                              absl::StrCat("article_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ValidateLookup(limit, exclude_ids, policy); !s.ok())
    return s;
  std::vector<RelatedResult> results(article_ids.size());
  for (size_t i = 0; i < article_ids.size(); ++i) {
    if (cancelled()) {
      return absl::CancelledError(
          absl::StrCat("the call was cancelled or its deadline expired after ",
                       i, " of ", article_ids.size(), " items"));
    }
    results[i].article_id = article_ids[i];
    // Each item is its own lookup (and takes the lock on its own, so a
    // writer never waits for a whole large batch).
    auto related =
        RelatedUnchecked({article_ids[i], limit, exclude_ids, policy});
    if (related.ok()) {
      results[i].related = *std::move(related);
    } else {
      results[i].status = related.status();
    }
  }
  return results;
}

absl::StatusOr<RelatedList> ArticleIndex::RankLocked(
    const float* query, std::optional<Slot> self, int limit,
    const std::vector<ArticleId>& exclude_ids,
    const RankingPolicy& policy) const {
  if (limit == 0) limit = options_.default_limit;
  auto ranked = RankSlotsLocked(query, self, limit, exclude_ids, policy);
  if (!ranked.ok()) return ranked.status();
  return RelatedList{
      ToRelatedArticles(absl::MakeConstSpan(ranked->chosen).first(
          std::min(ranked->chosen.size(), size_t(limit)))),
      ranked->debug};
}

absl::StatusOr<ArticleIndex::RankedSlots> ArticleIndex::RankSlotsLocked(
    const float* query, std::optional<Slot> self, int limit,
    const std::vector<ArticleId>& exclude_ids,
    const RankingPolicy& policy) const {
  const absl::Time now = policy.now.value_or(absl::Now());
  // The query article is excluded inside the search, not dropped from rank
  // 0 afterwards: with approximate search it is not always first.
  absl::flat_hash_set<Slot> excluded;
  if (self.has_value()) excluded.insert(*self);
  for (const ArticleId& id : exclude_ids) {
    if (auto it = by_id_.find(id); it != by_id_.end())
      excluded.insert(it->second.slot);
  }

  const int64_t live = index_->LiveCount();
  const int dimension = index_->Dimension();
  int64_t pool = CandidatePoolSize(policy, limit);
  for (int round = 1;; ++round, pool *= 2) {
    RankingDebug debug;
    debug.search_rounds = round;
    debug.now = now;
    // Filters run inside the FAISS search, so every candidate it returns is
    // eligible however selective the filters are.
    auto admit = [&](Slot slot) {
      if (excluded.contains(slot)) {
        if (slot != self) ++debug.removed_by_exclude_ids;
        return false;
      }
      switch (FailedFilter(policy, by_slot_[slot]->metadata, now)) {
        case FilterRule::kNone:
          return true;
        case FilterRule::kSection:
          ++debug.removed_by_section;
          break;
        case FilterRule::kLanguage:
          ++debug.removed_by_language;
          break;
        case FilterRule::kDate:
          ++debug.removed_by_date;
          break;
        case FilterRule::kAttributes:
          ++debug.removed_by_attributes;
          break;
      }
      return false;
    };
    const int k =
        static_cast<int>(std::min<int64_t>(pool, std::max<int64_t>(live, 1)));
    auto neighbors = index_->Search(query, k, admit);
    if (!neighbors.ok()) return neighbors.status();
    if (static_cast<int>(neighbors->size()) < k &&
        index_->Kind() != IndexKind::kExact) {
      // The graph search ran dry (selective filters, many tombstones):
      // scan instead, so eligible articles are never silently missed.
      debug = RankingDebug{};
      debug.search_rounds = round;
      debug.now = now;
      neighbors = index_->SearchExhaustive(query, k, admit);
      if (!neighbors.ok()) return neighbors.status();
    }

    std::vector<Candidate> candidates;
    candidates.reserve(neighbors->size());
    for (const Neighbor& n : *neighbors) {
      candidates.push_back(
          {n.score, index_->StoredVector(n.slot), &by_slot_[n.slot]->metadata});
    }
    const std::vector<size_t> chosen =
        RankCandidates(policy, now, candidates, dimension, limit, debug);

    // Widening cannot help once every eligible article was a candidate, or
    // once candidates fell below min_score (the rest are less similar).
    const bool exhausted =
        static_cast<int>(neighbors->size()) < k || k >= live ||
        (policy.min_score.has_value() && !neighbors->empty() &&
         neighbors->back().score < *policy.min_score);
    if (static_cast<int>(chosen.size()) >= limit || exhausted) {
      RankedSlots out;
      out.debug = debug;
      out.chosen.reserve(chosen.size());
      for (size_t position : chosen) {
        const Neighbor& n = (*neighbors)[position];
        out.chosen.push_back(BoxEntry(n.slot, n.score));
      }
      return out;
    }
  }
}

void ArticleIndex::AttachJournal(Journal* journal) {
  absl::MutexLock write_lock(&write_mu_);
  journal_ = journal;
}

absl::Status ArticleIndex::Checkpoint(
    absl::FunctionRef<absl::Status(int dimension)> cut,
    absl::FunctionRef<absl::Status(const Article&)> visit) const {
  absl::MutexLock write_lock(&write_mu_);
  if (absl::Status s = cut(dimension_.load()); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  Article article;
  for (const auto& [id, entry] : by_id_) {
    article.id = id;
    article.embedding.resize(index_->Dimension());
    index_->Vector(entry.slot, article.embedding.data());
    article.metadata = entry.article->metadata;
    if (absl::Status s = visit(article); !s.ok()) return s;
  }
  return absl::OkStatus();
}

IndexStats ArticleIndex::Stats() const {
  absl::ReaderMutexLock lock(&mu_);
  IndexStats stats;
  stats.article_count = static_cast<int64_t>(by_id_.size());
  stats.dimension = dimension_.load();
  stats.index_kind = options_.index_kind;
  stats.index_memory_bytes = index_ ? index_->MemoryBytes() : 0;
  if (related_lists_ != nullptr) {
    stats.related_lists_precomputed = true;
    stats.related_lists_memory_bytes = related_lists_->MemoryBytes();
    stats.related_lists_stale = related_lists_->StaleCount();
  }
  stats.cards_memory_bytes = cards_.MemoryBytes();
  stats.card_pages_per_box = card_pages_per_box_.load();
  stats.card_layout_seconds = card_layout_seconds_.load();
  stats.card_layout_pause_seconds = card_layout_pause_seconds_.load();
  return stats;
}

}  // namespace related
