#include "common/text/tokenizer.h"

namespace related::text {
namespace {

bool IsAsciiWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

unsigned char ByteAt(absl::string_view text, size_t i) {
  return i < text.size() ? static_cast<unsigned char>(text[i]) : 0;
}

// How many bytes of non-ASCII punctuation start at text[i] (0: none). Only
// the characters news copy is full of: U+00A0-U+00BF (no-break space,
// guillemets, inverted marks, signs) and U+2000-U+206F (the general
// punctuation block: typographic spaces, dashes, curly quotes, ellipsis).
size_t PunctuationBytes(absl::string_view text, size_t i) {
  const unsigned char b0 = ByteAt(text, i), b1 = ByteAt(text, i + 1);
  if (b0 == 0xC2 && b1 >= 0xA0 && b1 <= 0xBF) return 2;
  const unsigned char b2 = ByteAt(text, i + 2);
  if (b0 == 0xE2 && (b1 == 0x80 || b1 == 0x81) && b2 >= 0x80 && b2 <= 0xBF) {
    return 3;
  }
  return 0;
}

// Appends the word byte(s) at text[i] to `word` and advances `i`. Capitals
// are lower-cased: ASCII, and Latin-1 (U+00C0-U+00DE but U+00D7, the
// multiplication sign: 0xC3 0x80-0x9E, whose small letters are 0x20 up).
void AppendWordBytes(absl::string_view text, size_t& i, std::string& word) {
  const unsigned char c = ByteAt(text, i), next = ByteAt(text, i + 1);
  if (c >= 'A' && c <= 'Z') {
    word.push_back(static_cast<char>(c + 32));
  } else if (c == 0xC3 && next >= 0x80 && next <= 0x9E && next != 0x97) {
    word.push_back(static_cast<char>(c));
    word.push_back(static_cast<char>(next + 0x20));
    ++i;
  } else {
    word.push_back(static_cast<char>(c));
  }
  ++i;
}

bool AllDigits(absl::string_view word) {
  for (char c : word) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

void ForEachWord(absl::string_view text,
                 absl::FunctionRef<void(absl::string_view)> word) {
  std::string current;
  bool too_long = false;  // a word that grows too long is dropped whole
  const auto end_word = [&] {
    if (!too_long && current.size() > 1 && !AllDigits(current)) word(current);
    current.clear();
    too_long = false;
  };
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80 && !IsAsciiWordByte(c)) {
      end_word();
      ++i;
    } else if (const size_t n = c < 0x80 ? 0 : PunctuationBytes(text, i)) {
      end_word();
      i += n;
    } else {
      AppendWordBytes(text, i, current);
      if (current.size() > kMaxWordBytes) {
        too_long = true;
        current.clear();
      }
    }
  }
  end_word();
}

std::vector<std::string> Words(absl::string_view text) {
  std::vector<std::string> words;
  ForEachWord(text, [&](absl::string_view w) { words.emplace_back(w); });
  return words;
}

}  // namespace related::text
