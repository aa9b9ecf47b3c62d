#include "server/service/related_encoding.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "google/protobuf/timestamp.pb.h"
#include "server/service/proto_conversion.h"

namespace related {
namespace {

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
constexpr uint32_t kVarint = 0;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;

// A map<string, string> entry is a message with the key as field 1 and the
// value as field 2.
constexpr int kMapKey = 1;
constexpr int kMapValue = 2;

size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

// Writes through a cursor into room the caller made: the sizes are known
// before anything is written (every length prefix needs them anyway), so
// each byte is a store, not a string append with its capacity check.
struct Cursor {
  char* at;
};

void PutVarint(uint64_t value, Cursor& out) {
  while (value >= 0x80) {
    *out.at++ = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  *out.at++ = static_cast<char>(value);
}

void PutBytes(absl::string_view bytes, Cursor& out) {
  std::memcpy(out.at, bytes.data(), bytes.size());
  out.at += bytes.size();
}

size_t TagSize(int field) { return VarintSize(uint32_t(field) << 3); }

void PutTag(int field, uint32_t wire_type, Cursor& out) {
  PutVarint((uint32_t(field) << 3) | wire_type, out);
}

// A length-delimited field (string or message) whose payload is `size` bytes.
size_t FieldSize(int field, size_t size) {
  return TagSize(field) + VarintSize(size) + size;
}

void PutFieldHeader(int field, size_t size, Cursor& out) {
  PutTag(field, kLengthDelimited, out);
  PutVarint(size, out);
}

// proto3 leaves out a string field that is empty.
size_t StringFieldSize(int field, absl::string_view value) {
  return value.empty() ? 0 : FieldSize(field, value.size());
}

void PutStringField(int field, absl::string_view value, Cursor& out) {
  if (value.empty()) return;
  PutFieldHeader(field, value.size(), out);
  PutBytes(value, out);
}

// ... and an integer field that is zero. Negative int64 values are written
// as their two's complement, in ten bytes.
size_t IntegerFieldSize(int field, int64_t value) {
  return value == 0 ? 0 : TagSize(field) + VarintSize(uint64_t(value));
}

void PutIntegerField(int field, int64_t value, Cursor& out) {
  if (value == 0) return;
  PutTag(field, kVarint, out);
  PutVarint(uint64_t(value), out);
}

using PbTimestamp = google::protobuf::Timestamp;
using PbMetadata = v1::ArticleMetadata;
using PbRelated = v1::RelatedArticle;

size_t TimestampSize(const PbTimestamp& t) {
  return IntegerFieldSize(PbTimestamp::kSecondsFieldNumber, t.seconds()) +
         IntegerFieldSize(PbTimestamp::kNanosFieldNumber, t.nanos());
}

size_t AttributeSize(absl::string_view key, absl::string_view value) {
  return FieldSize(kMapKey, key.size()) + FieldSize(kMapValue, value.size());
}

// The metadata message's size; `published_at` is its timestamp, if set.
size_t MetadataSize(const ArticleCard& card, const PbTimestamp* published_at) {
  size_t size =
      StringFieldSize(PbMetadata::kTitleFieldNumber, card.title) +
      StringFieldSize(PbMetadata::kUrlFieldNumber, card.url) +
      StringFieldSize(PbMetadata::kSectionFieldNumber, card.section) +
      StringFieldSize(PbMetadata::kLanguageFieldNumber, card.language);
  if (published_at != nullptr) {
    size += FieldSize(PbMetadata::kPublishedAtFieldNumber,
                      TimestampSize(*published_at));
  }
  ForEachAttribute(card, [&](absl::string_view key, absl::string_view value) {
    size += FieldSize(PbMetadata::kAttributesFieldNumber,
                      AttributeSize(key, value));
  });
  return size;
}

void PutMetadata(const ArticleCard& card, const PbTimestamp* published_at,
                 Cursor& out) {
  PutStringField(PbMetadata::kTitleFieldNumber, card.title, out);
  PutStringField(PbMetadata::kUrlFieldNumber, card.url, out);
  PutStringField(PbMetadata::kSectionFieldNumber, card.section, out);
  PutStringField(PbMetadata::kLanguageFieldNumber, card.language, out);
  if (published_at != nullptr) {
    PutFieldHeader(PbMetadata::kPublishedAtFieldNumber,
                   TimestampSize(*published_at), out);
    PutIntegerField(PbTimestamp::kSecondsFieldNumber, published_at->seconds(),
                    out);
    PutIntegerField(PbTimestamp::kNanosFieldNumber, published_at->nanos(), out);
  }
  // Map entries carry both key and value, even empty ones, as protobuf's
  // own serialisation writes them; cards keep them in key order, as the
  // std::map they came from.
  ForEachAttribute(card, [&](absl::string_view key, absl::string_view value) {
    PutFieldHeader(PbMetadata::kAttributesFieldNumber,
                   AttributeSize(key, value), out);
    PutFieldHeader(kMapKey, key.size(), out);
    PutBytes(key, out);
    PutFieldHeader(kMapValue, value.size(), out);
    PutBytes(value, out);
  });
}

}  // namespace

void AppendRelatedArticle(const ArticleCard& card, float score,
                          std::string& bytes) {
  PbTimestamp published_at;
  if (card.published_at.has_value()) {
    TimeToProto(*card.published_at, &published_at);
  }
  const PbTimestamp* timestamp =
      card.published_at.has_value() ? &published_at : nullptr;
  uint32_t score_bits;
  std::memcpy(&score_bits, &score, sizeof(score_bits));
  const size_t metadata_size = MetadataSize(card, timestamp);

  size_t size = StringFieldSize(PbRelated::kArticleIdFieldNumber, card.id) +
                FieldSize(PbRelated::kMetadataFieldNumber, metadata_size);
  if (score_bits != 0) size += TagSize(PbRelated::kScoreFieldNumber) + 4;

  const size_t start = bytes.size();
  bytes.resize(start +
               FieldSize(v1::GetRelatedResponse::kArticlesFieldNumber, size));
  Cursor out{bytes.data() + start};
  PutFieldHeader(v1::GetRelatedResponse::kArticlesFieldNumber, size, out);
  PutStringField(PbRelated::kArticleIdFieldNumber, card.id, out);
  if (score_bits != 0) {
    PutTag(PbRelated::kScoreFieldNumber, kFixed32, out);
    for (int byte = 0; byte < 4; ++byte) {  // little-endian
      *out.at++ = static_cast<char>(score_bits >> (8 * byte));
    }
  }
  // Always present, as RelatedToProto sets it even when empty.
  PutFieldHeader(PbRelated::kMetadataFieldNumber, metadata_size, out);
  PutMetadata(card, timestamp, out);
  // The sizes above and the writes must agree; a mismatch would corrupt the
  // response (tests/service/related_encoding_test.cc compares the bytes).
  if (out.at != bytes.data() + bytes.size()) std::abort();
}

void AppendRelatedArticles(const std::vector<RelatedArticle>& related,
                           std::string& out) {
  for (const RelatedArticle& article : related) {
    AppendRelatedArticle(OwnedCard(article.id, *article.metadata).card(),
                         article.score, out);
  }
}

void AppendRankingDebug(const v1::RankingDebug& debug, std::string& bytes) {
  const std::string message = debug.SerializeAsString();
  const size_t start = bytes.size();
  bytes.resize(start + FieldSize(v1::GetRelatedResponse::kDebugFieldNumber,
                                 message.size()));
  Cursor out{bytes.data() + start};
  PutFieldHeader(v1::GetRelatedResponse::kDebugFieldNumber, message.size(),
                 out);
  PutBytes(message, out);
}

}  // namespace related
