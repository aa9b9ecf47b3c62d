// Fuzzes the loaders of a snapshot's sections (format 2) on arbitrary
// bytes, behind the checksums that would stop almost every random input:
// the first byte picks the part, the rest is its state. Whatever the
// bytes, loading must return (an error is fine) without crashing, hanging
// or allocating without bound, and what loads must be usable: the table's
// cards readable, the graph searchable, the lists' boxes within the table.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/core/article_table.h"
#include "server/core/related_lists.h"
#include "server/core/state_io.h"
#include "server/core/vector_index.h"

namespace {

using related::ArticleTable;
using related::StringStateReader;

constexpr int kDim = 4;

void FuzzTable(absl::string_view bytes) {
  StringStateReader in(bytes);
  auto table = ArticleTable::Load(in);
  if (!table.ok()) return;
  for (related::Slot slot = 0; slot < table->slot_count(); ++slot) {
    if (!table->Occupied(slot)) continue;
    const related::ArticleCard card = table->CardOf(slot);
    if (table->Find(card.id) != slot) __builtin_trap();
    related::MetadataOf(card);  // every field readable
  }
}

void FuzzIndex(related::IndexKind kind, absl::string_view bytes) {
  auto index = related::MakeVectorIndex(kind, kDim, related::HnswOptions{});
  StringStateReader in(bytes);
  if (!index->LoadVectors(in).ok()) return;
  if (!index->LoadGraph(in).ok() && !index->BuildGraph(1).ok()) return;
  const float query[kDim] = {0.5f, 0.5f, 0.5f, 0.5f};
  auto found = index->Search(query, 5, [](related::Slot) { return true; });
  if (found.ok()) {
    for (const related::Neighbor& n : *found) {
      if (n.slot < 0 || n.slot >= index->SlotCount()) __builtin_trap();
    }
  }
}

void FuzzLists(absl::string_view bytes) {
  // The lists are checked against the slots and cards of a table.
  ArticleTable table;
  for (int i = 0; i < 8; ++i) {
    related::ArticleMetadata m;
    m.title = "t" + std::to_string(i);
    table.Put(i, "id" + std::to_string(i), m);
  }
  related::RelatedLists lists(/*pool_size=*/20, /*box_size=*/10,
                              /*box_follows_similarity=*/true);
  StringStateReader in(bytes);
  if (!lists.Load("fuzz", table.slot_count(), table.cards(), in).ok()) return;
  for (related::Slot slot = 0; slot < table.slot_count(); ++slot) {
    if (const related::StoredBox* box = lists.Box(slot)) {
      for (const related::BoxedArticle& e : box->chosen) {
        if (e.slot >= uint32_t(table.slot_count())) __builtin_trap();
        if (e.card != related::kNoCard) table.cards().Get(e.card);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + 1,
                                size - 1);
  switch (data[0] % 4) {
    case 0:
      FuzzTable(bytes);
      break;
    case 1:
      FuzzIndex(related::IndexKind::kExact, bytes);
      break;
    case 2:
      FuzzIndex(related::IndexKind::kHnsw, bytes);
      break;
    default:
      FuzzLists(bytes);
      break;
  }
  return 0;
}
