#include "server/core/storage/article_store.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/storage/record_codec.h"
#include "server/core/storage/snapshot.h"

namespace related::storage {
namespace {

// Feeds recovered articles to the index in batches it accepts, checking
// first that they have the index's dimension. One bulk load: the related
// lists are built once, by Finish.
class Replayer {
 public:
  Replayer(ArticleIndex& index, const std::string& data_dir)
      : index_(index), data_dir_(data_dir) {}

  absl::Status Upsert(Article article) {
    const int dimension = index_.Stats().dimension;
    const int got = static_cast<int>(article.embedding.size());
    if (dimension != 0 && got != dimension) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data directory ", data_dir_, " holds ", got,
          "-dimensional embeddings, but the server is configured for ",
          dimension, " (--dim); start with --dim=", got,
          " or another --data_dir"));
    }
    pending_.push_back(std::move(article));
    return pending_.size() >=
                   static_cast<size_t>(index_.options().max_batch_size)
               ? Flush()
               : absl::OkStatus();
  }

  absl::Status Delete(std::vector<ArticleId> ids) {
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

  absl::Status Flush() {
    if (pending_.empty()) return absl::OkStatus();
    absl::Status s = index_.Upsert(std::move(pending_), &bulk_);
    pending_.clear();
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("replaying into the index: ", s.message()));
    }
    return absl::OkStatus();
  }

  // After the last record: the pending batch, then the related lists.
  absl::Status Finish() {
    if (absl::Status s = Flush(); !s.ok()) return s;
    index_.FinishBulkLoad(bulk_);
    return absl::OkStatus();
  }

  // Applies one write-ahead log record.
  absl::Status Apply(absl::string_view payload) {
    auto record = DecodeWriteRecord(payload);
    if (!record.ok()) return record.status();
    if (record->kind == WriteRecord::Kind::kDelete)
      return Delete(std::move(record->ids));
    for (Article& a : record->articles) {
      if (absl::Status s = Upsert(std::move(a)); !s.ok()) return s;
    }
    // Keep log order: an upsert record is applied before the next record.
    return Flush();
  }

 private:
  ArticleIndex& index_;
  const std::string& data_dir_;
  std::vector<Article> pending_;
  ArticleIndex::BulkLoad bulk_;
};

