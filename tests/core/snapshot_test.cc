// Snapshots of the second format: a restart loads the graph, the related
// lists and the cards instead of rebuilding them, answers as before, and
// rebuilds only a derived section that is bad.
#include "server/core/storage/snapshot.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/article_writes.h"
#include "server/core/storage/article_store.h"
#include "server/core/storage/record_codec.h"
#include "server/core/storage/snapshot_sections.h"
#include "server/core/storage/snapshot_v1.h"
#include "support/test_data.h"

namespace related::storage {
namespace {

namespace fs = std::filesystem;
using related::testing::ClusteredVectors;
using related::testing::TestId;
using ::testing::HasSubstr;

constexpr int kDim = 16;
constexpr int kCount = 600;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/related-snapshot-XXXXXX";
    dir_ = mkdtemp(pattern);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::unique_ptr<ArticleIndex> NewIndex(IndexKind kind) {
    ArticleIndexOptions options;
    options.index_kind = kind;
    options.dimension = kDim;
    options.write_chunk_size = 50;
    options.default_policy.duplicate_threshold = 0.97f;
    return *ArticleIndex::Create(options);
  }

  StoreOptions Options() {
    StoreOptions options;
    options.data_dir = dir_;
    options.snapshot_interval = absl::ZeroDuration();
    options.snapshot_wal_bytes = 0;
    options.log = [this](const std::string& line) { log_ += line + "\n"; };
    return options;
  }

  static std::vector<Article> Articles(int first, int count, uint32_t seed) {
    return testing::NumberedArticles<Article>(
        ClusteredVectors(first + count, kDim, 12, seed), kDim, first, count,
        [](int i, Article& a) {
          a.metadata.title = "Title " + std::to_string(i);
          a.metadata.section = i % 3 ? "world" : "sport";
          a.metadata.attributes["n"] = std::to_string(i);
        });
  }

  // A store with articles, edits, replacements and deletes, closed with a
  // final snapshot. Returns every article's box as it answered then.
  std::map<std::string, std::string> WriteAndClose(IndexKind kind) {
    auto index = NewIndex(kind);
    auto store = *ArticleStore::Open(Options(), *index, nullptr);
    ArticleIndex::BulkLoad bulk;
    EXPECT_TRUE(index->Upsert(Articles(0, kCount, 3), &bulk).ok());
    index->FinishBulkLoad(bulk);
    auto replaced = Articles(0, 40, 9);  // new vectors: tombstones in HNSW
    for (Article& a : replaced) a.metadata.title += " (new)";
    EXPECT_TRUE(index->Upsert(replaced).ok());
    EXPECT_EQ(*index->Delete({TestId(100), TestId(101), TestId(102)}), 3);
    const auto boxes = Boxes(*index);
    EXPECT_TRUE(store->Close().ok());
    return boxes;
  }

  // Recovers what dir_ holds into `index`, as a restart does, and closes
  // the store again (the index keeps what it recovered).
  RecoveryReport Recover(ArticleIndex& index) {
    RecoveryReport report;
    auto store = ArticleStore::Open(Options(), index, &report);
    EXPECT_TRUE(store.ok()) << store.status();
    return report;
  }

  // Every article's default box, written out in full: IDs, scores (as
  // their bits), titles and how it was ranked.
  static std::map<std::string, std::string> Boxes(const ArticleIndex& index) {
    std::map<std::string, std::string> out;
    for (int i = 0; i < kCount; ++i) {
      auto related =
          index.Related({TestId(i), 0, {}, index.options().default_policy});
      if (!related.ok()) continue;
      std::string& box = out[TestId(i)];
      for (const RelatedArticle& r : related->articles) {
        uint32_t bits;
        std::memcpy(&bits, &r.score, sizeof bits);
        absl::StrAppend(&box, r.id, " ", bits, " ", r.metadata->title, "; ");
      }
      absl::StrAppend(&box, "precomputed ", related->debug.precomputed);
    }
    return out;
  }

  // The offset of the payload of `kind`'s section in the newest snapshot.
  int64_t SectionPayload(SectionKind kind) {
    std::ifstream in(NewestSnapshot(), std::ios::binary);
    int64_t at = 8;  // after the magic
    while (true) {
      char header[kSectionHeaderBytes];
      in.seekg(at);
      if (!in.read(header, sizeof header)) return -1;
      uint32_t got;
      uint64_t length;
      std::memcpy(&got, header, 4);
      std::memcpy(&length, header + 4, 8);
      if (got == static_cast<uint32_t>(kind)) {
        return at + static_cast<int64_t>(kSectionHeaderBytes);
      }
      at += static_cast<int64_t>(kSectionHeaderBytes + length);
    }
  }

