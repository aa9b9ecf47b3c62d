#include "common/text/sif_model.h"

#include <openssl/sha.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/text/tokenizer.h"

namespace related::text {
namespace {

// File layout (little-endian; this service runs on x86-64 and arm64, both
// little-endian): magic, u32 dimension, u32 word count, u32 component
// count, u32 sparse dimension, f32 sparse weight, f32 unseen idf,
// description (u32 length + bytes), per word u32 length + bytes, weights,
// vectors, components, idf (f32 each), then a CRC-32 of all before.
constexpr absl::string_view kMagic = "RAEMB001";
// Bounds a corrupt header cannot get past (a model of more than 4M words
// or 4,096 dimensions is not one this service trains).
constexpr uint32_t kMaxWords = 1u << 22;
constexpr uint32_t kMaxDimension = 4096;
constexpr uint32_t kMaxComponents = 16;

void PutU32(std::string& out, uint32_t v) {
  char bytes[4];
  std::memcpy(bytes, &v, 4);
  out.append(bytes, 4);
}
void PutFloats(std::string& out, const std::vector<float>& v) {
  // (An empty vector's data() may be null, which no copy may be given.)
  if (v.empty()) return;
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return false;
    std::memcpy(&v, in_.data(), 4);
    in_.remove_prefix(4);
    return true;
  }
  bool Bytes(std::string& s) {
    uint32_t n = 0;
    if (!U32(n) || in_.size() < n) return false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool Floats(std::vector<float>& v, size_t count) {
    if (in_.size() / sizeof(float) < count) return false;
    v.resize(count);
    if (count == 0) return true;  // data() may be null: no copy
    std::memcpy(v.data(), in_.data(), count * sizeof(float));
    in_.remove_prefix(count * sizeof(float));
    return true;
  }
  size_t remaining() const { return in_.size(); }

 private:
  absl::string_view in_;
};

bool AllFinite(const std::vector<float>& values) {
  for (float v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

absl::Status Check(const SifModelData& d) {
  const size_t dim = static_cast<size_t>(d.dimension);
  if (d.dimension < 1 || d.dimension > static_cast<int>(kMaxDimension)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model dimension ", d.dimension, " is not in [1, ",
                     kMaxDimension, "]"));
  }
  if (d.words.empty()) {
    return absl::InvalidArgumentError("model has an empty vocabulary");
  }
  if (d.weights.size() != d.words.size() ||
      d.vectors.size() != d.words.size() * dim ||
      d.components.size() % dim != 0 ||
      d.components.size() / dim > kMaxComponents) {
    return absl::InvalidArgumentError("model parts disagree in size");
  }
  if (d.sparse_dimension < 0 ||
      d.sparse_dimension > static_cast<int>(kMaxDimension) ||
      d.idf.size() != (d.sparse_dimension > 0 ? d.words.size() : 0) ||
      !(d.sparse_weight >= 0 && d.sparse_weight < 1) ||
      (d.sparse_dimension == 0 && d.sparse_weight != 0)) {
    return absl::InvalidArgumentError(
        "model's lexical part is inconsistent (dimension, weight in [0, 1), "
        "one idf per word)");
  }
  if (!AllFinite(d.weights) || !AllFinite(d.vectors) ||
      !AllFinite(d.components) || !AllFinite(d.idf) ||
      !std::isfinite(d.unseen_idf)) {
    return absl::InvalidArgumentError("model holds a non-finite value");
  }
  return absl::OkStatus();
}

// Scales `v` to unit length; false (and `v` unchanged) if it has none.
bool Normalize(std::vector<float>& v) {
  double norm = 0;
  for (float x : v) norm += double{x} * x;
  norm = std::sqrt(norm);
  if (!std::isfinite(norm) || norm < 1e-12) return false;
  for (float& x : v) x = static_cast<float>(x / norm);
  return true;
}

// Adds `weight` times the word's row of the lexical projection to `out`:
// one random sign per dimension, drawn from a generator seeded with the
// word's FNV-1a hash (splitmix64), so the same word always gets the same
// row, on every machine, with nothing stored. Part of the model format:
// changing it changes every vector.
void AddSignRow(absl::string_view word, float weight, std::vector<float>& out) {
  uint64_t state = 14695981039346656037ull;
  for (char c : word) {
    state = (state ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  const float scaled = weight / std::sqrt(static_cast<float>(out.size()));
  for (size_t k = 0; k < out.size(); k += 64) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t bits = state;
    bits = (bits ^ (bits >> 30)) * 0xBF58476D1CE4E5B9ull;
    bits = (bits ^ (bits >> 27)) * 0x94D049BB133111EBull;
    bits ^= bits >> 31;
    for (size_t j = 0; j < 64 && k + j < out.size(); ++j) {
      out[k + j] += ((bits >> j) & 1) ? scaled : -scaled;
    }
  }
}

std::string Identity(absl::string_view encoded) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(encoded.data()),
         encoded.size(), digest);
  return absl::StrCat(
      "sif-", absl::BytesToHexString(absl::string_view(
                  reinterpret_cast<const char*>(digest), 8)));
}

}  // namespace

std::string EncodeSifModel(const SifModelData& d) {
  std::string out(kMagic);
  PutU32(out, static_cast<uint32_t>(d.dimension));
  PutU32(out, static_cast<uint32_t>(d.words.size()));
  PutU32(out, static_cast<uint32_t>(d.components.size() /
                                    std::max(d.dimension, 1)));
  PutU32(out, static_cast<uint32_t>(d.sparse_dimension));
  PutFloats(out, {d.sparse_weight, d.unseen_idf});
  PutU32(out, static_cast<uint32_t>(d.description.size()));
  out.append(d.description);
  for (const std::string& w : d.words) {
    PutU32(out, static_cast<uint32_t>(w.size()));
    out.append(w);
  }
  PutFloats(out, d.weights);
  PutFloats(out, d.vectors);
  PutFloats(out, d.components);
  PutFloats(out, d.idf);
  PutU32(out, static_cast<uint32_t>(crc32(
                  0, reinterpret_cast<const Bytef*>(out.data()),
                  static_cast<uInt>(out.size()))));
  return out;
}

absl::StatusOr<SifModelData> DecodeSifModel(absl::string_view bytes) {
  const auto damaged = [](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("not a valid model file: ", what));
  };
  if (bytes.size() < kMagic.size() + 4 || !absl::StartsWith(bytes, kMagic)) {
    return damaged("no model header");
  }
  const absl::string_view body = bytes.substr(0, bytes.size() - 4);
  uint32_t stored_crc = 0;
  std::memcpy(&stored_crc, bytes.data() + body.size(), 4);
  if (stored_crc != crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                          static_cast<uInt>(body.size()))) {
    return damaged("checksum mismatch");
  }
  Reader in(body.substr(kMagic.size()));
  SifModelData d;
  uint32_t dim = 0, words = 0, components = 0, sparse = 0;
  std::vector<float> sparse_settings;
  if (!in.U32(dim) || !in.U32(words) || !in.U32(components) ||
      !in.U32(sparse) || !in.Floats(sparse_settings, 2) || dim == 0 ||
      dim > kMaxDimension || words > kMaxWords ||
      components > kMaxComponents || sparse > kMaxDimension ||
      !in.Bytes(d.description)) {
    return damaged("header out of range");
  }
  d.dimension = static_cast<int>(dim);
  d.sparse_dimension = static_cast<int>(sparse);
  d.sparse_weight = sparse_settings[0];
  d.unseen_idf = sparse_settings[1];
  d.words.resize(words);
  for (std::string& w : d.words) {
    if (!in.Bytes(w)) return damaged("truncated vocabulary");
  }
  if (!in.Floats(d.weights, words) ||
      !in.Floats(d.vectors, size_t{words} * dim) ||
      !in.Floats(d.components, size_t{components} * dim) ||
      !in.Floats(d.idf, sparse == 0 ? 0 : words) || in.remaining() != 0) {
    return damaged("sizes do not match the header");
  }
  return d;
}

