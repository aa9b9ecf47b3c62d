#include "server/core/index_options.h"

#include <omp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace related {

absl::Status ValidateIndexOptions(const ArticleIndexOptions& options) {
  if (options.dimension < 0) {
    return absl::InvalidArgumentError(
        "dimension must be >= 0 (0: set by the first write)");
  }
  if (options.max_limit < 1 || options.default_limit < 1 ||
      options.default_limit > options.max_limit) {
    return absl::InvalidArgumentError(
        "limits must satisfy 1 <= default_limit <= max_limit");
  }
  if (options.max_batch_size < 1 || options.max_id_bytes < 1 ||
      options.write_chunk_size < 1 || options.max_metadata_bytes < 1 ||
      options.max_text_bytes < 1) {
    return absl::InvalidArgumentError(
        "max_batch_size, max_id_bytes, max_metadata_bytes, max_text_bytes "
        "and write_chunk_size must be >= 1");
  }
  if (options.index_kind == IndexKind::kHnsw &&
      (options.hnsw.m < 2 || options.hnsw.ef_construction < 1 ||
       options.hnsw.ef_search < 1)) {
    return absl::InvalidArgumentError(
        "HNSW needs m >= 2, ef_construction >= 1 and ef_search >= 1");
  }
  if (!(options.compaction_threshold >= 0 &&
        options.compaction_threshold < 1) ||
      options.compaction_min_tombstones < 1) {
    return absl::InvalidArgumentError(
        "compaction_threshold must be in [0, 1) and "
        "compaction_min_tombstones >= 1");
  }
  if (absl::Status s = ValidateRankingPolicy(options.default_policy); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("default ranking policy: ", s.message()));
  }
  return absl::OkStatus();
}

int WriteThreads(const ArticleIndexOptions& options) {
  return options.write_threads > 0 ? options.write_threads
                                   : std::max(1, omp_get_num_procs());
}

}  // namespace related
