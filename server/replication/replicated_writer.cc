#include "server/replication/replicated_writer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/storage/record_codec.h"

namespace related::replication {
namespace {

// A publish JetStream did not acknowledge (no leader during a failover, a
// reconnect) is tried again, under the same message ID, this many times.
constexpr int kPublishAttempts = 3;
constexpr absl::Duration kRetryPause = absl::Milliseconds(500);

}  // namespace

// An import stream: its batches carry the import's ID, so that every
// replica applies them as one bulk load, and its end is an entry of its own
// after which every replica builds the import's related lists.
class ReplicatedWriter::ReplicatedImport final : public Import {
 public:
  ReplicatedImport(ReplicatedWriter& writer, std::string id)
      : writer_(writer), id_(std::move(id)) {}

  absl::Status Upsert(std::vector<Article> articles) override {
    if (articles.empty()) return absl::OkStatus();
    auto outcome = writer_.SubmitUpsert(articles, id_);
    if (!outcome.ok()) return outcome.status();
    batches_ += 1;
    return outcome->status;
  }

  void Finish() override {
    if (batches_ == 0) return;
    NatsStream::Entry entry;
    entry.import_id = id_;
    entry.import_end = true;
    // Returns once this replica built the import's lists, or after the
    // apply timeout (they are then still being built: lookups of the
    // import's articles search meanwhile). Should the publish fail, every
    // replica builds the lists by itself once the import has been quiet for
    // a while (Replica::FinishAbandonedImports).
    writer_.Submit(std::move(entry)).IgnoreError();
  }

 private:
  ReplicatedWriter& writer_;
  const std::string id_;
  int64_t batches_ = 0;
};

absl::StatusOr<Replica::Outcome> ReplicatedWriter::SubmitUpsert(
    const std::vector<Article>& articles, const std::string& import_id) {
  if (absl::Status s = limits_.CheckBatchSize(articles.size(), "articles");
      !s.ok()) {
    return s;
  }
  // Checked on a copy: the entry carries the articles as given, and every
  // replica normalises them as it applies.
  std::vector<Article> checked = articles;
  if (absl::Status s = limits_.CheckArticles(checked, options_.dimension);
      !s.ok()) {
    return s;
  }
  NatsStream::Entry entry;
  entry.payload = storage::EncodeUpsertRecord(articles);
  entry.import_id = import_id;
  return Submit(std::move(entry));
}

absl::Status ReplicatedWriter::Upsert(std::vector<Article> articles) {
  if (articles.empty()) return absl::OkStatus();
  auto outcome = SubmitUpsert(articles, "");
  return outcome.ok() ? outcome->status : outcome.status();
}

absl::StatusOr<int> ReplicatedWriter::Delete(
    const std::vector<ArticleId>& ids) {
  if (absl::Status s = limits_.CheckIds(ids, "article_ids"); !s.ok()) return s;
  if (ids.empty()) return 0;
  NatsStream::Entry entry;
  entry.payload = storage::EncodeDeleteRecord(ids);
  auto outcome = Submit(std::move(entry));
  if (!outcome.ok()) return outcome.status();
  if (!outcome->status.ok()) return outcome->status;
  return outcome->deleted;
}

std::unique_ptr<ArticleWriter::Import> ReplicatedWriter::StartImport() {
  return std::make_unique<ReplicatedImport>(
      *this, absl::StrCat(replica_.origin(), "-import-", next_id_++));
}

absl::StatusOr<Replica::Outcome> ReplicatedWriter::Submit(
    NatsStream::Entry entry) {
  entry.origin = replica_.origin();
  entry.message_id = absl::StrCat(replica_.origin(), "-", next_id_++);
  absl::StatusOr<uint64_t> sequence = PublishOnce(entry);
  for (int attempt = 1; attempt < kPublishAttempts &&
                        sequence.status().code() == absl::StatusCode::kUnavailable;
       ++attempt) {
    absl::SleepFor(kRetryPause);
    sequence = PublishOnce(entry);
  }
  if (!sequence.ok()) {
    if (sequence.status().code() != absl::StatusCode::kUnavailable) {
      return sequence.status();
    }
    // Not acknowledged is not refused: a stream leader that lost its quorum
    // may still commit the entry once the quorum is back.
    return absl::UnavailableError(absl::StrCat(
        sequence.status().message(),
        "; the write was not acknowledged and may or may not be applied once "
        "NATS recovers: retry it (writes are idempotent)"));
  }
  return replica_.Await(*sequence, absl::Now() + apply_timeout_);
}

absl::StatusOr<uint64_t> ReplicatedWriter::PublishOnce(
    const NatsStream::Entry& entry) {
  const absl::Time start = absl::Now();
  auto sequence = stream_.Publish(entry);
  if (observer_ != nullptr) {
    observer_->Published(absl::Now() - start, sequence.ok());
  }
  return sequence;
}

}  // namespace related::replication
