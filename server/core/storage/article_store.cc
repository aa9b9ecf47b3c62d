#include "server/core/storage/article_store.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/article_writes.h"
#include "server/core/storage/record_codec.h"
#include "server/core/storage/replayer.h"
#include "server/core/storage/snapshot.h"
#include "server/core/storage/snapshot_v1.h"

namespace related::storage {
namespace {

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
  // Before anything is read: two servers on one directory (two pods on one
  // node sharing a volume) would each replay and append to the same log.
  auto lock = DirectoryLock::Acquire(options.data_dir);
  if (!lock.ok()) return lock.status();
  std::unique_ptr<ArticleStore> store(
      new ArticleStore(options, index, *std::move(lock)));
  RecoveryReport local;
  RecoveryReport& recovery = report != nullptr ? *report : local;
  const absl::Time start = absl::Now();
  if (absl::Status s = store->Recover(recovery); !s.ok()) return s;
  recovery.duration = absl::Now() - start;
  if (StoreObserver* observer = options.observer) {
    observer->Recovered(recovery);
    store->wal_->set_sync_timer(
        [observer](absl::Duration d) { observer->LogSynced(d); });
  }
  if (!options.log_position) {
    index.AttachJournal(store.get());
  } else if (recovery.wal_records > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", options.data_dir,
        " holds writes of a standalone server's log, which the replicated "
        "stream does not have; import them through a replica instead (start "
        "the replica on an empty directory)"));
  }
  {
    absl::MutexLock lock(&store->snapshot_mu_);
    store->snapshot_position_ = recovery.log_position;
  }
  store->background_ = std::thread([s = store.get()] { s->BackgroundLoop(); });
  return store;
}

namespace {

// The snapshots (newest first) and log segments (oldest first) in `dir`.
// Snapshots a crash interrupted (".tmp", never renamed, so never trusted)
// are removed.
struct DataFiles {
  std::vector<uint64_t> snapshots;
  std::vector<uint64_t> segments;
};

absl::StatusOr<DataFiles> ListDataFiles(const std::string& dir) {
  auto names = ListDir(dir);
  if (!names.ok()) return names.status();
  DataFiles files;
  for (const std::string& name : *names) {
    if (absl::EndsWith(name, ".tmp")) {
      RemoveFile(Path(dir, name)).IgnoreError();
    } else if (uint64_t s = ParseSnapshotName(name); s != 0) {
      files.snapshots.push_back(s);
    } else if (uint64_t w = ParseWalSegmentName(name); w != 0) {
      files.segments.push_back(w);
    }
  }
  std::sort(files.snapshots.rbegin(), files.snapshots.rend());
  std::sort(files.segments.begin(), files.segments.end());
  return files;
}

}  // namespace

absl::Status ArticleStore::Recover(RecoveryReport& report) {
  const std::string& dir = options_.data_dir;
  auto files = ListDataFiles(dir);
  if (!files.ok()) return files.status();
  Replayer replayer(index_, dir, options_.held);
  if (absl::Status s = LoadNewestSnapshot(files->snapshots, replayer, report);
      !s.ok()) {
    return s;
  }
  const uint64_t replay_from = std::max<uint64_t>(report.snapshot_segment, 1);
  if (report.snapshot_segment == 0 && !files->snapshots.empty() &&
      (files->segments.empty() || files->segments.front() != 1)) {
    return absl::DataLossError(absl::StrCat(
        "data directory ", dir,
        ": no readable snapshot, and the write-ahead log does "
        "not reach back to the beginning; refusing to start with missing data "
        "(restore a backup, or move the directory aside to start empty)"));
  }
  auto last = ReplayLog(files->segments, replay_from, replayer, report);
  if (!last.ok()) return last.status();
  if (absl::Status s = replayer.Finish(); !s.ok()) return s;
  if (options_.held != nullptr) report.held_texts = options_.held->size();
  // Writes go to a fresh segment; the recovered ones are never appended to.
  auto wal = WalWriter::Create(dir, std::max(*last, replay_from - 1) + 1);
  if (!wal.ok()) return wal.status();
  wal_ = *std::move(wal);
  return absl::OkStatus();
}

absl::Status ArticleStore::LoadNewestSnapshot(
    const std::vector<uint64_t>& snapshots, Replayer& replayer,
    RecoveryReport& report) {
  for (uint64_t segment : snapshots) {
    const std::string path = Path(options_.data_dir, SnapshotName(segment));
    options_.log(absl::StrCat("recovery: loading snapshot ", path));
    bool applied = false;
    auto format = SnapshotFormat(path);
    absl::Status s = !format.ok() ? format.status()
                     : *format == 2
                         ? LoadSnapshotV2(path, replayer, report, applied)
                         : LoadSnapshotV1(path, replayer, report, applied);
    if (s.ok()) {
      report.snapshot_segment = segment;
      report.snapshot_format = format.ok() ? *format : 0;
      return replayer.Flush();
    }
    if (s.code() != absl::StatusCode::kDataLoss || applied) {
      return s;  // not corruption (or half applied): stop here
    }
    options_.log(absl::StrCat("recovery: ", s.message(),
                              "; falling back to the previous snapshot"));
    ++report.corrupt_snapshots_skipped;
  }
  return absl::OkStatus();
}

