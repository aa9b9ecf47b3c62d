#include "server/core/article_cards.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace related {
namespace {

// A card's bytes (native byte order; cards never leave the process):
//   0  uint8  retired (0 or 1)
//   1  uint8  publication time: 0 none, 1 seconds+nanos, 2 infinite
//             future, 3 infinite past
//   4  uint32 card size in bytes
//   8  int64  seconds since the Unix epoch (floor)
//  16  uint32 nanoseconds within that second
//  20  uint32 lengths of id, title, url, section, language, and of the
//             encoded attributes (key length, value length, key, value;
//             repeated)
//  44  the text, in that order
constexpr size_t kRetired = 0;
constexpr size_t kTimeKind = 1;
constexpr size_t kSize = 4;
constexpr size_t kSeconds = 8;
constexpr size_t kNanos = 16;
constexpr size_t kLengths = 20;
constexpr int kFields = 6;
constexpr size_t kHeaderBytes = kLengths + 4 * kFields;

template <class T>
void Put(char* at, T value) {
  std::memcpy(at, &value, sizeof(value));
}

template <class T>
T Read(const char* at) {
  T value;
  std::memcpy(&value, at, sizeof(value));
  return value;
}

size_t AttributesBytes(const ArticleMetadata& metadata) {
  size_t bytes = 0;
  for (const auto& [key, value] : metadata.attributes) {
    bytes += 8 + key.size() + value.size();
  }
  return bytes;
}

size_t CardBytes(const ArticleId& id, const ArticleMetadata& m) {
  return kHeaderBytes + id.size() + m.title.size() + m.url.size() +
         m.section.size() + m.language.size() + AttributesBytes(m);
}

// Writes the card of (id, m) at `at`, which has CardBytes(id, m) bytes.
void WriteCard(const ArticleId& id, const ArticleMetadata& m, char* at) {
  std::memset(at, 0, kHeaderBytes);
  Put<uint32_t>(at + kSize, static_cast<uint32_t>(CardBytes(id, m)));
  if (m.published_at.has_value()) {
    const absl::Time t = *m.published_at;
    if (t == absl::InfiniteFuture()) {
      at[kTimeKind] = 2;
    } else if (t == absl::InfinitePast()) {
      at[kTimeKind] = 3;
    } else {
      at[kTimeKind] = 1;
      const int64_t seconds = absl::ToUnixSeconds(t);
      Put<int64_t>(at + kSeconds, seconds);
      Put<uint32_t>(at + kNanos, static_cast<uint32_t>(absl::ToInt64Nanoseconds(
                                     t - absl::FromUnixSeconds(seconds))));
    }
  }
  const absl::string_view texts[] = {id, m.title, m.url, m.section, m.language};
  char* out = at + kHeaderBytes;
  for (int i = 0; i < 5; ++i) {
    Put<uint32_t>(at + kLengths + 4 * i,
                  static_cast<uint32_t>(texts[i].size()));
    std::memcpy(out, texts[i].data(), texts[i].size());
    out += texts[i].size();
  }
  Put<uint32_t>(at + kLengths + 4 * 5,
                static_cast<uint32_t>(AttributesBytes(m)));
  for (const auto& [key, value] : m.attributes) {
    Put<uint32_t>(out, static_cast<uint32_t>(key.size()));
    Put<uint32_t>(out + 4, static_cast<uint32_t>(value.size()));
    out += 8;
    std::memcpy(out, key.data(), key.size());
    out += key.size();
    std::memcpy(out, value.data(), value.size());
    out += value.size();
  }
}

ArticleCard ReadCard(const char* at) {
  ArticleCard card;
  absl::string_view* texts[] = {&card.id,       &card.title,
                                &card.url,      &card.section,
                                &card.language, &card.encoded_attributes};
  const char* text = at + kHeaderBytes;
  for (int i = 0; i < kFields; ++i) {
    const uint32_t length = Read<uint32_t>(at + kLengths + 4 * i);
    *texts[i] = absl::string_view(text, length);
    text += length;
  }
  switch (at[kTimeKind]) {
    case 1:
      card.published_at = absl::FromUnixSeconds(Read<int64_t>(at + kSeconds)) +
                          absl::Nanoseconds(Read<uint32_t>(at + kNanos));
      break;
    case 2:
      card.published_at = absl::InfiniteFuture();
      break;
    case 3:
      card.published_at = absl::InfinitePast();
      break;
    default:
      break;
  }
  return card;
}

}  // namespace

void ForEachAttribute(
    const ArticleCard& card,
    absl::FunctionRef<void(absl::string_view key, absl::string_view value)>
        visit) {
  const char* at = card.encoded_attributes.data();
  const char* end = at + card.encoded_attributes.size();
  while (at < end) {
    const uint32_t key_size = Read<uint32_t>(at);
    const uint32_t value_size = Read<uint32_t>(at + 4);
    at += 8;
    visit(absl::string_view(at, key_size),
          absl::string_view(at + key_size, value_size));
    at += key_size + value_size;
  }
}

std::optional<absl::string_view> FindAttribute(const ArticleCard& card,
                                               absl::string_view key) {
  std::optional<absl::string_view> found;
  ForEachAttribute(card, [&](absl::string_view k, absl::string_view v) {
    if (k == key) found = v;
  });
  return found;
}

ArticleMetadata MetadataOf(const ArticleCard& card) {
  ArticleMetadata m;
  m.title = std::string(card.title);
  m.url = std::string(card.url);
  m.section = std::string(card.section);
  m.language = std::string(card.language);
  m.published_at = card.published_at;
  ForEachAttribute(card, [&](absl::string_view key, absl::string_view value) {
    m.attributes.emplace(key, value);
  });
  return m;
}