SifModel::SifModel(SifModelData data) : data_(std::move(data)) {
  row_of_.reserve(data_.words.size());
  for (size_t i = 0; i < data_.words.size(); ++i) {
    row_of_.emplace(data_.words[i], static_cast<uint32_t>(i));
  }
  identity_ = Identity(EncodeSifModel(data_));
}

absl::StatusOr<SifModel> SifModel::Build(SifModelData data) {
  if (absl::Status s = Check(data); !s.ok()) return s;
  SifModel model(std::move(data));
  if (model.row_of_.size() != model.data_.words.size()) {
    return absl::InvalidArgumentError("model vocabulary holds a word twice");
  }
  return model;
}

absl::StatusOr<SifModel> SifModel::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot open model ", path));
  }
  std::stringstream bytes;
  bytes << file.rdbuf();
  auto data = DecodeSifModel(bytes.str());
  if (!data.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", data.status().message()));
  }
  auto model = Build(*std::move(data));
  if (!model.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", model.status().message()));
  }
  return model;
}

absl::Status SifModel::Save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    const std::string bytes = EncodeSifModel(data_);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.flush();
    if (!file) {
      std::remove(tmp.c_str());
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ",
                                               path));
  }
  return absl::OkStatus();
}

absl::Status SifModel::Semantic(
    absl::string_view text, std::vector<float>& v,
    absl::flat_hash_map<std::string, int>& counts) const {
  const size_t dim = static_cast<size_t>(data_.dimension);
  v.assign(dim, 0.0f);
  size_t words = 0, known = 0;
  ForEachWord(text, [&](absl::string_view word) {
    ++words;
    if (data_.sparse_dimension > 0) ++counts[word];
    auto it = row_of_.find(word);
    if (it == row_of_.end()) return;
    ++known;
    const float weight = data_.weights[it->second];
    const float* row = &data_.vectors[size_t{it->second} * dim];
    for (size_t k = 0; k < dim; ++k) v[k] += weight * row[k];
  });
  if (words == 0) {
    return absl::InvalidArgumentError(
        "text has no words (only spaces, punctuation, numbers or symbols)");
  }
  if (known == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "none of the text's ", words, " words is in the model's vocabulary (",
        data_.words.size(),
        " words): is it in a language or script the model was not trained "
        "on?"));
  }
  for (size_t c = 0; c < data_.components.size(); c += dim) {
    const float* u = &data_.components[c];
    double projection = 0;
    for (size_t k = 0; k < dim; ++k) projection += double{u[k]} * v[k];
    for (size_t k = 0; k < dim; ++k) v[k] -= static_cast<float>(projection) * u[k];
  }
  if (!Normalize(v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the text's ", known,
        " known words carry no direction once the corpus's common one is "
        "removed; add words"));
  }
  return absl::OkStatus();
}

