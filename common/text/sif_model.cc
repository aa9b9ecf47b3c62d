#include "common/text/sif_model.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
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
// count, description (u32 length + bytes), per word u32 length + bytes,
// weights, vectors, components (f32 each), then a CRC-32 of all before.
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
  if (!AllFinite(d.weights) || !AllFinite(d.vectors) ||
      !AllFinite(d.components)) {
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
  PutU32(out, static_cast<uint32_t>(d.description.size()));
  out.append(d.description);
  for (const std::string& w : d.words) {
    PutU32(out, static_cast<uint32_t>(w.size()));
    out.append(w);
  }
  PutFloats(out, d.weights);
  PutFloats(out, d.vectors);
  PutFloats(out, d.components);
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
  uint32_t dim = 0, words = 0, components = 0;
  if (!in.U32(dim) || !in.U32(words) || !in.U32(components) ||
      dim == 0 || dim > kMaxDimension || words > kMaxWords ||
      components > kMaxComponents || !in.Bytes(d.description)) {
    return damaged("header out of range");
  }
  d.dimension = static_cast<int>(dim);
  d.words.resize(words);
  for (std::string& w : d.words) {
    if (!in.Bytes(w)) return damaged("truncated vocabulary");
  }
  if (!in.Floats(d.weights, words) ||
      !in.Floats(d.vectors, size_t{words} * dim) ||
      !in.Floats(d.components, size_t{components} * dim) ||
      in.remaining() != 0) {
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

namespace {

// Writes all of `bytes` to `fd` and syncs it.
bool WriteAndSync(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return ::fsync(fd) == 0;
}

// Syncs the directory holding `path`, so that a rename into it survives a
// machine crash.
void SyncParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

absl::Status SifModel::Save(const std::string& path) const {
  // Synced before the rename: a server embeds with the model only once it
  // is saved, and the vectors it logs are useless without it.
  const std::string tmp = path + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  const bool written = WriteAndSync(fd, EncodeSifModel(data_));
  if (::close(fd) != 0 || !written) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ",
                                               path));
  }
  SyncParentDir(path);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> SifModel::Embed(
    absl::string_view text) const {
  const size_t dim = static_cast<size_t>(data_.dimension);
  std::vector<float> v(dim, 0.0f);
  size_t words = 0, known = 0;
  ForEachWord(text, [&](absl::string_view word) {
    ++words;
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
  return v;
}

}  // namespace related::text
