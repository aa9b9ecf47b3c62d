// The tokenizer and the embedding of arbitrary bytes: whatever a caller
// sends as text, words are bounded and well formed, and an embedding is
// either a clear error or a finite unit vector.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "common/text/sif_model.h"
#include "common/text/tokenizer.h"

namespace {

// A small fixed model whose words a fuzzer finds quickly.
const related::text::SifModel& Model() {
  static const related::text::SifModel* model = [] {
    related::text::SifModelData d;
    d.dimension = 4;
    d.words = {"ab", "news", "\xC3\xA9t\xC3\xA9", "vote"};
    d.weights = {1.0f, 0.5f, 0.25f, 2.0f};
    d.vectors = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1};
    d.components = {0.5f, 0.5f, 0.5f, 0.5f};
    return new related::text::SifModel(*related::text::SifModel::Build(d));
  }();
  return *model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  related::text::ForEachWord(text, [](absl::string_view word) {
    if (word.size() < 2 || word.size() > related::text::kMaxWordBytes) abort();
    for (char c : word) {
      const auto b = static_cast<unsigned char>(c);
      if (b < 0x80 && !((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9'))) {
        abort();  // separators and capitals never reach a word
      }
    }
  });
  auto embedding = Model().Embed(text);
  if (embedding.ok()) {
    double norm = 0;
    for (float x : *embedding) {
      if (!std::isfinite(x)) abort();
      norm += double{x} * x;
    }
    if (std::abs(norm - 1.0) > 1e-3) abort();
  }
  return 0;
}
