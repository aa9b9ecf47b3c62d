// What one chunk of a write does to the articles by slot: the vectors in
// the VectorIndex and the cards and IDs in the ArticleTable change together,
// including the fix-ups when the index moves a vector to fill a hole.
//
// Not thread-safe: ArticleIndex holds its index lock exclusively around each
// call (and the writers' lock, so the batch was validated: IDs unique,
// embeddings normalised to the index's dimension).
#ifndef RELATED_SERVER_CORE_ARTICLE_WRITES_H_
#define RELATED_SERVER_CORE_ARTICLE_WRITES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/core/article.h"
#include "server/core/article_table.h"
#include "server/core/vector_index.h"

namespace related {

// The slots a chunk filled with new vectors and those it emptied.
struct SlotChanges {
  std::vector<Slot> added;
  std::vector<Slot> removed;
  // For each added slot, its nearest live articles as the vector index met
  // them placing it (see VectorIndex::Add); empty if not asked for or if the
  // index does not search to add.
  std::vector<std::vector<Neighbor>> neighbors;
};

// Inserts or replaces `articles`. An article whose vector equals its stored
// one only gets new metadata (no slot changes: the common edited headline).
// The others are added to the vector index (on up to `threads` threads), and
// the slots of those they replace are removed. With `reach` > 0, each added
// article's `reach` nearest that the index met are kept in `neighbors`.
// Fails only if FAISS does (INTERNAL), and then nothing changed.
absl::StatusOr<SlotChanges> PlaceArticles(VectorIndex& vectors,
                                          ArticleTable& articles,
                                          absl::Span<const Article> chunk,
                                          int threads, int reach = 0);

// The article at an occupied `slot`, as stored (its vector is the unit
// vector).
Article ArticleAt(const VectorIndex& vectors, const ArticleTable& articles,
                  Slot slot);

// Deletes the stored articles among `ids`; returns their (emptied) slots.
std::vector<Slot> RemoveArticles(VectorIndex& vectors, ArticleTable& articles,
                                 absl::Span<const ArticleId> ids);

}  // namespace related

#endif  // RELATED_SERVER_CORE_ARTICLE_WRITES_H_
