// Crash test: clients upsert and delete while the real related-server is
// killed with SIGKILL at random moments, again and again. After every
// restart, each acknowledged write must be there, each acknowledged delete
// gone, and a batch whose call had not returned must be wholly applied or
// wholly absent.
//
// Kills land during snapshots (small triggers) and, with HNSW, during and
// right after compactions (a low threshold, and every upsert gives its
// articles new vectors): the compactions counted before each kill prove it.
//
// RELATED_CRASH_CYCLES sets the number of cycles (default 20; more for a
// long run).
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "client/related_client.h"
#include "gtest/gtest.h"
#include "support/metrics_scrape.h"
#include "support/server_process.h"

namespace related {
namespace {

using client::Article;
using client::RelatedClient;
using testing::ServerBinary;
using testing::ServerProcess;

constexpr int kDim = 8;
constexpr int kWriters = 4;
constexpr int kIdsPerWriter = 40;

// What an article should be: absent (nullopt) or at a version.
using State = std::optional<int>;

struct Pending {
  bool upsert = false;
  std::vector<std::string> ids;
  int version = 0;
};

// One writer owns a disjoint set of IDs and writes them one call at a time,
// so the expected state of each ID is known exactly, except for the one
// call in flight when the server died.
struct Writer {
  int index;
  std::map<std::string, State> model;
  std::optional<Pending> pending;
  int next_version = 1;
  int acknowledged = 0;

