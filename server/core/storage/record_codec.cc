#include "server/core/storage/record_codec.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace related::storage {
namespace {

// Protobuf's Timestamp range, which every stored time is within.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

}  // namespace

void Encoder::U32(uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out_.append(b, 4);
}

void Encoder::U64(uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out_.append(b, 8);
}

void Encoder::Bytes(absl::string_view s) {
  U32(static_cast<uint32_t>(s.size()));
  out_.append(s.data(), s.size());
}

void Encoder::Floats(const std::vector<float>& v) {
  U32(static_cast<uint32_t>(v.size()));
  static_assert(sizeof(float) == 4);
  for (float f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    U32(bits);
  }
}

void Encoder::Metadata(const ArticleMetadata& m) {
  Bytes(m.title);
  Bytes(m.url);
  Bytes(m.section);
  Bytes(m.language);
  U8(m.published_at.has_value() ? 1 : 0);
  if (m.published_at.has_value()) {
    const absl::Duration since_epoch = *m.published_at - absl::UnixEpoch();
    const int64_t seconds =
        absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
    U64(static_cast<uint64_t>(seconds));
    U32(static_cast<uint32_t>(
        absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
  }
  U32(static_cast<uint32_t>(m.attributes.size()));
  for (const auto& [key, value] : m.attributes) {
    Bytes(key);
    Bytes(value);
  }
}

void Encoder::ArticleRecord(const Article& a) {
  Bytes(a.id);
  Floats(a.embedding);
  Metadata(a.metadata);
}

absl::Status Decoder::Need(size_t n, absl::string_view what) const {
  if (n > in_.size()) {
    return absl::DataLossError(absl::StrCat("truncated record: ", what,
                                            " needs ", n, " bytes, ",
                                            in_.size(), " left"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint8_t> Decoder::U8() {
  if (absl::Status s = Need(1, "u8"); !s.ok()) return s;
  const auto v = static_cast<uint8_t>(in_[0]);
  in_.remove_prefix(1);
  return v;
}

absl::StatusOr<uint32_t> Decoder::U32() {
  if (absl::Status s = Need(4, "u32"); !s.ok()) return s;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= uint32_t(static_cast<uint8_t>(in_[i])) << (8 * i);
  in_.remove_prefix(4);
  return v;
}

absl::StatusOr<uint64_t> Decoder::U64() {
  if (absl::Status s = Need(8, "u64"); !s.ok()) return s;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(static_cast<uint8_t>(in_[i])) << (8 * i);
  in_.remove_prefix(8);
  return v;
}

absl::StatusOr<std::string> Decoder::Bytes() {
  auto size = U32();
  if (!size.ok()) return size.status();
  if (absl::Status s = Need(*size, "string"); !s.ok()) return s;
  std::string v(in_.substr(0, *size));
  in_.remove_prefix(*size);
  return v;
}

absl::StatusOr<std::vector<float>> Decoder::Floats() {
  auto count = U32();
  if (!count.ok()) return count.status();
  // Checked before allocating: a corrupt count must not allocate gigabytes.
  if (absl::Status s = Need(size_t{*count} * 4, "floats"); !s.ok()) return s;
  std::vector<float> v(*count);
  for (uint32_t i = 0; i < *count; ++i) {
    const uint32_t bits = *U32();
    std::memcpy(&v[i], &bits, 4);
  }
  return v;
}

absl::StatusOr<ArticleMetadata> Decoder::Metadata() {
  ArticleMetadata m;
  for (std::string* field : {&m.title, &m.url, &m.section, &m.language}) {
    auto s = Bytes();
    if (!s.ok()) return s.status();
    *field = *std::move(s);
  }
  auto has_time = U8();
  if (!has_time.ok()) return has_time.status();
  if (*has_time > 1) return absl::DataLossError("bad published_at flag");
  if (*has_time == 1) {
    auto seconds = U64();
    auto nanos = U32();
    if (!seconds.ok() || !nanos.ok())
      return absl::DataLossError("truncated published_at");
    const auto s = static_cast<int64_t>(*seconds);
    if (s < kMinSeconds || s > kMaxSeconds || *nanos > 999999999) {
      return absl::DataLossError("published_at out of range");
    }
    m.published_at = absl::FromUnixSeconds(s) + absl::Nanoseconds(*nanos);
  }
  auto count = U32();
  if (!count.ok()) return count.status();
  // Each attribute takes at least 8 bytes: a corrupt count fails here.
  if (absl::Status s = Need(size_t{*count} * 8, "attributes"); !s.ok())
    return s;
  for (uint32_t i = 0; i < *count; ++i) {
    auto key = Bytes();
    if (!key.ok()) return key.status();
    auto value = Bytes();
    if (!value.ok()) return value.status();
    m.attributes[*std::move(key)] = *std::move(value);
  }
  return m;
}

absl::StatusOr<Article> Decoder::ArticleRecord() {
  Article a;
  auto id = Bytes();
  if (!id.ok()) return id.status();
  a.id = *std::move(id);
  auto embedding = Floats();
  if (!embedding.ok()) return embedding.status();
  a.embedding = *std::move(embedding);
  auto metadata = Metadata();
  if (!metadata.ok()) return metadata.status();
  a.metadata = *std::move(metadata);
  return a;
}

uint32_t Crc32(absl::string_view data, uint32_t crc) {
  // zlib takes uInt lengths; feed large inputs in pieces.
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), 1u << 30);
    crc = static_cast<uint32_t>(
        crc32(crc, reinterpret_cast<const Bytef*>(data.data()),
              static_cast<uInt>(n)));
    data.remove_prefix(n);
  }
  return crc;
}

std::string EncodeUpsertRecord(const std::vector<Article>& articles) {
  const bool texts = std::any_of(articles.begin(), articles.end(),
                                 [](const Article& a) { return !a.text.empty(); });
  Encoder e;
  e.U8(static_cast<uint8_t>(texts ? WriteRecord::Kind::kUpsertWithText
                                  : WriteRecord::Kind::kUpsert));
  e.U32(static_cast<uint32_t>(articles.size()));
  for (const Article& a : articles) {
    e.ArticleRecord(a);
    if (texts) e.Bytes(a.text);
  }
  return std::move(e.buffer());
}

std::string EncodeHoldRecord(const std::vector<Article>& articles) {
  Encoder e;
  e.U8(static_cast<uint8_t>(WriteRecord::Kind::kHold));
  e.U32(static_cast<uint32_t>(articles.size()));
  for (const Article& a : articles) {
    e.ArticleRecord(a);
    e.Bytes(a.text);
  }
  return std::move(e.buffer());
}

std::string EncodeDeleteRecord(const std::vector<ArticleId>& ids) {
  Encoder e;
  e.U8(static_cast<uint8_t>(WriteRecord::Kind::kDelete));
  e.U32(static_cast<uint32_t>(ids.size()));
  for (const ArticleId& id : ids) e.Bytes(id);
  return std::move(e.buffer());
}

absl::StatusOr<WriteRecord> DecodeWriteRecord(absl::string_view payload) {
  Decoder d(payload);
  WriteRecord record;
  auto kind = d.U8();
  if (!kind.ok()) return kind.status();
  auto count = d.U32();
  if (!count.ok()) return count.status();
  const bool hold = *kind == static_cast<uint8_t>(WriteRecord::Kind::kHold);
  const bool texts =
      hold || *kind == static_cast<uint8_t>(WriteRecord::Kind::kUpsertWithText);
  if (texts || *kind == static_cast<uint8_t>(WriteRecord::Kind::kUpsert)) {
    record.kind = hold ? WriteRecord::Kind::kHold : WriteRecord::Kind::kUpsert;
    for (uint32_t i = 0; i < *count; ++i) {
      auto a = d.ArticleRecord();
      if (!a.ok()) return a.status();
      if (texts) {
        auto text = d.Bytes();
        if (!text.ok()) return text.status();
        a->text = *std::move(text);
      }
      record.articles.push_back(*std::move(a));
    }
  } else if (*kind == static_cast<uint8_t>(WriteRecord::Kind::kDelete)) {
    record.kind = WriteRecord::Kind::kDelete;
    for (uint32_t i = 0; i < *count; ++i) {
      auto id = d.Bytes();
      if (!id.ok()) return id.status();
      record.ids.push_back(*std::move(id));
    }
  } else {
    return absl::DataLossError(
        absl::StrCat("unknown record kind ", int{*kind}));
  }
  if (d.remaining() != 0) {
    return absl::DataLossError(
        absl::StrCat(d.remaining(), " stray bytes after a record"));
  }
  return record;
}

}  // namespace related::storage
