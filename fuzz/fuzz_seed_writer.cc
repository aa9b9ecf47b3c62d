// Writes the seed corpora in fuzz/corpus/<target>/ with the library's own
// writers, so the fuzzers start from well-formed files and mutate from there.
//
//   build-fuzz/fuzz/fuzz_seed_writer fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "server/core/article_index.h"
#include "server/core/state_io.h"
#include "server/core/storage/record_codec.h"
#include "server/core/storage/snapshot.h"
#include "server/core/storage/snapshot_v1.h"
#include "server/core/storage/wal.h"

namespace {

namespace fs = std::filesystem;
using related::Article;

std::vector<Article> SampleArticles() {
  Article a;
  a.id = "2026/11/28/world/storm";
  a.embedding = {0.5f, -0.5f, 0.5f, 0.5f};
  a.metadata.title = "Storm";
  a.metadata.section = "world";
  a.metadata.language = "en";
  a.metadata.published_at =
      absl::FromUnixSeconds(1795858200) + absl::Nanoseconds(250);
  a.metadata.attributes = {{"author", "kim"}};
  Article b;
  b.id = "sport/final";
  b.embedding = {1, 0, 0, 0};
  b.metadata.url = "https://example.org/sport/final";
  return {a, b};
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "fuzz_seed_writer: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

template <typename T>
T Check(absl::StatusOr<T> v) {
  Check(v.status());
  return *std::move(v);
}

// A small HNSW index with lists, one article replaced (a tombstone): its
// parts' states for section_fuzzer (first byte: which part) and its whole
// snapshot of the second format for snapshot_fuzzer.
void WriteSectionSeeds(const fs::path& corpus, const fs::path& work) {
  related::ArticleIndexOptions options;
  options.dimension = 4;
  auto index = Check(related::ArticleIndex::Create(options));
  std::vector<Article> articles = SampleArticles();
  for (int i = 0; i < 6; ++i) {
    Article a = articles[i % 2];
    a.id += std::to_string(i);
    a.embedding[i % 4] += 0.25f * float(i + 1);
    Check(index->Upsert({a}));
  }
  Article replaced = articles[0];
  replaced.id += "0";
  Check(index->Upsert({replaced}));
  const auto part = [&](char which, auto save) {
    related::StringStateWriter out;
    save(out);
    return std::string(1, which) + out.bytes();
  };
  Check(index->Checkpoint(
      [] { return absl::OkStatus(); },
      [&](const related::IndexParts& parts) {
        WriteFile(corpus / "section_fuzzer/table",
                  part(0, [&](auto& w) { parts.articles->Save(w); }));
        WriteFile(corpus / "section_fuzzer/hnsw",
                  part(2, [&](auto& w) {
                    parts.vectors->SaveVectors(w);
                    parts.vectors->SaveGraph(w);
                  }));
        WriteFile(corpus / "section_fuzzer/lists", part(3, [&](auto& w) {
                    parts.lists->Save("fuzz", w);
                  }));
        Check(related::storage::WriteSnapshot(work.string(), {5, 0}, parts,
                                              options)
                  .status());
        return absl::OkStatus();
      }));
  fs::rename(work / related::storage::SnapshotName(5),
             corpus / "snapshot_fuzzer/format2");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seed_writer <corpus dir>\n");
    return 2;
  }
  const fs::path corpus = argv[1];
  const fs::path work = corpus / ".seed-work";
  fs::create_directories(work);
  for (const char* t : {"wal_fuzzer", "snapshot_fuzzer", "section_fuzzer",
                        "record_fuzzer", "jsonl_fuzzer", "validation_fuzzer",
                        "tokenizer_fuzzer"}) {
    fs::create_directories(corpus / t);
  }
  const std::vector<Article> articles = SampleArticles();
  const std::string upsert = related::storage::EncodeUpsertRecord(articles);
  const std::string del =
      related::storage::EncodeDeleteRecord({"sport/final", "gone"});

  // Write records: one of each kind, and an empty upsert.
  WriteFile(corpus / "record_fuzzer/upsert", upsert);
  WriteFile(corpus / "record_fuzzer/delete", del);
  WriteFile(corpus / "record_fuzzer/empty_upsert",
            related::storage::EncodeUpsertRecord({}));
  // The kinds that carry texts: an upsert with a stored text (kind 3) and
  // text-only articles held for the first model (kind 4).
  std::vector<Article> with_text = articles;
  with_text[0].text = "A storm crossed the coast overnight.";
  WriteFile(corpus / "record_fuzzer/upsert_with_text",
            related::storage::EncodeUpsertRecord(with_text));
  Article held;
  held.id = "held/draft";
  held.text = "Text only, waiting for the first model.";
  WriteFile(corpus / "record_fuzzer/hold",
            related::storage::EncodeHoldRecord({held}));

  // WAL segments: header only, and three records.
  {
    auto wal = Check(related::storage::WalWriter::Create(work.string(), 1));
    Check(wal->SyncAll());
  }
  fs::rename(work / related::storage::WalSegmentName(1),
             corpus / "wal_fuzzer/empty_segment");
  {
    auto wal = Check(related::storage::WalWriter::Create(work.string(), 2));
    Check(wal->Append(upsert).status());
    Check(wal->Append(del).status());
    Check(wal->Append(related::storage::EncodeUpsertRecord({articles[1]}))
              .status());
    Check(wal->SyncAll());
  }
  fs::rename(work / related::storage::WalSegmentName(2),
             corpus / "wal_fuzzer/three_records");

  // Snapshots: empty, and two articles of dimension 4.
  {
    auto snapshot =
        Check(related::storage::SnapshotWriter::Start(work.string(), 3, 4));
    Check(snapshot.Finish());
  }
  fs::rename(work / related::storage::SnapshotName(3),
             corpus / "snapshot_fuzzer/empty");
  {
    auto snapshot =
        Check(related::storage::SnapshotWriter::Start(work.string(), 4, 4));
    for (const Article& a : articles) Check(snapshot.Add(a));
    Check(snapshot.Finish());
  }
  fs::rename(work / related::storage::SnapshotName(4),
             corpus / "snapshot_fuzzer/two_articles");
  WriteSectionSeeds(corpus, work);
  fs::remove_all(work);

  // JSONL lines (related-cli's import format).
  WriteFile(corpus / "jsonl_fuzzer/full",
            R"({"id": "2026/11/28/world/storm", "title": "Storm", )"
            R"("url": "https://example.org/storm", "section": "world", )"
            R"("language": "en", "published_at": "2026-11-28T09:30:00Z", )"
            R"("embedding": [0.12, -0.5, 3e-2, 1], )"
            R"("attributes": {"author": "kim"}})");
  WriteFile(corpus / "jsonl_fuzzer/minimal",
            R"({"id":"a","embedding":[1,0,0]})");
  WriteFile(corpus / "jsonl_fuzzer/unix_seconds",
            "{\"id\":\"b\",\"embedding\":[0,0,0,2],\"published_at\":"
            "1795858200,\"title\":null,\"extra\":[1,{}]}\r");

  // FuzzedDataProvider input: any bytes are valid; the last byte picks the
  // check (0: ID, 1: embedding, 2: policy) and the bytes before it, read
  // backwards, its parameters.
  WriteFile(corpus / "validation_fuzzer/id",
            std::string("2026/11/28/world/storm\x30\x00", 24));
  WriteFile(corpus / "validation_fuzzer/embedding",
            std::string("\x3f\x80\x00\x00\xbf\x00\x00\x00\x00\x00\x00\x00"
                        "\x3e\x80\x00\x00\x00\x01\x00\x01\x04\x04\x01",
                        23));
  std::string policy(96, '\x01');
  policy.back() = '\x02';
  WriteFile(corpus / "validation_fuzzer/policy", policy);

  // Texts as callers send them: news copy with typographic punctuation,
  // Latin-1 capitals, another script and dump artefacts, nothing at all.
  WriteFile(corpus / "tokenizer_fuzzer/headline",
            "Election night: vote counts \xE2\x80\x94 \xE2\x80\x9Cnews\xE2\x80\x9D");
  WriteFile(corpus / "tokenizer_fuzzer/latin1", "\xC3\x89T\xC3\x89 ab ab ab");
  WriteFile(corpus / "tokenizer_fuzzer/other_script",
            "\xE9\x81\xB8\xE6\x8C\x99 #36;10\\\\second");
  WriteFile(corpus / "tokenizer_fuzzer/blank", "   \t\n");
  return 0;
}