  std::string Id(int k) const {
    return "crash/w" + std::to_string(index) + "/" + std::to_string(k);
  }
};

Article MakeArticle(const std::string& id, int version) {
  Article a;
  a.id = id;
  std::mt19937 rng(std::hash<std::string>()(id) + version);
  std::normal_distribution<float> gauss;
  for (int d = 0; d < kDim; ++d) a.embedding.push_back(gauss(rng));
  a.metadata.title = "version " + std::to_string(version);
  a.metadata.attributes["version"] = std::to_string(version);
  return a;
}

void RunWriter(Writer& w, const std::string& address, std::atomic<bool>& stop,
               uint32_t seed) {
  RelatedClient client({address, absl::Seconds(5)});
  std::mt19937 rng(seed);
  while (!stop.load()) {
    Pending op;
    op.upsert = rng() % 10 < 7;
    const int count = 1 + rng() % 4;
    for (int i = 0; i < count; ++i) {
      const std::string id = w.Id(rng() % kIdsPerWriter);
      if (std::find(op.ids.begin(), op.ids.end(), id) == op.ids.end())
        op.ids.push_back(id);
    }
    op.version = w.next_version++;
    w.pending = op;
    absl::Status status;
    if (op.upsert) {
      std::vector<Article> batch;
      for (const auto& id : op.ids)
        batch.push_back(MakeArticle(id, op.version));
      status = client.Upsert(batch).status();
    } else {
      status = client.Delete(op.ids).status();
    }
    if (!status.ok()) return;  // the server is gone; `pending` stays unresolved
    for (const auto& id : op.ids)
      w.model[id] = op.upsert ? State(op.version) : std::nullopt;
    w.pending.reset();
    ++w.acknowledged;
  }
}

State Observe(RelatedClient& client, const std::string& id) {
  auto article = client.GetArticle(id);
  if (article.status().code() == absl::StatusCode::kNotFound)
    return std::nullopt;
  EXPECT_TRUE(article.ok()) << article.status();
  if (!article.ok()) return std::nullopt;
  return std::stoi(article->metadata.attributes.at("version"));
}

// Checks the recovered server against every writer's model, resolving the
// in-flight call of each writer to what was found.
void Verify(RelatedClient& client, std::vector<Writer>& writers, int cycle) {
  for (Writer& w : writers) {
    for (int k = 0; k < kIdsPerWriter; ++k) {
      const std::string id = w.Id(k);
      const bool in_flight =
          w.pending.has_value() &&
          std::count(w.pending->ids.begin(), w.pending->ids.end(), id);
      if (in_flight) continue;
      EXPECT_EQ(Observe(client, id), w.model[id])
          << "cycle " << cycle << ": acknowledged state of " << id << " lost";
    }
    if (!w.pending.has_value()) continue;
    // The unacknowledged batch: all old or all new, never a mix.
    const Pending& p = *w.pending;
    const State new_state = p.upsert ? State(p.version) : std::nullopt;
    int applied = 0, not_applied = 0;
    for (const auto& id : p.ids) {
      const State seen = Observe(client, id);
      if (seen == new_state && seen != w.model[id]) {
        ++applied;
      } else if (seen == w.model[id] && seen != new_state) {
        ++not_applied;
      } else if (seen != w.model[id] && seen != new_state) {
        ADD_FAILURE() << "cycle " << cycle << ": " << id
                      << " is in neither the old nor "
                      << "the new state";
      }
    }
    EXPECT_FALSE(applied > 0 && not_applied > 0)
        << "cycle " << cycle << ": a batch was partly applied (" << applied
        << " of " << p.ids.size() << ")";
    if (applied > 0) {
      for (const auto& id : p.ids) w.model[id] = new_state;
    }
    w.pending.reset();
  }
}

TEST(CrashTest, AcknowledgedWritesSurviveRepeatedSigkill) {
  const char* env = std::getenv("RELATED_CRASH_CYCLES");
  const int cycles = env != nullptr ? std::atoi(env) : 20;
  char pattern[] = "/tmp/related-crash-XXXXXX";
  const std::string data_dir = mkdtemp(pattern);
  std::vector<Writer> writers(kWriters);
  for (int i = 0; i < kWriters; ++i) writers[i].index = i;
  std::mt19937 rng(2026);
  int total_acknowledged = 0;
  int compactions = 0;  // counted just before the kills

  for (int cycle = 0; cycle < cycles; ++cycle) {
    // Small snapshot triggers, so kills also land during snapshots; the
    // index kind alternates, so both are rebuilt from disk.
    auto server = ServerProcess::Start(
        ServerBinary(),
        {"--data_dir=" + data_dir, "--dim=" + std::to_string(kDim),
         cycle % 2 ? "--index=hnsw" : "--index=exact",
         "--snapshot_wal_bytes=20000", "--snapshot_interval=300ms",
         "--compaction_threshold=0.1", "--compaction_min_tombstones=10"});
    ASSERT_TRUE(server.ok()) << server.status();
    RelatedClient client({server->grpc_address(), absl::Seconds(10)});
    ASSERT_TRUE(client.WaitUntilServing(absl::Seconds(30)).ok())
        << server->DrainStderr();
    Verify(client, writers, cycle);
    if (::testing::Test::HasFailure()) {
      std::cerr << server->DrainStderr();
      return;
    }

    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (Writer& w : writers) {
      threads.emplace_back(RunWriter, std::ref(w), server->grpc_address(),
                           std::ref(stop), static_cast<uint32_t>(rng()));
    }
    // The moment of the crash is what is random here, not a synchronisation.
    absl::SleepFor(absl::Milliseconds(100 + rng() % 400));
    if (auto metrics = testing::ScrapeMetrics(server->metrics_address());
        metrics.ok()) {
      compactions += static_cast<int>(
          testing::MetricValue(*metrics, "related_compactions_total")
              .value_or(0));
    }
    auto killed = server->StopWith(SIGKILL);
    stop.store(true);
    for (auto& t : threads) t.join();
    ASSERT_TRUE(killed.ok());
    EXPECT_EQ(*killed, 128 + SIGKILL);
    for (const Writer& w : writers) total_acknowledged += w.acknowledged;
    for (Writer& w : writers) w.acknowledged = 0;
  }
  // One more start to check the state the last kill left.
  auto server = ServerProcess::Start(
      ServerBinary(),
      {"--data_dir=" + data_dir, "--dim=" + std::to_string(kDim)});
  ASSERT_TRUE(server.ok());
  RelatedClient client({server->grpc_address(), absl::Seconds(10)});
  ASSERT_TRUE(client.WaitUntilServing(absl::Seconds(30)).ok());
  Verify(client, writers, cycles);
  EXPECT_EQ(*server->StopWith(SIGTERM), 0);
  std::cout << cycles << " SIGKILL cycles, " << total_acknowledged
            << " acknowledged write calls checked, " << compactions
            << " compactions swapped in before the kills\n";
  EXPECT_GT(compactions, 0) << "no kill came after a compaction";
  EXPECT_GT(total_acknowledged, cycles * 5)
      << "too few writes to prove anything";
  std::filesystem::remove_all(data_dir);
}

}  // namespace
}  // namespace related