  std::string NewestSnapshot() {
    std::string newest;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename();
      if (ParseSnapshotName(name) != 0 && name > fs::path(newest).filename()) {
        newest = e.path();
      }
    }
    return newest;
  }

  void FlipByteAt(const std::string& path, int64_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(offset);
    char c;
    f.read(&c, 1);
    c ^= 0x5A;
    f.seekp(offset);
    f.write(&c, 1);
  }

  std::string dir_;
  std::string log_;
};

TEST_F(SnapshotTest, ARestartLoadsGraphAndListsAndAnswersAsBefore) {
  const auto before = WriteAndClose(IndexKind::kHnsw);
  ASSERT_EQ(SnapshotFormat(NewestSnapshot()).value_or(0), 2);
  auto index = NewIndex(IndexKind::kHnsw);
  const RecoveryReport report = Recover(*index);
  EXPECT_EQ(report.snapshot_format, 2);
  EXPECT_TRUE(report.graph_loaded);
  EXPECT_TRUE(report.lists_loaded);
  EXPECT_EQ(report.wal_records, 0);
  EXPECT_EQ(index->Stats().related_lists_stale, 0);
  // The same graph and the same lists: every box as it was, to the bit.
  EXPECT_EQ(Boxes(*index), before);
}

TEST_F(SnapshotTest, TheExactIndexRestartsAsBeforeToo) {
  const auto before = WriteAndClose(IndexKind::kExact);
  auto index = NewIndex(IndexKind::kExact);
  const RecoveryReport report = Recover(*index);
  EXPECT_EQ(report.snapshot_format, 2);
  EXPECT_EQ(Boxes(*index), before);
}

TEST_F(SnapshotTest, WritesAfterTheSnapshotAreReplayedIntoFreshLists) {
  {
    WriteAndClose(IndexKind::kHnsw);
    auto index = NewIndex(IndexKind::kHnsw);
    auto store = *ArticleStore::Open(Options(), *index, nullptr);
    ASSERT_TRUE(index->Upsert(Articles(kCount, 30, 3)).ok());
    ASSERT_EQ(*index->Delete({TestId(5)}), 1);
    // Dropped without Close: the writes are in the log only.
  }
  auto index = NewIndex(IndexKind::kHnsw);
  const RecoveryReport report = Recover(*index);
  EXPECT_TRUE(report.graph_loaded);
  EXPECT_GT(report.wal_records, 0);
  EXPECT_EQ(index->Stats().article_count, kCount - 3 + 30 - 1);
  EXPECT_EQ(index->Stats().related_lists_stale, 0);
  auto related = index->Related(
      {TestId(kCount + 1), 0, {}, index->options().default_policy});
  ASSERT_TRUE(related.ok());
  EXPECT_TRUE(related->debug.precomputed);
  for (int i = 0; i < kCount; i += 7) {
    auto box =
        index->Related({TestId(i), 0, {}, index->options().default_policy});
    if (!box.ok()) continue;
    for (const RelatedArticle& r : box->articles) EXPECT_NE(r.id, TestId(5));
  }
}

TEST_F(SnapshotTest, ASnapshotOfTheFirstFormatStillLoads) {
  const std::vector<Article> articles = Articles(0, 50, 4);
  {
    auto writer = *SnapshotWriter::Start(dir_, 2, kDim);
    for (const Article& a : articles) ASSERT_TRUE(writer.Add(a).ok());
    ASSERT_TRUE(writer.Finish().ok());
  }
  auto index = NewIndex(IndexKind::kHnsw);
  RecoveryReport report;
  auto store = ArticleStore::Open(Options(), *index, &report);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(report.snapshot_format, 1);
  EXPECT_FALSE(report.graph_loaded);
  EXPECT_EQ(index->Stats().article_count, 50);
  EXPECT_EQ(index->Stats().related_lists_stale, 0);
  auto got = index->Get(articles[7].id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->metadata, articles[7].metadata);
  // The next snapshot is of the new format.
  ASSERT_TRUE((*store)->Close().ok());
  EXPECT_EQ(SnapshotFormat(NewestSnapshot()).value_or(0), 2);
}

