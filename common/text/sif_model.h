// SifModel: turns an article's text into a unit vector: the SIF ("smooth
// inverse frequency") weighted mean of the text's word vectors, with the
// corpus's common direction removed:
//   v = sum over the text's known words w of  a / (a + p(w)) * vec(w)
//   v = v - sum over components u of (u . v) u,   then v / |v|
// where p(w) is the word's share of the training corpus. Frequent words
// ("the", "said") weigh little, and the component removal takes out what
// every news text shares, so what is left is what this story is about.
// (Fusing a TF-IDF part into the vector was measured and gained nothing:
// docs/text.md.)
// Word vectors come from fastText trained on the site's own articles (see
// sif_training.h); this class only reads a trained model and applies it.
//
// Immutable once built, so Embed may be called from many threads.
#ifndef RELATED_COMMON_TEXT_SIF_MODEL_H_
#define RELATED_COMMON_TEXT_SIF_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace related::text {

// What a model is made of.
struct SifModelData {
  int dimension = 0;
  std::vector<std::string> words;  // the vocabulary, each word once
  std::vector<float> weights;      // per word: a / (a + p(word))
  std::vector<float> vectors;      // words.size() x dimension, row per word
  std::vector<float> components;   // k x dimension unit rows, removed
  // How it was trained, for operators (shown by stats); not used to embed.
  std::string description;
};

class SifModel {
 public:
  // INVALID_ARGUMENT if the parts do not fit together (sizes, a word twice,
  // non-finite values, an empty vocabulary).
  static absl::StatusOr<SifModel> Build(SifModelData data);
  // Reads a model file written by Save. NOT_FOUND if there is none;
  // DATA_LOSS if it is damaged or is not a model file.
  static absl::StatusOr<SifModel> Load(const std::string& path);
  // Writes the model to `path` (through a temporary file and a rename, so a
  // crash leaves either the old file or the new one).
  absl::Status Save(const std::string& path) const;

  // The unit vector of `text`. INVALID_ARGUMENT if the text has no words,
  // or none the model knows (another language or script than it was
  // trained on); the message says which. Never returns a non-finite value.
  absl::StatusOr<std::vector<float>> Embed(absl::string_view text) const;

  int dimension() const { return data_.dimension; }
  size_t vocabulary_size() const { return data_.words.size(); }
  const std::string& description() const { return data_.description; }
  // "sif-" and the first 16 hex digits of the SHA-256 of the model file's
  // bytes: equal identities mean the same vectors for the same text.
  const std::string& identity() const { return identity_; }
  const SifModelData& data() const { return data_; }

 private:
  explicit SifModel(SifModelData data);

  SifModelData data_;
  absl::flat_hash_map<std::string, uint32_t> row_of_;
  std::string identity_;
};

// The file form of a model (what Save writes and the identity hashes).
std::string EncodeSifModel(const SifModelData& data);
absl::StatusOr<SifModelData> DecodeSifModel(absl::string_view bytes);

}  // namespace related::text

#endif  // RELATED_COMMON_TEXT_SIF_MODEL_H_
