#include "server/replication/replica.h"

#include <unistd.h>

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/core/storage/record_codec.h"

namespace related::replication {
namespace {

// How long the applier waits for an entry before it looks at its open
// imports, and how quiet an import must be to count as abandoned.
constexpr absl::Duration kPoll = absl::Milliseconds(200);
constexpr absl::Duration kAbandonedImport = absl::Seconds(30);
// Between attempts to read the stream again after a failure.
constexpr absl::Duration kReopenPause = absl::Seconds(1);
// How often catching up reports its progress.
constexpr absl::Duration kProgress = absl::Seconds(5);
// How long a starting replica waits for its stream to answer. A stream
// whose NATS nodes just came back elects a leader first, and answers
// nothing (a timeout) for a few seconds meanwhile.
constexpr absl::Duration kStartPatience = absl::Seconds(60);
// Outcomes nobody took (their writer timed out) are dropped once this many
// entries behind.
constexpr uint64_t kOutcomesKept = 100000;

// Unique per process start: the host's name, the pid and 64 random bits.
std::string NewOrigin() {
  char host[64] = {};
  gethostname(host, sizeof host - 1);
  std::random_device random;
  const uint64_t bits = (uint64_t{random()} << 32) | random();
  return absl::StrFormat("%s-%d-%016x", host, getpid(), bits);
}

// `attempt()` (a StatusOr), tried again every kReopenPause while the
// stream is unavailable, for up to kStartPatience; other errors, and the
// last one after that, are returned as they are.
template <typename Attempt>
auto WhenAvailable(Attempt attempt,
                   const std::function<void(const std::string&)>& log) {
  const absl::Time give_up = absl::Now() + kStartPatience;
  while (true) {
    auto result = attempt();
    if (result.ok() || !absl::IsUnavailable(result.status()) ||
        absl::Now() >= give_up) {
      return result;
    }
    log(absl::StrCat("replication: ", result.status().message(),
                     "; trying again"));
    absl::SleepFor(kReopenPause);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(
    NatsStream& stream, ArticleIndex& index, PositionJournal& journal,
    uint64_t applied, ReplicationObserver* observer,
    std::function<void(const std::string&)> log) {
  auto state = WhenAvailable([&] { return stream.State(); }, log);
  if (!state.ok()) return state.status();
  if (state->last_sequence < applied) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the data directory's snapshot was taken at stream entry ", applied,
        ", but the stream ends at ", state->last_sequence,
        ": it is another stream (recreated?); start this replica on an empty "
        "directory"));
  }
  if (state->first_sequence > applied + 1 && state->last_sequence > applied) {
    return absl::FailedPreconditionError(
        absl::StrCat("the stream starts at entry ", state->first_sequence,
                     " but this replica needs the entries after ", applied,
                     " (the stream was trimmed); it must keep every entry "
                     "(docs/replication.md)"));
  }
  std::unique_ptr<Replica> replica(new Replica(stream, index, journal, applied,
                                               state->last_sequence, observer,
                                               std::move(log)));
  auto reader =
      WhenAvailable([&] { return stream.Read(applied + 1); }, replica->log_);
  if (!reader.ok()) return reader.status();
  replica->reader_ = *std::move(reader);
  journal.Reset(applied);
  index.AttachJournal(&journal);
  if (observer != nullptr) observer->Started(applied, state->last_sequence);
  replica->thread_ = std::thread([r = replica.get()] { r->Run(); });
  return replica;
}

Replica::Replica(NatsStream& stream, ArticleIndex& index,
                 PositionJournal& journal, uint64_t applied, uint64_t head,
                 ReplicationObserver* observer,
                 std::function<void(const std::string&)> log)
    : stream_(stream),
      index_(index),
      journal_(journal),
      observer_(observer),
      log_(std::move(log)),
      origin_(NewOrigin()),
      head_at_start_(head),
      applied_(applied) {}

Replica::~Replica() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  for (Finisher& finisher : finishers_) finisher.thread.join();
}

uint64_t Replica::applied() const {
  absl::MutexLock lock(&mu_);
  return applied_;
}

absl::Status Replica::CatchUp() {
  const uint64_t head = head_at_start_;
  log_(absl::StrCat("replication: catching up from entry ", applied() + 1,
                    " to ", head));
  const absl::Time start = absl::Now();
  absl::MutexLock lock(&mu_);
  // Caught up, and the lists of imports it replayed are built: it serves
  // as a restarted standalone server does.
  const auto caught_up = [this, head]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return applied_ >= head && building_.empty();
  };
  while (!mu_.AwaitWithTimeout(absl::Condition(&caught_up), kProgress)) {
    if (stop_.HasBeenNotified()) return absl::CancelledError("stopping");
    log_(absl::StrCat("replication: applied ", applied_, " of ", head));
  }
  log_(absl::StrCat("replication: caught up at entry ", head, " in ",
                    absl::FormatDuration(absl::Now() - start)));
  return absl::OkStatus();
}

