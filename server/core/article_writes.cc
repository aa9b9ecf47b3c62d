#include "server/core/article_writes.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace related {
namespace {

// Empties `slot` in both; the table follows the index's move, if any.
void RemoveSlot(VectorIndex& vectors, ArticleTable& articles, Slot slot) {
  articles.Remove(slot, vectors.Remove(slot));
}

bool SameVector(const VectorIndex& vectors, Slot slot, const Article& a) {
  return std::memcmp(vectors.StoredVector(slot), a.embedding.data(),
                     sizeof(float) * a.embedding.size()) == 0;
}

}  // namespace

absl::StatusOr<SlotChanges> PlaceArticles(VectorIndex& vectors,
                                          ArticleTable& articles,
                                          absl::Span<const Article> chunk,
                                          int threads, int reach) {
  std::vector<const Article*> needs_vector;
  std::vector<float> new_vectors;
  for (const Article& article : chunk) {
    const std::optional<Slot> slot = articles.Find(article.id);
    if (slot.has_value() && SameVector(vectors, *slot, article)) {
      articles.Put(*slot, article.id, article.metadata, article.text);
      continue;
    }
    needs_vector.push_back(&article);
    new_vectors.insert(new_vectors.end(), article.embedding.begin(),
                       article.embedding.end());
  }
  SlotChanges changes;
  if (needs_vector.empty()) return changes;
  // Add before removing replaced vectors: if FAISS fails, nothing changed.
  MetNeighbors met{reach, {}};
  auto slots = vectors.Add(new_vectors.data(), needs_vector.size(), threads,
                           reach > 0 ? &met : nullptr);
  if (!slots.ok()) return slots.status();
  changes.added = *std::move(slots);
  for (size_t i = 0; i < needs_vector.size(); ++i) {
    const Article& article = *needs_vector[i];
    if (auto old = articles.Put(changes.added[i], article.id, article.metadata,
                                article.text)) {
      changes.removed.push_back(*old);
    }
  }
  // Highest first: removing a slot may move the last slot into it, and the
  // last slot is then never one still waiting to be removed.
  std::sort(changes.removed.begin(), changes.removed.end(), std::greater<>());
  for (Slot slot : changes.removed) RemoveSlot(vectors, articles, slot);
  if (met.lists.size() == changes.added.size()) {
    // The index met the replaced vectors too, before they were removed.
    for (std::vector<Neighbor>& list : met.lists) {
      list.erase(std::remove_if(list.begin(), list.end(),
                                [&](const Neighbor& n) {
                                  return !articles.Occupied(n.slot);
                                }),
                 list.end());
    }
    changes.neighbors = std::move(met.lists);
  }
  return changes;
}

Article ArticleAt(const VectorIndex& vectors, const ArticleTable& articles,
                  Slot slot) {
  const ArticleCard card = articles.CardOf(slot);
  Article article{std::string(card.id), std::vector<float>(vectors.Dimension()),
                  MetadataOf(card), articles.TextAt(slot)};
  vectors.Vector(slot, article.embedding.data());
  return article;
}

std::vector<Slot> RemoveArticles(VectorIndex& vectors, ArticleTable& articles,
                                 absl::Span<const ArticleId> ids) {
  std::vector<Slot> removed;
  for (const ArticleId& id : ids) {
    const std::optional<Slot> slot = articles.Unmap(id);
    if (!slot.has_value()) continue;
    RemoveSlot(vectors, articles, *slot);
    removed.push_back(*slot);
  }
  return removed;
}

}  // namespace related
