// PositionJournal: the index's journal in replicated mode. The stream is
// the record of writes, so nothing is written here; what it keeps is which
// stream entry the index last applied. ArticleIndex calls Record* with its
// writers' lock held, in the same critical section as the apply, so a
// snapshot's cut (taken with writers held off) reads a position that
// matches the articles it holds exactly.
#ifndef RELATED_SERVER_REPLICATION_POSITION_JOURNAL_H_
#define RELATED_SERVER_REPLICATION_POSITION_JOURNAL_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "server/core/journal.h"

namespace related::replication {

class PositionJournal final : public Journal {
 public:
  // The applier, before it hands entry `sequence` to the index.
  void Applying(uint64_t sequence) { applying_.store(sequence); }
  // Where recovery left off (the loaded snapshot's position).
  void Reset(uint64_t position) {
    applying_.store(position);
    position_.store(position);
  }
  // The last entry whose writes are in the index.
  uint64_t position() const { return position_.load(); }

  absl::StatusOr<uint64_t> RecordUpsert(const std::vector<Article>&) override {
    position_.store(applying_.load());
    return 0;
  }
  absl::StatusOr<uint64_t> RecordDelete(const std::vector<ArticleId>&) override {
    position_.store(applying_.load());
    return 0;
  }
  absl::Status Commit(uint64_t) override { return absl::OkStatus(); }

  // Passed on (the store takes a snapshot after a large import).
  void ForwardBulkLoads(Journal* to) { forward_ = to; }
  void BulkLoadFinished(int64_t articles) override {
    if (forward_ != nullptr) forward_->BulkLoadFinished(articles);
  }

 private:
  std::atomic<uint64_t> applying_{0};
  std::atomic<uint64_t> position_{0};
  Journal* forward_ = nullptr;
};

}  // namespace related::replication

#endif  // RELATED_SERVER_REPLICATION_POSITION_JOURNAL_H_