absl::Status ArticleStore::LoadSnapshotV1(const std::string& path,
                                          Replayer& replayer,
                                          RecoveryReport& report,
                                          bool& applied) {
  int64_t loaded = 0;
  auto info = ReadSnapshot(path, [&](Article a) {
    applied = true;
    if (++loaded % 100000 == 0) {
      options_.log(absl::StrCat("recovery: ", loaded, " articles loaded"));
    }
    return replayer.Upsert(std::move(a));
  });
  if (!info.ok()) return info.status();
  report.snapshot_articles = static_cast<int64_t>(info->articles);
  return absl::OkStatus();
}

absl::Status ArticleStore::LoadSnapshotV2(const std::string& path,
                                          Replayer& replayer,
                                          RecoveryReport& report,
                                          bool& applied) {
  const ArticleIndexOptions& options = index_.options();
  auto loaded = LoadSnapshot(path, options, WriteThreads(options));
  if (!loaded.ok()) return loaded.status();
  if (!loaded->problems.empty()) {
    options_.log(absl::StrCat("recovery: ", path, ": ", loaded->problems,
                              "rebuilding what they held from the articles"));
  }
  report.snapshot_articles = loaded->articles;
  report.snapshot_bytes = loaded->bytes;
  report.log_position = loaded->log_position;
  RestoredParts& parts = loaded->parts;
  if (parts.vectors == nullptr) return absl::OkStatus();  // nothing stored
  if (absl::Status s = replayer.CheckDimension(parts.vectors->Dimension());
      !s.ok()) {
    return s;
  }
  applied = true;
  if (parts.vectors->Kind() != options.index_kind) {
    // Written by a server with the other index kind: its articles go in as
    // a bulk load, as from a snapshot of the first format.
    options_.log(absl::StrCat("recovery: ", path,
                              " holds another index kind; rebuilding"));
    absl::Status s;
    parts.articles.ForEach([&](absl::string_view, Slot slot) {
      if (s.ok())
        s = replayer.Upsert(ArticleAt(*parts.vectors, parts.articles, slot));
    });
    return s;
  }
  report.graph_loaded = !loaded->graph_rebuilt;
  report.lists_loaded = !loaded->lists_rebuilt && parts.lists != nullptr;
  return index_.Restore(std::move(parts));
}

absl::StatusOr<uint64_t> ArticleStore::ReplayLog(
    const std::vector<uint64_t>& segments, uint64_t replay_from,
    Replayer& replayer, RecoveryReport& report) {
  uint64_t expected = replay_from;
  uint64_t last = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const uint64_t segment = segments[i];
    if (segment < replay_from) continue;
    if (segment != expected) {
      return absl::DataLossError(absl::StrCat(
          "data directory ", options_.data_dir, ": write-ahead log segment ",
          expected, " is missing (found ", segment, ")"));
    }
    ++expected;
    auto replayed =
        ReplaySegment(segment, i + 1 == segments.size(), replayer, report);
    if (!replayed.ok()) return replayed.status();
    last = *replayed ? segment : segment - 1;
  }
  return last;
}

absl::StatusOr<bool> ArticleStore::ReplaySegment(uint64_t segment, bool is_last,
                                                 Replayer& replayer,
                                                 RecoveryReport& report) {
  const std::string& dir = options_.data_dir;
  const std::string path = Path(dir, WalSegmentName(segment));
  auto read = ReadWalSegment(
      path, [&](absl::string_view payload) { return replayer.Apply(payload); });
  if (!read.ok()) return read.status();
  if (read->header_torn || read->discarded_bytes > 0) {
    if (!is_last) {
      return absl::DataLossError(absl::StrCat(
          path, ": ", read->tail_problem,
          read->header_torn ? ""
                            : absl::StrCat(" after record ", read->records),
          ", and later segments exist; refusing to skip data"));
    }
  }
  if (read->header_torn) {
    // Never written to: the crash came while the segment was started. It
    // is started again, under the same number.
    options_.log(absl::StrCat("recovery: ", path, ": ", read->tail_problem,
                              " (it holds no records); removing it"));
    if (absl::Status s = RemoveFile(path); !s.ok()) return s;
    if (absl::Status s = SyncDir(dir); !s.ok()) return s;
    return false;
  }
  ++report.wal_segments;
  report.wal_records += read->records;
  if (read->discarded_bytes == 0) return true;
  // A crash mid-append: the record was never acknowledged.
  options_.log(absl::StrCat("recovery: ", path, ": ", read->tail_problem,
                            "; truncating ", read->discarded_bytes,
                            " bytes after record ", read->records));
  auto file = File::OpenForAppend(path);
  if (!file.ok()) return file.status();
  if (absl::Status s = file->Truncate(read->valid_bytes); !s.ok()) return s;
  if (absl::Status s = file->Sync(); !s.ok()) return s;
  report.torn_tail_bytes += read->discarded_bytes;
  return true;
}

