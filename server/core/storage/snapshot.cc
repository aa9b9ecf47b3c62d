#include "server/core/storage/snapshot.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/related_list_builder.h"
#include "server/core/storage/snapshot_sections.h"
#include "server/core/storage/snapshot_v1.h"

namespace related::storage {
namespace {

constexpr uint32_t kFormat = 2;

// The header section's fields.
struct Header {
  uint32_t format = kFormat;
  int32_t dimension = 0;
  uint8_t index_kind = 0;  // IndexKind
  uint64_t segment = 0;
  int64_t slots = 0;
  int64_t articles = 0;
  // Replicated mode: the last stream sequence the cut holds. Written only
  // when set, so a standalone snapshot reads as before in older builds.
  uint64_t log_position = 0;
};

void SaveHeader(const Header& h, StateWriter& out) {
  out.Value(h.format);
  out.Value(h.dimension);
  out.Value(h.index_kind);
  out.Value(h.segment);
  out.Value(h.slots);
  out.Value(h.articles);
  if (h.log_position != 0) out.Value(h.log_position);
}

Header LoadHeader(StateReader& in) {
  Header h;
  h.format = in.Value<uint32_t>();
  h.dimension = in.Value<int32_t>();
  h.index_kind = in.Value<uint8_t>();
  h.segment = in.Value<uint64_t>();
  h.slots = in.Value<int64_t>();
  h.articles = in.Value<int64_t>();
  if (in.remaining() >= sizeof(uint64_t)) {
    h.log_position = in.Value<uint64_t>();
  }
  return h;
}

// Writes one section with `save` as its payload.
absl::Status WriteSection(File& file, int64_t& offset, SectionKind kind,
                          absl::FunctionRef<void(StateWriter&)> save) {
  SectionWriter section(file, offset, kind);
  save(section);
  return section.Finish();
}

absl::Status WriteSections(File& file, const SnapshotCut& cut,
                           const IndexParts& parts,
                           const ArticleIndexOptions& options) {
  int64_t offset = 0;
  if (absl::Status s = file.Write(kSnapshotMagic); !s.ok()) return s;
  offset += static_cast<int64_t>(kSnapshotMagic.size());
  Header header;
  header.dimension = parts.vectors ? parts.vectors->Dimension() : 0;
  header.index_kind = static_cast<uint8_t>(parts.vectors ? parts.vectors->Kind()
                                                         : options.index_kind);
  header.segment = cut.segment;
  header.log_position = cut.log_position;
  header.slots = parts.vectors ? parts.vectors->SlotCount() : 0;
  header.articles = parts.articles->size();
  absl::Status s = WriteSection(file, offset, SectionKind::kHeader,
                                [&](StateWriter& w) { SaveHeader(header, w); });
  if (s.ok()) {
    s = WriteSection(file, offset, SectionKind::kArticles,
                     [&](StateWriter& w) { parts.articles->Save(w); });
  }
  if (s.ok() && parts.vectors != nullptr) {
    s = WriteSection(file, offset, SectionKind::kVectors,
                     [&](StateWriter& w) { parts.vectors->SaveVectors(w); });
    if (s.ok()) {
      s = WriteSection(file, offset, SectionKind::kGraph,
                       [&](StateWriter& w) { parts.vectors->SaveGraph(w); });
    }
  }
  if (s.ok() && parts.lists != nullptr) {
    s = WriteSection(file, offset, SectionKind::kLists, [&](StateWriter& w) {
      parts.lists->Save(RelatedListsFingerprint(options), w);
    });
  }
  if (s.ok()) {
    s = WriteSection(file, offset, SectionKind::kEnd, [](StateWriter&) {});
  }
  return s;
}

}  // namespace

absl::StatusOr<SnapshotReport> WriteSnapshot(
    const std::string& dir, const SnapshotCut& cut, const IndexParts& parts,
    const ArticleIndexOptions& options) {
  const absl::Time start = absl::Now();
  const std::string final_path =
      absl::StrCat(dir, "/", SnapshotName(cut.segment));
  const std::string tmp_path = final_path + ".tmp";
  auto file = File::Create(tmp_path);
  if (!file.ok()) return file.status();
  absl::Status s = WriteSections(*file, cut, parts, options);
  if (s.ok()) s = file->Sync();
  auto size = s.ok() ? file->Size() : absl::StatusOr<int64_t>(s);
  if (size.ok()) s = RenameFile(tmp_path, final_path);
  if (!size.ok() || !s.ok()) {
    RemoveFile(tmp_path).IgnoreError();
    return size.ok() ? s : size.status();
  }
  if (absl::Status synced = SyncDir(dir); !synced.ok()) return synced;
  return SnapshotReport{cut.segment, parts.articles->size(), *size,
                        absl::Now() - start};
}

absl::StatusOr<int> SnapshotFormat(const std::string& path) {
  auto file = FileReader::Open(path);
  if (!file.ok()) return file.status();
  char magic[8];
  if (!file->Read(magic, sizeof magic).ok()) {
    return absl::DataLossError(absl::StrCat(path, ": not a snapshot"));
  }
  const absl::string_view got(magic, sizeof magic);
  if (got == kSnapshotMagic) return 2;
  if (got == kSnapshotV1Magic) return 1;
  return absl::DataLossError(absl::StrCat(path, ": not a snapshot"));
}

namespace {

// Loads one section with `load`; DATA_LOSS names the section.
absl::Status LoadSection(FileReader& file, SectionKind kind,
                         absl::string_view name,
                         absl::FunctionRef<absl::Status(StateReader&)> load) {
  auto section = OpenSection(file, kind);
  absl::Status s = section.ok() ? load(*section) : section.status();
  if (s.ok()) s = section->Finish();
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(file.path(), ": ", name,
                                             " section: ", s.message()));
}

// A derived section: loaded by `load`, or, if that fails for any reason,
// skipped (the file is left at the next section when it can be) with the
// reason added to `problems`. False if the rest of the file cannot be
// found (the section's header was damaged).
bool LoadDerivedSection(FileReader& file, SectionKind kind,
                        absl::string_view name,
                        absl::FunctionRef<absl::Status(StateReader&)> load,
                        bool& loaded, std::string& problems) {
  auto section = OpenSection(file, kind);
  loaded = false;
  if (!section.ok()) {
    absl::StrAppend(&problems, name, " section: ", section.status().message(),
                    "; ");
    return false;
  }
  absl::Status s = load(*section);
  if (s.ok()) s = section->Finish();
  if (s.ok()) {
    loaded = true;
    return true;
  }
  absl::StrAppend(&problems, name, " section: ", s.message(), "; ");
  return section->SkipRest().ok();
}

// The data sections: header, articles, vectors. Fills `header`.
absl::Status LoadData(FileReader& file, const ArticleIndexOptions& options,
                      Header& header, LoadedSnapshot& out) {
  // (A snapshot of an index that never stored anything has dimension 0, no
  // articles and no vectors.)
  absl::Status s =
      LoadSection(file, SectionKind::kHeader, "header", [&](StateReader& in) {
        header = LoadHeader(in);
        if (in.status().ok() && header.format != kFormat) {
          return absl::FailedPreconditionError(
              absl::StrCat("format version ", header.format,
                           ", this build reads version ", kFormat));
        }
        if (in.status().ok() &&
            (header.dimension < 0 || header.index_kind > 1)) {
          in.Fail("dimension or index kind out of range");
        }
        return in.status();
      });
  if (!s.ok()) return s;
  s = LoadSection(file, SectionKind::kArticles, "articles",
                  [&](StateReader& in) -> absl::Status {
                    auto table = ArticleTable::Load(in);
                    if (!table.ok()) return table.status();
                    out.parts.articles = *std::move(table);
                    return absl::OkStatus();
                  });
  if (!s.ok() || header.dimension == 0) return s;
  out.parts.vectors = MakeVectorIndex(static_cast<IndexKind>(header.index_kind),
                                      header.dimension, options.hnsw);
  return LoadSection(
      file, SectionKind::kVectors, "vectors",
      [&](StateReader& in) { return out.parts.vectors->LoadVectors(in); });
}

// Whether the table and the vectors agree: every article has a vector, and
// an index that fills its holes (exact) has none.
absl::Status CheckSlots(const std::string& path, const RestoredParts& parts) {
  const Slot slots = parts.vectors->SlotCount();
  for (Slot slot = 0; slot < parts.articles.slot_count(); ++slot) {
    const bool occupied = parts.articles.Occupied(slot);
    if ((occupied && slot >= slots) ||
        (!occupied && slot < slots && parts.vectors->MovesSlots())) {
      return absl::DataLossError(absl::StrCat(
          path, ": the article table and the vectors disagree at slot ", slot));
    }
  }
  return absl::OkStatus();
}

// The graph: loaded, or built again from the vectors. Then the slots with
// no article are removed from the index (HNSW keeps them as tombstones).
bool LoadGraph(FileReader& file, int threads, LoadedSnapshot& out) {
  bool loaded = false;
  const bool more = LoadDerivedSection(
      file, SectionKind::kGraph, "graph",
      [&](StateReader& in) { return out.parts.vectors->LoadGraph(in); }, loaded,
      out.problems);
  if (!loaded) {
    out.graph_rebuilt = true;
    out.parts.vectors->BuildGraph(threads).IgnoreError();
  }
  for (Slot slot = 0; slot < out.parts.vectors->SlotCount(); ++slot) {
    if (!out.parts.articles.Occupied(slot)) out.parts.vectors->Remove(slot);
  }
  return more;
}

// The lists, if this server keeps them: loaded, or left null (rebuilt by
// the index).
void LoadLists(FileReader& file, bool more, const ArticleIndexOptions& options,
               LoadedSnapshot& out) {
  out.parts.lists = MakeRelatedLists(options, *out.parts.vectors);
  if (out.parts.lists == nullptr) return;
  bool loaded = false;
  if (more) {
    LoadDerivedSection(
        file, SectionKind::kLists, "lists",
        [&](StateReader& in) {
          return out.parts.lists->Load(RelatedListsFingerprint(options),
                                       out.parts.articles.slot_count(),
                                       out.parts.articles.cards(), in);
        },
        loaded, out.problems);
  } else {
    absl::StrAppend(&out.problems, "lists section: not reached; ");
  }
  if (!loaded) {
    out.parts.lists = nullptr;
    out.lists_rebuilt = true;
  }
}

}  // namespace

absl::StatusOr<LoadedSnapshot> LoadSnapshot(const std::string& path,
                                            const ArticleIndexOptions& options,
                                            int threads) {
  auto file = FileReader::Open(path);
  if (!file.ok()) return file.status();
  LoadedSnapshot out;
  out.bytes = static_cast<int64_t>(file->remaining());
  char magic[8];
  if (!file->Read(magic, sizeof magic).ok() ||
      absl::string_view(magic, sizeof magic) != kSnapshotMagic) {
    return absl::DataLossError(absl::StrCat(path, ": not a snapshot"));
  }
  Header header;
  if (absl::Status s = LoadData(*file, options, header, out); !s.ok()) return s;
  out.articles = out.parts.articles.size();
  out.log_position = header.log_position;
  if (out.parts.vectors == nullptr) {
    if (out.articles != 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": articles without vectors"));
    }
    return out;
  }
  if (absl::Status s = CheckSlots(path, out.parts); !s.ok()) return s;
  const bool more = LoadGraph(*file, threads, out);
  LoadLists(*file, more, options, out);
  return out;
}

}  // namespace related::storage
