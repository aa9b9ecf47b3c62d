// The binary encoding of articles and write records, shared by the
// write-ahead log and snapshots. Little-endian, length-prefixed; decoding
// checks every length against the bytes left, so corrupt input yields an
// error, never a crash or an oversized allocation.
#ifndef RELATED_SERVER_CORE_STORAGE_RECORD_CODEC_H_
#define RELATED_SERVER_CORE_STORAGE_RECORD_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/article.h"

namespace related::storage {

// Appends fixed-width and length-prefixed values to a byte string.
class Encoder {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v);
  void U64(uint64_t v);
  void Bytes(absl::string_view s);           // u32 length + bytes
  void Floats(const std::vector<float>& v);  // u32 count + values
  void Metadata(const ArticleMetadata& m);
  void ArticleRecord(const Article& a);  // id, embedding, metadata

  std::string& buffer() { return out_; }

 private:
  std::string out_;
};

// Reads what Encoder wrote. Every read fails (DATA_LOSS) rather than run
// past the end.
class Decoder {
 public:
  explicit Decoder(absl::string_view in) : in_(in) {}

  absl::StatusOr<uint8_t> U8();
  absl::StatusOr<uint32_t> U32();
  absl::StatusOr<uint64_t> U64();
  absl::StatusOr<std::string> Bytes();
  absl::StatusOr<std::vector<float>> Floats();
  absl::StatusOr<ArticleMetadata> Metadata();
  absl::StatusOr<Article> ArticleRecord();

  size_t remaining() const { return in_.size(); }

 private:
  absl::Status Need(size_t n, absl::string_view what) const;
  absl::string_view in_;
};

// CRC-32 (zlib's) of `data`, continuing from `crc` (0 to start).
uint32_t Crc32(absl::string_view data, uint32_t crc = 0);

// What one write-ahead log record holds: an upsert batch or a delete batch.
struct WriteRecord {
  // kUpsertWithText: an upsert whose articles each carry their text after
  // the metadata. Written only when some article has text, so that a log
  // without texts reads as before in older builds.
  // kHold: text-only articles (no embedding) held until the first text
  // model exists (server/core/text_bootstrap.h); each carries its text.
  enum class Kind : uint8_t {
    kUpsert = 1,
    kDelete = 2,
    kUpsertWithText = 3,
    kHold = 4,
  };
  Kind kind = Kind::kUpsert;  // decoded: kUpsert (with or without texts),
                              // kDelete or kHold
  std::vector<Article> articles;  // kUpsert, kUpsertWithText, kHold
  std::vector<ArticleId> ids;     // kDelete
};

std::string EncodeUpsertRecord(const std::vector<Article>& articles);
std::string EncodeHoldRecord(const std::vector<Article>& articles);
std::string EncodeDeleteRecord(const std::vector<ArticleId>& ids);
// DATA_LOSS if `payload` is not exactly one well-formed record.
absl::StatusOr<WriteRecord> DecodeWriteRecord(absl::string_view payload);

}  // namespace related::storage

#endif  // RELATED_SERVER_CORE_STORAGE_RECORD_CODEC_H_
