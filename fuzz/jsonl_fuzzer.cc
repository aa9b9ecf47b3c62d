// Fuzzes related-cli's JSONL line parser: any line must yield an article or
// an INVALID_ARGUMENT, never a crash or an escaping exception, and an
// accepted article must meet the limits it was parsed with.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "client/cli/jsonl_import.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "jsonl_fuzzer: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view line(reinterpret_cast<const char*>(data), size);
  // Any length; the small dimension of the seeds; a tight ID limit.
  static constexpr related::cli::ImportLimits kLimits[] = {
      {.dimension = 0, .max_id_bytes = 0},
      {.dimension = 4, .max_id_bytes = 512},
      {.dimension = 3, .max_id_bytes = 8},
  };
  for (const related::cli::ImportLimits& limits : kLimits) {
    auto article = related::cli::ParseArticleLine(line, limits);
    if (!article.ok()) {
      if (article.status().code() != absl::StatusCode::kInvalidArgument)
        Fail("error other than INVALID_ARGUMENT");
      continue;
    }
    if (article->id.empty()) Fail("accepted an empty ID");
    if (limits.max_id_bytes > 0 &&
        article->id.size() > static_cast<size_t>(limits.max_id_bytes))
      Fail("accepted an ID over the limit");
    if (article->embedding.empty()) Fail("accepted an empty embedding");
    if (limits.dimension > 0 &&
        article->embedding.size() != static_cast<size_t>(limits.dimension))
      Fail("accepted an embedding of the wrong dimension");
  }
  related::cli::IsBlankLine(line);
  return 0;
}