// A bad derived section is rebuilt from the articles, never served: every
// box still agrees with exact search and holds no deleted article.
void ExpectBoxesAgreeWithExactSearch(const ArticleIndex& index) {
  auto exact = *ArticleIndex::Create([&] {
    ArticleIndexOptions o = index.options();
    o.index_kind = IndexKind::kExact;
    return o;
  }());
  std::vector<Article> all;
  for (int i = 0; i < 2 * kCount; ++i) {
    if (auto a = index.Get(TestId(i)); a.ok()) all.push_back(*a);
  }
  ASSERT_TRUE(exact->Upsert(all).ok());
  int same = 0, total = 0;
  for (const Article& a : all) {
    const RelatedQuery query{a.id, 0, {}, index.options().default_policy};
    auto got = index.Related(query);
    auto want = exact->Related(query);
    ASSERT_TRUE(got.ok() && want.ok());
    ASSERT_EQ(got->articles.size(), want->articles.size()) << a.id;
    std::set<std::string> want_ids;
    for (const auto& r : want->articles) want_ids.insert(r.id);
    for (const auto& r : got->articles) same += want_ids.count(r.id);
    total += static_cast<int>(want->articles.size());
  }
  EXPECT_GE(double(same) / total, 0.97);
}

TEST_F(SnapshotTest, ABadGraphSectionIsRebuiltFromTheVectors) {
  WriteAndClose(IndexKind::kHnsw);
  FlipByteAt(NewestSnapshot(), SectionPayload(SectionKind::kGraph) + 100);
  auto index = NewIndex(IndexKind::kHnsw);
  const RecoveryReport report = Recover(*index);
  EXPECT_EQ(report.snapshot_format, 2);
  EXPECT_FALSE(report.graph_loaded);
  EXPECT_TRUE(report.lists_loaded);
  EXPECT_THAT(log_, HasSubstr("graph section: "));
  EXPECT_EQ(index->Stats().article_count, kCount - 3);
  ExpectBoxesAgreeWithExactSearch(*index);
}

TEST_F(SnapshotTest, ABadListsSectionIsRebuilt) {
  WriteAndClose(IndexKind::kHnsw);
  FlipByteAt(NewestSnapshot(), SectionPayload(SectionKind::kLists) + 200);
  auto index = NewIndex(IndexKind::kHnsw);
  const RecoveryReport report = Recover(*index);
  EXPECT_TRUE(report.graph_loaded);
  EXPECT_FALSE(report.lists_loaded);
  EXPECT_THAT(log_, HasSubstr("lists section:"));
  EXPECT_EQ(index->Stats().related_lists_stale, 0);
  ExpectBoxesAgreeWithExactSearch(*index);
}

TEST_F(SnapshotTest, ListsRankedUnderOtherDefaultsAreRankedAgain) {
  WriteAndClose(IndexKind::kHnsw);
  ArticleIndexOptions options = NewIndex(IndexKind::kHnsw)->options();
  options.default_policy.duplicate_threshold = 0.9f;
  auto index = *ArticleIndex::Create(options);
  const RecoveryReport report = Recover(*index);
  EXPECT_TRUE(report.graph_loaded);
  EXPECT_FALSE(report.lists_loaded);
  EXPECT_THAT(log_, HasSubstr("another default policy"));
}

TEST_F(SnapshotTest, ABadDataSectionFallsBackLikeAnyCorruptSnapshot) {
  WriteAndClose(IndexKind::kHnsw);
  FlipByteAt(NewestSnapshot(), SectionPayload(SectionKind::kVectors) + 64);
  auto index = NewIndex(IndexKind::kHnsw);
  auto store = ArticleStore::Open(Options(), *index, nullptr);
  // The only snapshot is bad and the log before it is gone: refuse.
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(log_, HasSubstr("vectors section: checksum mismatch"));
  EXPECT_EQ(index->Stats().article_count, 0);
}

TEST_F(SnapshotTest, AServerOfTheOtherIndexKindRebuildsFromTheArticles) {
  const auto before = WriteAndClose(IndexKind::kHnsw);
  auto index = NewIndex(IndexKind::kExact);
  const RecoveryReport report = Recover(*index);
  EXPECT_EQ(index->Stats().article_count, kCount - 3);
  EXPECT_FALSE(report.graph_loaded);
  auto got = index->Get(TestId(3));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->metadata.title, "Title 3 (new)");
}

}  // namespace
}  // namespace related::storage
