#include "server/core/compaction.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/time/clock.h"
#include "server/core/article_index.h"
#include "server/core/article_writes.h"
#include "server/core/freed_memory.h"

namespace related {
namespace {

// Slots copied per hold of the shared lock.
constexpr Slot kCopyChunk = 2048;
// Recorded writes few enough to apply while writers wait.
constexpr size_t kFewWrites = 64;

}  // namespace

Compaction::Compaction(ArticleIndex& index) : index_(index) {
  thread_ = std::thread([this] { Run(); });
}

Compaction::~Compaction() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void Compaction::Record(const std::vector<Article>& upserts) {
  if (recording_) recorded_.emplace_back(upserts);
}

void Compaction::Record(const std::vector<ArticleId>& deletes) {
  if (recording_) recorded_.emplace_back(deletes);
}

std::vector<Compaction::Write> Compaction::TakeRecorded() {
  std::vector<Write> writes;
  writes.swap(recorded_);
  return writes;
}

void Compaction::Run() {
  const absl::Time start = absl::Now();
  ArticleIndexOptions options = index_.options();
  options.compaction_threshold = 0;  // none inside the rebuild
  std::unique_ptr<ArticleIndex> fresh = *ArticleIndex::Create(options);
  const bool swapped = Copy(*fresh) && CatchUpAndSwap(*fresh);
  if (swapped) {
    index_.compactions_.fetch_add(1);
    index_.compaction_seconds_.store(
        absl::ToDoubleSeconds(absl::Now() - start));
  } else {
    absl::MutexLock lock(&index_.write_mu_);
    recording_ = false;
    recorded_.clear();
  }
  fresh.reset();  // the old parts after a swap; else the unused new ones
  ReleaseFreedMemory();
  index_.compacting_.store(false);
  finished_.store(true);
  done_.Notify();
}

bool Compaction::Copy(ArticleIndex& fresh) {
  const size_t batch = static_cast<size_t>(index_.options().max_batch_size);
  const Slot slots =
      index_.Shared([&] { return index_.articles_.slot_count(); });
  ArticleIndex::BulkLoad bulk;
  std::vector<Article> copied;
  for (Slot begin = 0; begin < slots && !stop_.load(); begin += kCopyChunk) {
    index_.Shared([&] {
      const Slot end =
          std::min(begin + kCopyChunk, index_.articles_.slot_count());
      for (Slot slot = begin; slot < end; ++slot) {
        if (!index_.articles_.Occupied(slot)) continue;
        copied.push_back(ArticleAt(*index_.vectors_, index_.articles_, slot));
      }
    });
    while (copied.size() >= batch ||
           (begin + kCopyChunk >= slots && !copied.empty())) {
      const size_t take = std::min(batch, copied.size());
      std::vector<Article> part(std::make_move_iterator(copied.begin()),
                                std::make_move_iterator(copied.begin() + take));
      copied.erase(copied.begin(), copied.begin() + take);
      if (!fresh.Upsert(std::move(part), &bulk).ok()) return false;
    }
  }
  fresh.FinishBulkLoad(bulk);
  return !stop_.load();
}

namespace {

// Applies recorded writes to the new index; false if one fails (the
// rebuild is then abandoned rather than swapped in wrong).
template <typename Writes>
bool Apply(Writes& writes, ArticleIndex& fresh) {
  for (auto& write : writes) {
    const bool ok =
        std::holds_alternative<std::vector<Article>>(write)
            ? fresh.Upsert(std::get<std::vector<Article>>(std::move(write)))
                  .ok()
            : fresh.Delete(std::get<std::vector<ArticleId>>(write)).ok();
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool Compaction::CatchUpAndSwap(ArticleIndex& fresh) {
  while (!stop_.load()) {
    index_.write_mu_.Lock();
    std::vector<Write> writes = TakeRecorded();
    if (writes.size() <= kFewWrites) {
      // Writers wait from here to the swap: a few writes and three swaps.
      const bool ok = Apply(writes, fresh);
      if (ok) {
        index_.SwapParts(fresh);
        recording_ = false;
      }
      index_.write_mu_.Unlock();
      return ok;
    }
    index_.write_mu_.Unlock();
    if (!Apply(writes, fresh)) return false;
  }
  return false;
}

// The index's side of compaction: when to start one, and the swap.

void ArticleIndex::MaybeCompact() {
  if (compaction_ != nullptr) {
    if (!compaction_->finished()) return;
    compaction_.reset();  // its thread needs no lock any more
  }
  const double threshold = options_.compaction_threshold;
  const auto [tombstones, slots] = Shared([&] {
    return vectors_ ? std::pair(vectors_->SlotCount() - vectors_->LiveCount(),
                                vectors_->SlotCount())
                    : std::pair<int64_t, int64_t>(0, 0);
  });
  if (threshold > 0 && tombstones >= options_.compaction_min_tombstones &&
      double(tombstones) > threshold * double(slots)) {
    compacting_.store(true);
    compaction_ = std::make_shared<Compaction>(*this);
  }
}

void ArticleIndex::AwaitCompaction() const {
  std::shared_ptr<Compaction> running;
  {
    absl::MutexLock write_lock(&write_mu_);
    running = compaction_;
  }
  if (running != nullptr) running->AwaitFinished();
}

void ArticleIndex::SwapParts(ArticleIndex& fresh) {
  ExclusiveHold lock(*this);
  absl::WriterMutexLock fresh_lock(&fresh.mu_);
  std::swap(vectors_, fresh.vectors_);
  std::swap(articles_, fresh.articles_);
  std::swap(lists_, fresh.lists_);
  ++parts_epoch_;
  card_pages_per_box_.store(fresh.card_pages_per_box_.load());
  card_layout_seconds_.store(fresh.card_layout_seconds_.load());
  card_layout_pause_seconds_.store(fresh.card_layout_pause_seconds_.load());
}

}  // namespace related