absl::StatusOr<uint64_t> ArticleStore::RecordUpsert(
    const std::vector<Article>& articles) {
  return Appended(wal_->Append(EncodeUpsertRecord(articles)));
}

absl::StatusOr<uint64_t> ArticleStore::RecordDelete(
    const std::vector<ArticleId>& ids) {
  return Appended(wal_->Append(EncodeDeleteRecord(ids)));
}

absl::StatusOr<uint64_t> ArticleStore::RecordHold(
    const std::vector<Article>& articles) {
  return Appended(wal_->Append(EncodeHoldRecord(articles)));
}

absl::StatusOr<uint64_t> ArticleStore::Appended(
    absl::StatusOr<uint64_t> ticket) {
  if (options_.observer != nullptr) {
    if (ticket.ok()) {
      options_.observer->LogBytesSinceSnapshot(wal_->segment_bytes());
    } else {
      options_.observer->WriteFailed(ticket.status().code());
    }
  }
  return ticket;
}

absl::Status ArticleStore::Commit(uint64_t ticket) {
  if (options_.durability == Durability::kPeriodic) return absl::OkStatus();
  absl::Status s = wal_->SyncUpTo(ticket);
  if (!s.ok() && options_.observer != nullptr) {
    options_.observer->WriteFailed(s.code());
  }
  return s;
}

void ArticleStore::BulkLoadFinished(int64_t articles) {
  if (options_.snapshot_after_import > 0 &&
      articles >= options_.snapshot_after_import) {
    snapshot_requested_.store(true);
  }
}

absl::Status ArticleStore::Snapshot() {
  absl::MutexLock lock(&snapshot_mu_);
  SnapshotCut cut;
  absl::StatusOr<SnapshotReport> written;
  bool deferred = false;
  absl::Status status = index_.Checkpoint(
      [&] {
        // Checked with writers held off: a hold is journaled and applied
        // under the same lock (ArticleIndex::WriteBeside), so none can sit
        // in the log before this cut and be missing from the snapshot.
        if (HoldsTexts()) {
          deferred = true;
          return absl::CancelledError("texts are held");
        }
        // Writes from here on go to the new segment; the snapshot holds all
        // before it.
        cut.segment = wal_->segment() + 1;
        if (options_.log_position) cut.log_position = options_.log_position();
        return wal_->Rotate(cut.segment);
      },
      [&](const IndexParts& parts) {
        written =
            WriteSnapshot(options_.data_dir, cut, parts, index_.options());
        return written.status();
      });
  const uint64_t segment = cut.segment;
  last_snapshot_ =
      absl::Now();  // also after a failure: retry at the next interval
  if (deferred) {
    options_.log(absl::StrCat(
        "snapshot deferred: ", options_.held->size(),
        " text-only articles wait for the first text model and live only "
        "in the log"));
    return absl::OkStatus();
  }
  if (StoreObserver* observer = options_.observer) {
    if (status.ok()) {
      observer->SnapshotTaken(written->bytes, written->duration);
      observer->LogBytesSinceSnapshot(wal_->segment_bytes());
    } else {
      observer->SnapshotFailed();
    }
  }
  if (!status.ok()) return status;
  snapshot_position_ = cut.log_position;
  options_.log(absl::StrCat("snapshot ", SnapshotName(segment), ": ",
                            written->articles, " articles, ", written->bytes,
                            " bytes in ",
                            absl::FormatDuration(written->duration)));
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
    bool due = snapshot_requested_.exchange(false) ||
               (options_.snapshot_wal_bytes > 0 &&
                wal_->segment_bytes() >= options_.snapshot_wal_bytes);
    // While texts are held, only the interval tries (and logs why it
    // cannot), not every tick.
    if (HoldsTexts()) due = false;
    {
      absl::MutexLock lock(&snapshot_mu_);
      due = due || SnapshotDueByTime(now);
    }
    if (due) {
      if (absl::Status s = Snapshot(); !s.ok()) {
        options_.log(absl::StrCat("snapshot failed: ", s.message()));
      }
    }
  }
}

bool ArticleStore::SnapshotDueByTime(absl::Time now) {
  if (options_.snapshot_interval <= absl::ZeroDuration() ||
      now - last_snapshot_ < options_.snapshot_interval) {
    return false;
  }
  // Nothing new since the last one: no snapshot.
  return options_.log_position ? options_.log_position() != snapshot_position_
                               : wal_->segment_bytes() > 64;
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
