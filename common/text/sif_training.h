// Trains a SifModel on a site's own articles: fastText (Debian's
// libfasttext, the reference implementation) learns word vectors from the
// texts, then the SIF weights and the common direction are computed from
// the same texts. No pretrained model is needed or can be downloaded, and a
// newsroom's vocabulary is its own.
#ifndef RELATED_COMMON_TEXT_SIF_TRAINING_H_
#define RELATED_COMMON_TEXT_SIF_TRAINING_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/text/sif_model.h"

namespace related::text {

struct TrainingProgress {
  float done = 0;  // share of fastText's passes done, 0..1
  int64_t eta_seconds = 0;
};

struct TrainingOptions {
  int dimension = 100;
  // Passes over the corpus; 0 picks by corpus size (see EpochsFor), so
  // that a small site gets enough passes and a large one still trains in
  // minutes.
  int epochs = 0;
  // Words seen fewer times are not learned (their vectors would be noise).
  int min_count = 2;
  int threads = 2;
  // SIF's smoothing: a word of corpus share p weighs a / (a + p).
  float sif_a = 1e-3f;
  // Common directions removed (SIF removes the first principal one).
  int components = 1;
  // Called about once a second while fastText trains.
  std::function<void(const TrainingProgress&)> progress;
  // Polled as fastText trains; true stops it (CANCELLED), e.g. at shutdown.
  std::function<bool()> cancelled;
  // Where the tokenized corpus is written for fastText (it reads a file).
  std::string scratch_dir = "/tmp";
};

// Passes over a corpus of `tokens` words: as many as make about 3M words
// processed, within [2, 40]. Small corpora need many passes to learn from,
// large ones few (and must still train in minutes: 2 passes over 100k
// articles of 2 KB is about 70M words). Measured in docs/text.md: on AG
// News (276k words) and on half of it the best pass counts were 10 and 20,
// both about 3M words processed.
int EpochsFor(int64_t tokens);

// Trains on `texts`. INVALID_ARGUMENT if they hold too few words to learn
// from (fewer than 2 texts with words, or no word seen min_count times).
absl::StatusOr<SifModel> TrainSifModel(absl::Span<const std::string> texts,
                                       const TrainingOptions& options);

}  // namespace related::text

#endif  // RELATED_COMMON_TEXT_SIF_TRAINING_H_
