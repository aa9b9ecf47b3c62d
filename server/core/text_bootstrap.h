// TextBootstrap: text in with zero configuration. A server started with no
// embedder model accepts text-only articles all the same: it holds them
// (journaled, so none is lost; see HeldTexts) until it holds
// `train_after` of them, then trains its first model on their texts in
// the background, as `related-cli train` would, saves it in the data
// directory (where later starts find it) and embeds every held article
// through the normal write path. Until then a lookup of a held article
// fails with FAILED_PRECONDITION saying what it waits for, while articles
// sent with embeddings are served all along.
//
// Every write of the service comes through here (Upsert, Delete): with a
// model and nothing held, a write is embedded and passed on. While the
// bootstrap is active (no model yet, or articles still held), writes run
// one at a time, so that a write, a hold and an embedding batch never
// interleave: an older held version never overwrites a newer write.
// Re-training later is the operator's decision (docs/text.md).
#ifndef RELATED_SERVER_CORE_TEXT_BOOTSTRAP_H_
#define RELATED_SERVER_CORE_TEXT_BOOTSTRAP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/text/sif_model.h"
#include "server/core/article_index.h"
#include "server/core/held_texts.h"
#include "server/core/text_embedding.h"

namespace related {

struct TextBootstrapOptions {
  // Held text-only articles that start the first training; 0: none is
  // held (text then needs --embedder_model, as in replicated mode).
  int64_t train_after = 1000;
  // Where the trained model is saved (empty: kept in memory only).
  std::string model_path;
  // Where its identity is recorded (storage/embedder_identity.h); empty:
  // nowhere.
  std::string data_dir;
  // The model's dimension when the index has none yet.
  int dimension = 100;
  int threads = 2;
  // Progress and outcome lines.
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

class TextBootstrap {
 public:
  // `post` runs a task on the writers' threads (the embedding batches).
  TextBootstrap(const TextBootstrapOptions& options, ArticleIndex& index,
                HeldTexts& held, TextEmbedding& embedding,
                std::function<void(std::function<void()>)> post);
  ~TextBootstrap();  // Stop()

  // Stops a training that runs (it starts again after a restart: the held
  // articles are in the log) and waits for an embedding batch that runs;
  // no write is made after it returns. Before the store closes.
  void Stop();

  // After recovery: embeds what is held if there is a model (a restart
  // after training, or a model given by the operator), or trains if enough
  // is held.
  void Resume();

  // An upsert: text-only articles are held if there is no model yet (the
  // batch must then be text-only), or embedded; then `write` applies the
  // batch (the index, or an import stream). A batch of an import stream
  // (`importing`) does not start the training: the stream's end does
  // (ImportEnded), so that the first model learns from the whole import.
  absl::Status Upsert(std::vector<Article> articles,
                      absl::FunctionRef<absl::Status(std::vector<Article>)> write,
                      bool importing = false);
  // An import stream ended: trains if enough is held.
  void ImportEnded();
  // A delete: held articles are released (journaled), then `remove`
  // deletes the stored ones. Returns how many articles were deleted.
  absl::StatusOr<int> Delete(
      const std::vector<ArticleId>& ids,
      absl::FunctionRef<absl::StatusOr<int>(const std::vector<ArticleId>&)>
          remove);

  // Why `id` cannot be looked up yet (FAILED_PRECONDITION), or OK if it is
  // not held.
  absl::Status WhyHeld(const ArticleId& id) const;
  int64_t held() const { return held_.size(); }
  int64_t train_after() const { return options_.train_after; }

 private:
  enum class State { kWaiting, kTraining, kFailed };

  absl::Status Hold(std::vector<Article> articles, bool importing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the training if enough is held and none runs.
  void MaybeStartTraining() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartTraining() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The training thread: trains, then adopts the model.
  void Train(const std::vector<std::string>& texts, int dimension);
  // Saves a trained model, records its identity and embeds with it from
  // now on; refuses one of another dimension than the index's.
  absl::Status Adopt(text::SifModel model) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One batch of held articles through the write path; posts the next.
  void EmbedHeldBatch();
  // Inactive once there is a model and nothing is held.
  void MaybeDone();

  const TextBootstrapOptions options_;
  ArticleIndex& index_;
  HeldTexts& held_;
  TextEmbedding& embedding_;
  const std::function<void(std::function<void()>)> post_;

  // False once there is a model and nothing is held: writes then run
  // concurrently again.
  std::atomic<bool> active_;
  // Held articles that start the next training.
  std::atomic<int64_t> next_training_at_;
  // Whether a training runs (kTraining, from its start until it fails or
  // its model is adopted); also read by lookups of held articles (WhyHeld),
  // which do not wait for mu_.
  std::atomic<State> state_{State::kWaiting};
  std::atomic<int64_t> trained_on_{0};
  // Writes share it; holds, embedding batches and the model's adoption
  // take it alone.
  absl::Mutex mu_;
  std::thread trainer_ ABSL_GUARDED_BY(mu_);
  absl::Duration retry_delay_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stopping_{false};
  absl::Notification stop_;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_TEXT_BOOTSTRAP_H_