std::string Path(const std::string& dir, const std::string& name) {
  return absl::StrCat(dir, "/", name);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ArticleStore>> ArticleStore::Open(
    const StoreOptions& options, ArticleIndex& index, RecoveryReport* report) {
  if (index.Stats().article_count != 0) {
    return absl::FailedPreconditionError(
        "ArticleStore::Open needs an empty index");
  }
  if (absl::Status s = EnsureDir(options.data_dir); !s.ok()) return s;
  std::unique_ptr<ArticleStore> store(new ArticleStore(options, index));
  RecoveryReport local;
  if (absl::Status s = store->Recover(report != nullptr ? *report : local);
      !s.ok()) {
    return s;
  }
  index.AttachJournal(store.get());
  store->background_ = std::thread([s = store.get()] { s->BackgroundLoop(); });
  return store;
}

absl::Status ArticleStore::Recover(RecoveryReport& report) {
  const std::string& dir = options_.data_dir;
  auto names = ListDir(dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> snapshots, segments;
  for (const std::string& name : *names) {
    if (absl::EndsWith(name, ".tmp")) {
      // A snapshot a crash interrupted; never renamed, so never trusted.
      RemoveFile(Path(dir, name)).IgnoreError();
    } else if (uint64_t s = ParseSnapshotName(name); s != 0) {
      snapshots.push_back(s);
    } else if (uint64_t w = ParseWalSegmentName(name); w != 0) {
      segments.push_back(w);
    }
  }
  std::sort(snapshots.rbegin(), snapshots.rend());
  std::sort(segments.begin(), segments.end());

  Replayer replayer(index_, dir);
  uint64_t replay_from = 1;
  for (uint64_t segment : snapshots) {
    const std::string path = Path(dir, SnapshotName(segment));
    options_.log(absl::StrCat("recovery: loading snapshot ", path));
    int64_t loaded = 0;
    auto info = ReadSnapshot(path, [&](Article a) {
      if (++loaded % 100000 == 0) {
        options_.log(absl::StrCat("recovery: ", loaded, " articles loaded"));
      }
      return replayer.Upsert(std::move(a));
    });
    if (info.ok()) {
      if (absl::Status s = replayer.Flush(); !s.ok()) return s;
      report.snapshot_segment = segment;
      report.snapshot_articles = static_cast<int64_t>(info->articles);
      replay_from = segment;
      break;
    }
    if (info.status().code() != absl::StatusCode::kDataLoss || loaded > 0) {
      return info.status();  // not corruption (or half applied): stop here
    }
    options_.log(absl::StrCat("recovery: ", info.status().message(),
                              "; falling back to the previous snapshot"));
    ++report.corrupt_snapshots_skipped;
  }
  if (report.snapshot_segment == 0 && !snapshots.empty() &&
      (segments.empty() || segments.front() != 1)) {
    return absl::DataLossError(absl::StrCat(
        "data directory ", dir,
        ": no readable snapshot, and the write-ahead log does "
        "not reach back to the beginning; refusing to start with missing data "
        "(restore a backup, or move the directory aside to start empty)"));
  }

  uint64_t expected = replay_from;
  uint64_t last = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const uint64_t segment = segments[i];
    if (segment < replay_from) continue;
    if (segment != expected) {
      return absl::DataLossError(
          absl::StrCat("data directory ", dir, ": write-ahead log segment ",
                       expected, " is missing (found ", segment, ")"));
    }
    ++expected;
    last = segment;
    const std::string path = Path(dir, WalSegmentName(segment));
    auto segment_report = ReadWalSegment(path, [&](absl::string_view payload) {
      return replayer.Apply(payload);
    });
    if (!segment_report.ok()) return segment_report.status();
    const bool is_last = i + 1 == segments.size();
    if (segment_report->header_torn) {
      if (!is_last) {
        return absl::DataLossError(absl::StrCat(
            path, ": ", segment_report->tail_problem,
            ", and later segments exist; refusing to skip data"));
      }
      // Never written to: the crash came while the segment was started. It
      // is started again below, under the same number.
      options_.log(absl::StrCat("recovery: ", path, ": ",
                                segment_report->tail_problem,
                                " (it holds no records); removing it"));
      if (absl::Status s = RemoveFile(path); !s.ok()) return s;
      if (absl::Status s = SyncDir(dir); !s.ok()) return s;
      last = segment - 1;
      continue;
    }
    ++report.wal_segments;
    report.wal_records += segment_report->records;
    if (segment_report->discarded_bytes > 0) {
      if (!is_last) {
        return absl::DataLossError(
            absl::StrCat(path, ": ", segment_report->tail_problem,
                         " after record ", segment_report->records,
                         ", and later segments exist; refusing to skip data"));
      }
      // A crash mid-append: the record was never acknowledged.
      options_.log(
          absl::StrCat("recovery: ", path, ": ", segment_report->tail_problem,
                       "; truncating ", segment_report->discarded_bytes,
                       " bytes after record ", segment_report->records));
      auto file = File::OpenForAppend(path);
      if (!file.ok()) return file.status();
      if (absl::Status s = file->Truncate(segment_report->valid_bytes); !s.ok())
        return s;
      if (absl::Status s = file->Sync(); !s.ok()) return s;
      report.torn_tail_bytes += segment_report->discarded_bytes;
    }
  }
  if (absl::Status s = replayer.Finish(); !s.ok()) return s;

  // Writes go to a fresh segment; the recovered ones are never appended to.
  auto wal = WalWriter::Create(dir, std::max(last, replay_from - 1) + 1);
  if (!wal.ok()) return wal.status();
  wal_ = *std::move(wal);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ArticleStore::RecordUpsert(
    const std::vector<Article>& articles) {
  return wal_->Append(EncodeUpsertRecord(articles));
}

absl::StatusOr<uint64_t> ArticleStore::RecordDelete(
    const std::vector<ArticleId>& ids) {
  return wal_->Append(EncodeDeleteRecord(ids));
}

absl::Status ArticleStore::Commit(uint64_t ticket) {
  if (options_.durability == Durability::kPeriodic) return absl::OkStatus();
  return wal_->SyncUpTo(ticket);
}

absl::Status ArticleStore::Snapshot() {
  absl::MutexLock lock(&snapshot_mu_);
  const absl::Time started = absl::Now();
  std::optional<SnapshotWriter> writer;
  uint64_t segment = 0;
  int64_t articles = 0;
  absl::Status status = index_.Checkpoint(
      [&](int dimension) -> absl::Status {
        // Writes from here on go to the new segment; the snapshot holds all
        // before it.
        segment = wal_->segment() + 1;
        if (absl::Status s = wal_->Rotate(segment); !s.ok()) return s;
        auto started_writer =
            SnapshotWriter::Start(options_.data_dir, segment, dimension);
        if (!started_writer.ok()) return started_writer.status();
        writer.emplace(*std::move(started_writer));
        return absl::OkStatus();
      },
      [&](const Article& article) {
        ++articles;
        return writer->Add(article);
      });
  if (status.ok()) status = writer->Finish();
  last_snapshot_ =
      absl::Now();  // also after a failure: retry at the next interval
  if (!status.ok()) return status;
  options_.log(absl::StrCat("snapshot ", SnapshotName(segment), ": ", articles,
                            " articles in ",
                            absl::FormatDuration(absl::Now() - started)));
  RemoveObsoleteFiles(segment);
  return absl::OkStatus();
}

void ArticleStore::RemoveObsoleteFiles(uint64_t newest_snapshot) {
  auto names = ListDir(options_.data_dir);
  if (!names.ok()) return;
  std::vector<uint64_t> snapshots;
  for (const std::string& name : *names) {
    if (uint64_t s = ParseSnapshotName(name); s != 0 && s < newest_snapshot) {
      snapshots.push_back(s);
    }
  }
  // Keep the newest older snapshot and the log after it: the fallback.
  const uint64_t keep_from =
      snapshots.empty() ? newest_snapshot
                        : *std::max_element(snapshots.begin(), snapshots.end());
  for (const std::string& name : *names) {
    const uint64_t s = ParseSnapshotName(name);
    const uint64_t w = ParseWalSegmentName(name);
    if ((s != 0 && s < keep_from) || (w != 0 && w < keep_from)) {
      RemoveFile(Path(options_.data_dir, name)).IgnoreError();
    }
  }
}

void ArticleStore::BackgroundLoop() {
  absl::Time last_sync = absl::Now();
  while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
    const absl::Time now = absl::Now();
    if (options_.durability == Durability::kPeriodic &&
        now - last_sync >= options_.fsync_interval) {
      if (absl::Status s = wal_->SyncAll(); !s.ok()) {
        options_.log(absl::StrCat("periodic sync failed: ", s.message()));
      }
      last_sync = now;
    }
    bool due = options_.snapshot_wal_bytes > 0 &&
               wal_->segment_bytes() >= options_.snapshot_wal_bytes;
    {
      absl::MutexLock lock(&snapshot_mu_);
      due = due || (options_.snapshot_interval > absl::ZeroDuration() &&
                    now - last_snapshot_ >= options_.snapshot_interval &&
                    wal_->segment_bytes() > 64);  // nothing new: no snapshot
    }
    if (due) {
      if (absl::Status s = Snapshot(); !s.ok()) {
        options_.log(absl::StrCat("snapshot failed: ", s.message()));
      }
    }
  }
}

absl::Status ArticleStore::Close() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (background_.joinable()) background_.join();
  if (absl::Status s = wal_->SyncAll(); !s.ok()) return s;
  return Snapshot();
}

ArticleStore::~ArticleStore() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (background_.joinable()) background_.join();
}

}  // namespace related::storage
