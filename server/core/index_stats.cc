// ArticleIndex::Stats: the index's figures, read under its shared lock
// (declared in article_index.h; IndexStats says what each one means).
#include "server/core/article_index.h"

namespace related {

IndexStats ArticleIndex::Stats(StatsScope scope) const {
  absl::ReaderMutexLock lock(&mu_);
  IndexStats stats;
  stats.article_count = articles_.size();
  stats.dimension = dimension_.load();
  stats.index_kind = options_.index_kind;
  stats.index_memory_bytes = vectors_ ? vectors_->MemoryBytes() : 0;
  stats.slots = vectors_ ? vectors_->SlotCount() : 0;
  stats.tombstones = vectors_ ? stats.slots - vectors_->LiveCount() : 0;
  if (lists_ != nullptr) {
    stats.related_lists_precomputed = true;
    if (scope == StatsScope::kAll) {
      stats.related_lists_memory_bytes = lists_->MemoryBytes();
    }
    stats.related_lists_stale = lists_->StaleCount();
  }
  stats.cards_memory_bytes = articles_.cards().MemoryBytes();
  stats.card_pages_per_box = card_pages_per_box_.load();
  stats.card_layout_seconds = card_layout_seconds_.load();
  stats.card_layout_pause_seconds = card_layout_pause_seconds_.load();
  stats.compactions = compactions_.load();
  stats.compacting = compacting_.load();
  stats.compaction_seconds = compaction_seconds_.load();
  return stats;
}

}  // namespace related
