#include "server/core/storage/replayer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/storage/record_codec.h"

namespace related::storage {

absl::Status Replayer::CheckDimension(int got) const {
  const int dimension = index_.dimension();
  if (dimension != 0 && got != dimension) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", data_dir_, " holds ", got,
        "-dimensional embeddings, but the server is configured for ", dimension,
        " (--dim); start with --dim=", got, " or another --data_dir"));
  }
  return absl::OkStatus();
}

absl::Status Replayer::Upsert(Article article) {
  if (absl::Status s =
          CheckDimension(static_cast<int>(article.embedding.size()));
      !s.ok()) {
    return s;
  }
  pending_.push_back(std::move(article));
  return pending_.size() >= static_cast<size_t>(index_.options().max_batch_size)
             ? Flush()
             : absl::OkStatus();
}

absl::Status Replayer::Delete(std::vector<ArticleId> ids) {
  if (absl::Status s = Flush(); !s.ok()) return s;
  const size_t max = static_cast<size_t>(index_.options().max_batch_size);
  for (size_t begin = 0; begin < ids.size(); begin += max) {
    std::vector<ArticleId> chunk(
        ids.begin() + begin, ids.begin() + std::min(ids.size(), begin + max));
    auto deleted = index_.Delete(chunk);
    if (!deleted.ok()) return deleted.status();
  }
  return absl::OkStatus();
}

absl::Status Replayer::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  absl::Status s = index_.Upsert(std::move(pending_), &bulk_);
  pending_.clear();
  if (!s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("replaying into the index: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status Replayer::Finish() {
  if (absl::Status s = Flush(); !s.ok()) return s;
  index_.FinishBulkLoad(bulk_);
  return absl::OkStatus();
}

absl::Status Replayer::Apply(absl::string_view payload) {
  auto record = DecodeWriteRecord(payload);
  if (!record.ok()) return record.status();
  if (record->kind == WriteRecord::Kind::kHold) {
    return Hold(std::move(record->articles));
  }
  // A later upsert or delete releases a held article, as when written.
  if (record->kind == WriteRecord::Kind::kDelete) {
    if (held_ != nullptr) held_->Erase(record->ids);
    return Delete(std::move(record->ids));
  }
  if (held_ != nullptr) held_->Erase(IdsOf(record->articles));
  for (Article& a : record->articles) {
    if (absl::Status s = Upsert(std::move(a)); !s.ok()) return s;
  }
  // Keep log order: an upsert record is applied before the next record.
  return Flush();
}

absl::Status Replayer::Hold(std::vector<Article> articles) {
  if (held_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", data_dir_,
        " holds text-only articles waiting for a text model, which this "
        "server cannot hold (replicated mode): start it standalone, or with "
        "--embedder_model"));
  }
  held_->Put(std::move(articles));
  return absl::OkStatus();
}

}  // namespace related::storage
