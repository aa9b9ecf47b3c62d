// ArticleIndexOptions: how an ArticleIndex is configured (the server fills
// them from flags), and the check that they can work.
#ifndef RELATED_SERVER_CORE_INDEX_OPTIONS_H_
#define RELATED_SERVER_CORE_INDEX_OPTIONS_H_

#include "absl/status/status.h"
#include "server/core/ranking_policy.h"
#include "server/core/vector_index.h"

namespace related {

struct ArticleIndexOptions {
  IndexKind index_kind = IndexKind::kHnsw;
  // Embedding dimension; 0 means "set by the first write".
  int dimension = 0;
  HnswOptions hnsw;
  int default_limit = 10;
  int max_limit = 100;
  // Most articles per upsert / IDs per delete or batch lookup.
  int max_batch_size = 1000;
  int max_id_bytes = 256;
  // Largest metadata per article (title, URL, section, language and
  // attribute keys and values together): it is returned with every result.
  int max_metadata_bytes = 64 << 10;
  // Longest Article.text: it is stored with the article (in memory, the log
  // and snapshots) and embedded on write. A whole long-form story is rarely
  // over 50 KB of text.
  int max_text_bytes = 64 << 10;
  // Writes are applied in chunks of this many articles, each under a short
  // exclusive lock, so a large batch never stalls readers for long.
  int write_chunk_size = 32;
  // Threads a write uses to place new articles in the graph and to rank the
  // related lists it changes (0: one per core).
  int write_threads = 0;
  // Keep every article's related box under the default policy ready, so a
  // lookup with that policy needs no search. Takes effect with the HNSW
  // index (stable slots) and a default policy that does not depend on the
  // clock or on metadata filters (RankingIsPrecomputable).
  bool precompute_related = true;
  // Compaction (HNSW): when replaced and deleted articles hold more than
  // this share of the slots (and at least compaction_min_tombstones), the
  // index is rebuilt without them in the background and swapped in
  // (compaction.h). 0: never.
  double compaction_threshold = 0.2;
  int64_t compaction_min_tombstones = 1000;
  // The editorial policy a request gets for every control it does not set.
  RankingPolicy default_policy;
};

// INVALID_ARGUMENT for options that cannot work, e.g. limits < 1, an HNSW
// degree < 2 or an invalid default policy.
absl::Status ValidateIndexOptions(const ArticleIndexOptions& options);

// The threads a write uses (write_threads, or one per core).
int WriteThreads(const ArticleIndexOptions& options);

}  // namespace related

#endif  // RELATED_SERVER_CORE_INDEX_OPTIONS_H_