absl::StatusOr<Replica::Outcome> Replica::Await(uint64_t sequence,
                                                absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  // An import's end is applied once its lists are built, too.
  const auto applied = [this, sequence]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return applied_ >= sequence && !building_.contains(sequence);
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&applied), deadline)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the write is in the replicated log (entry ", sequence,
        ") but this replica has not applied it yet (it is at entry ", applied_,
        "); it will be applied"));
  }
  auto it = outcomes_.find(sequence);
  if (it == outcomes_.end()) return Outcome{};
  Outcome outcome = std::move(it->second);
  outcomes_.erase(it);
  return outcome;
}

void Replica::Run() {
  while (!stop_.HasBeenNotified()) {
    auto entry = reader_->Next(kPoll);
    if (!entry.ok()) {
      // The client re-creates the ordered consumer by itself after a
      // failover, but not while the stream has no leader: then reading
      // fails, and goes on from the next entry once it can.
      log_(absl::StrCat("replication: ", entry.status().message(),
                        "; reading again from entry ", applied() + 1));
      Reopen();
      continue;
    }
    if (!entry->has_value()) {
      FinishAbandonedImports();
      continue;
    }
    const LogEntry& e = **entry;
    if (e.sequence <= applied()) continue;  // delivered twice: applied once
    const absl::Time arrived = absl::Now();
    Outcome outcome = Apply(e);
    if (!outcome.status.ok()) {
      log_(absl::StrCat("replication: entry ", e.sequence,
                        " was not applied: ", outcome.status.message()));
    }
    Published(e, std::move(outcome), arrived);
  }
}

void Replica::Reopen() {
  while (!stop_.WaitForNotificationWithTimeout(kReopenPause)) {
    auto reader = stream_.Read(applied() + 1);
    if (reader.ok()) {
      reader_ = *std::move(reader);
      return;
    }
    log_(absl::StrCat("replication: ", reader.status().message()));
  }
}

void Replica::Published(const LogEntry& entry, Outcome outcome,
                        absl::Time arrived) {
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    applied_ = entry.sequence;
    if (entry.origin == origin_) outcomes_[entry.sequence] = std::move(outcome);
    while (!outcomes_.empty() &&
           outcomes_.begin()->first + kOutcomesKept < entry.sequence) {
      outcomes_.erase(outcomes_.begin());
    }
  }
  if (observer_ != nullptr) {
    observer_->Applied(entry.sequence, entry.sequence + entry.pending,
                       now - entry.stored, now - arrived);
  }
}

Replica::Outcome Replica::Apply(const LogEntry& entry) {
  journal_.Applying(entry.sequence);
  if (entry.import_end) return ApplyImportEnd(entry);
  auto record = storage::DecodeWriteRecord(entry.payload);
  if (!record.ok()) return {record.status()};
  if (record->kind == storage::WriteRecord::Kind::kDelete) {
    auto deleted = index_.Delete(record->ids);
    if (!deleted.ok()) return {deleted.status()};
    return {absl::OkStatus(), *deleted};
  }
  ArticleIndex::BulkLoad* bulk = nullptr;
  if (!entry.import_id.empty()) {
    OpenImport& import = imports_[entry.import_id];
    if (import.bulk == nullptr) {
      import.bulk = std::make_unique<ArticleIndex::BulkLoad>();
    }
    import.last_batch = absl::Now();
    bulk = import.bulk.get();
  }
  return {index_.Upsert(std::move(record->articles), bulk)};
}

Replica::Outcome Replica::ApplyImportEnd(const LogEntry& entry) {
  auto it = imports_.find(entry.import_id);
  if (it != imports_.end()) {
    FinishInBackground(std::move(it->second.bulk), entry.sequence);
    imports_.erase(it);
  }
  return {};
}

void Replica::FinishInBackground(std::unique_ptr<ArticleIndex::BulkLoad> bulk,
                                 uint64_t sequence) {
  if (sequence != 0) {
    absl::MutexLock lock(&mu_);
    building_.insert(sequence);
  }
  // The import's lists take as long to build as its articles took to
  // insert (minutes at a million): the entries after it are applied
  // meanwhile, as a standalone server's writers interleave with an import's
  // list build (ArticleIndex::FinishBulkLoad holds writers off one chunk at
  // a time).
  for (auto it = finishers_.begin(); it != finishers_.end();) {
    if (!it->done->HasBeenNotified()) {
      ++it;
      continue;
    }
    it->thread.join();
    it = finishers_.erase(it);
  }
  auto done = std::make_shared<absl::Notification>();
  std::thread thread([this, bulk = std::move(bulk), sequence, done] {
    index_.FinishBulkLoad(*bulk);
    {
      absl::MutexLock lock(&mu_);
      building_.erase(sequence);
    }
    done->Notify();
  });
  finishers_.push_back({std::move(thread), std::move(done)});
}

void Replica::FinishAbandonedImports() {
  const absl::Time now = absl::Now();
  for (auto it = imports_.begin(); it != imports_.end();) {
    if (now - it->second.last_batch < kAbandonedImport) {
      ++it;
      continue;
    }
    log_(absl::StrCat("replication: import ", it->first,
                      " sent no batch and no end for ",
                      absl::FormatDuration(kAbandonedImport),
                      "; building its related lists"));
    FinishInBackground(std::move(it->second.bulk), 0);
    imports_.erase(it++);
  }
}

}  // namespace related::replication
