// Fuzzes the write-record codec: DecodeWriteRecord must refuse malformed
// payloads without crashing, and whatever it accepts must re-encode to a
// payload that decodes to the same record, byte for byte the second time.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "server/core/storage/record_codec.h"

namespace {

using related::Article;
using related::storage::DecodeWriteRecord;
using related::storage::EncodeDeleteRecord;
using related::storage::EncodeHoldRecord;
using related::storage::EncodeUpsertRecord;
using related::storage::WriteRecord;

// Floats compare by bit pattern: NaN payloads must survive the round trip.
bool SameFloats(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

bool SameRecord(const WriteRecord& a, const WriteRecord& b) {
  if (a.kind != b.kind || a.ids != b.ids ||
      a.articles.size() != b.articles.size()) {
    return false;
  }
  for (size_t i = 0; i < a.articles.size(); ++i) {
    const Article& x = a.articles[i];
    const Article& y = b.articles[i];
    if (x.id != y.id || !SameFloats(x.embedding, y.embedding) ||
        !(x.metadata == y.metadata) || x.text != y.text) {
      return false;
    }
  }
  return true;
}

std::string Encode(const WriteRecord& record) {
  switch (record.kind) {
    case WriteRecord::Kind::kDelete:
      return EncodeDeleteRecord(record.ids);
    case WriteRecord::Kind::kHold:
      return EncodeHoldRecord(record.articles);
    default:
      return EncodeUpsertRecord(record.articles);
  }
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "record_fuzzer: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto decoded = DecodeWriteRecord(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!decoded.ok()) return 0;
  // The input need not be canonical (a repeated attribute key keeps its last
  // value), so compare records, then the canonical encodings.
  const std::string encoded = Encode(*decoded);
  auto again = DecodeWriteRecord(encoded);
  if (!again.ok()) Fail("re-encoded record does not decode");
  if (!SameRecord(*decoded, *again)) Fail("round trip changed the record");
  if (Encode(*again) != encoded) Fail("encoding is not stable");
  return 0;
}