void SifModel::Lexical(const absl::flat_hash_map<std::string, int>& counts,
                       std::vector<float>& s) const {
  s.assign(static_cast<size_t>(data_.sparse_dimension), 0.0f);
  for (const auto& [word, count] : counts) {
    auto it = row_of_.find(word);
    const float idf =
        it == row_of_.end() ? data_.unseen_idf : data_.idf[it->second];
    const float weight = (1.0f + std::log(static_cast<float>(count))) * idf;
    AddSignRow(word, weight, s);
  }
  Normalize(s);  // all zero stays all zero
}

absl::StatusOr<std::vector<float>> SifModel::Embed(
    absl::string_view text) const {
  std::vector<float> semantic;
  absl::flat_hash_map<std::string, int> counts;
  if (absl::Status s = Semantic(text, semantic, counts); !s.ok()) return s;
  if (data_.sparse_dimension == 0) return semantic;
  std::vector<float> lexical;
  Lexical(counts, lexical);
  const float a = std::sqrt(1.0f - data_.sparse_weight);
  const float b = std::sqrt(data_.sparse_weight);
  std::vector<float> out;
  out.reserve(semantic.size() + lexical.size());
  for (float x : semantic) out.push_back(a * x);
  for (float x : lexical) out.push_back(b * x);
  return out;
}

}  // namespace related::text