OwnedCard::OwnedCard(const ArticleId& id, const ArticleMetadata& metadata)
    : bytes_(CardBytes(id, metadata), '\0') {
  WriteCard(id, metadata, bytes_.data());
  card_ = ReadCard(bytes_.data());
}

CardRef ArticleCards::Allocate(size_t size, char** at) {
  const size_t padded = (size + 7) & ~size_t{7};
  if (used_in_last_ + padded > kBlockBytes) {
    if (blocks_.size() >= (size_t{1} << (32 - kOffsetBits))) {
      // 32-bit references reach 32,768 blocks (32 GiB of cards, some 250
      // million articles): far beyond a server's memory, but never wrap.
      std::fprintf(stderr, "related-server: article cards exceed %zu blocks\n",
                   blocks_.size());
      std::abort();
    }
    const size_t block_bytes = std::max(kBlockBytes, padded);
    blocks_.push_back(std::make_unique<char[]>(block_bytes));
    block_bytes_.push_back(block_bytes);
    allocated_bytes_ += static_cast<int64_t>(block_bytes);
    used_in_last_ = 0;
  }
  const size_t offset = used_in_last_;
  used_in_last_ += padded;
  *at = blocks_.back().get() + offset;
  live_bytes_ += static_cast<int64_t>(padded);
  return static_cast<CardRef>(((blocks_.size() - 1) << kOffsetBits) |
                              (offset / 8));
}

CardRef ArticleCards::Add(const ArticleId& id,
                          const ArticleMetadata& metadata) {
  char* at = nullptr;
  const CardRef card = Allocate(CardBytes(id, metadata), &at);
  WriteCard(id, metadata, at);
  return card;
}

CardRef ArticleCards::Copy(const ArticleCards& from, CardRef card) {
  const char* source = from.Bytes(card);
  const size_t size = Read<uint32_t>(source + kSize);
  char* at = nullptr;
  const CardRef copy = Allocate(size, &at);
  std::memcpy(at, source, size);
  at[kRetired] = 0;
  return copy;
}

ArticleCard ArticleCards::Get(CardRef card) const {
  return ReadCard(Bytes(card));
}

void ArticleCards::Retire(CardRef card) {
  char* at = const_cast<char*>(Bytes(card));
  if (at[kRetired] != 0) return;
  at[kRetired] = 1;
  const int64_t padded = (Read<uint32_t>(at + kSize) + 7) & ~int64_t{7};
  live_bytes_ -= padded;
  retired_bytes_ += padded;
}

bool ArticleCards::Valid(CardRef card) const {
  const size_t block = card >> kOffsetBits;
  if (block >= blocks_.size()) return false;
  const size_t offset = size_t{card & ((CardRef{1} << kOffsetBits) - 1)} * 8;
  const size_t room = block + 1 == blocks_.size()
                          ? std::min(used_in_last_, block_bytes_[block])
                          : block_bytes_[block];
  if (offset + kHeaderBytes > room) return false;
  const char* at = blocks_[block].get() + offset;
  const size_t size = Read<uint32_t>(at + kSize);
  if (size < kHeaderBytes || size > room - offset ||
      static_cast<uint8_t>(at[kRetired]) > 1 ||
      static_cast<uint8_t>(at[kTimeKind]) > 3) {
    return false;
  }
  size_t text = 0;
  for (int i = 0; i < kFields; ++i)
    text += Read<uint32_t>(at + kLengths + 4 * i);
  return text <= size - kHeaderBytes;
}

void ArticleCards::Save(StateWriter& out) const {
  out.Value<uint64_t>(blocks_.size());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    out.Array(blocks_[i].get(), block_bytes_[i]);
  }
  out.Value<uint64_t>(used_in_last_);
  out.Value<int64_t>(live_bytes_);
  out.Value<int64_t>(retired_bytes_);
}

absl::StatusOr<ArticleCards> ArticleCards::Load(StateReader& in) {
  ArticleCards cards;
  const uint64_t blocks = in.Value<uint64_t>();
  if (blocks > (uint64_t{1} << (32 - kOffsetBits))) in.Fail("too many blocks");
  for (uint64_t i = 0; i < blocks && in.status().ok(); ++i) {
    const uint64_t size = in.Value<uint64_t>();
    if (size < kBlockBytes || size > in.remaining()) {
      in.Fail("a card block of impossible size");
      break;
    }
    cards.blocks_.push_back(std::make_unique<char[]>(size));
    cards.block_bytes_.push_back(size);
    in.Bytes(cards.blocks_.back().get(), size);
    cards.allocated_bytes_ += static_cast<int64_t>(size);
  }
  cards.used_in_last_ = in.Value<uint64_t>();
  cards.live_bytes_ = in.Value<int64_t>();
  cards.retired_bytes_ = in.Value<int64_t>();
  if (blocks == 0) cards.used_in_last_ = kBlockBytes;
  if (in.status().ok() &&
      (cards.live_bytes_ < 0 || cards.retired_bytes_ < 0 ||
       (blocks > 0 && cards.used_in_last_ > cards.block_bytes_.back()))) {
    in.Fail("card block accounting out of range");
  }
  if (!in.status().ok()) return in.status();
  return cards;
}

void ArticleCards::Prefetch(CardRef card) const {
  // Most cards are two or three cache lines; a longer one costs its further
  // lines later, in order.
  const char* at = Bytes(card);
  __builtin_prefetch(at);
  __builtin_prefetch(at + 64);
  __builtin_prefetch(at + 128);
}

}  // namespace related
