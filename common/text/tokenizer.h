// The words of an article's text, as the embedder sees them. Training and
// embedding must split text the same way, so both go through here.
//
// A word is a run of ASCII letters and digits, or of non-ASCII UTF-8
// characters (other scripts are kept whole, not dropped). Everything else
// separates words: ASCII punctuation and spaces, and the common non-ASCII
// punctuation of news copy (curly quotes, dashes, ellipses, guillemets,
// no-break spaces). ASCII and Latin-1 capitals are lower-cased. Words of
// one byte, digits-only words and words longer than kMaxWordBytes (URLs,
// base64, glued garbage) are skipped: none helps tell stories apart.
//
// Never fails: any bytes, valid UTF-8 or not, give some (maybe no) words.
#ifndef RELATED_COMMON_TEXT_TOKENIZER_H_
#define RELATED_COMMON_TEXT_TOKENIZER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace related::text {

inline constexpr size_t kMaxWordBytes = 40;

// Calls `word` for each word of `text`, in order. The view is valid only
// during the call.
void ForEachWord(absl::string_view text,
                 absl::FunctionRef<void(absl::string_view)> word);

// The words of `text`, for tests and training.
std::vector<std::string> Words(absl::string_view text);

}  // namespace related::text

#endif  // RELATED_COMMON_TEXT_TOKENIZER_H_
