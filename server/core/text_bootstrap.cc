#include "server/core/text_bootstrap.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/text/sif_training.h"
#include "server/core/request_limits.h"
#include "server/core/storage/embedder_identity.h"

namespace related {
namespace {

// Sent as text to embed. (An article with neither text nor an embedding
// is refused by the embedding, naming its missing embedding.)
bool TextOnly(const Article& article) {
  return article.embedding.empty() && !article.text.empty();
}

}  // namespace

TextBootstrap::TextBootstrap(const TextBootstrapOptions& options,
                             ArticleIndex& index, HeldTexts& held,
                             TextEmbedding& embedding,
                             std::function<void(std::function<void()>)> post)
    : options_(options),
      index_(index),
      held_(held),
      embedding_(embedding),
      post_(std::move(post)),
      active_(options.train_after > 0 || held.size() > 0),
      next_training_at_(options.train_after) {}

TextBootstrap::~TextBootstrap() { Stop(); }

void TextBootstrap::Stop() {
  std::thread trainer;
  {
    // Waits for a write or an embedding batch that runs; none starts after.
    absl::WriterMutexLock lock(&mu_);
    stopping_.store(true);
    trainer = std::move(trainer_);
  }
  if (!stop_.HasBeenNotified()) stop_.Notify();  // Stop may run twice
  if (trainer.joinable()) trainer.join();
}

void TextBootstrap::Resume() {
  absl::WriterMutexLock lock(&mu_);
  const bool model = embedding_.model() != nullptr;
  active_.store(held_.size() > 0 || (!model && options_.train_after > 0));
  if (held_.size() == 0) return;
  if (model) {
    options_.log(absl::StrCat("embedding ", held_.size(),
                              " held text-only articles with the model"));
    post_([this] { EmbedHeldBatch(); });
  } else if (options_.train_after > 0) {
    MaybeStartTraining();
  } else {
    options_.log(absl::StrCat(
        held_.size(), " text-only articles are held and wait for a text "
                      "model: start with --embedder_train_after=N or "
                      "--embedder_model"));
  }
}

absl::Status TextBootstrap::Upsert(
    std::vector<Article> articles,
    absl::FunctionRef<absl::Status(std::vector<Article>)> write,
    bool importing) {
  if (!active_.load()) {
    if (absl::Status s = embedding_.EmbedArticles(articles); !s.ok()) return s;
    return write(std::move(articles));
  }
  if (embedding_.model() == nullptr && options_.train_after > 0 &&
      std::any_of(articles.begin(), articles.end(), TextOnly)) {
    absl::WriterMutexLock lock(&mu_);
    if (embedding_.model() == nullptr) {
      return Hold(std::move(articles), importing);
    }
  }
  // Writes share the lock (and so one log sync); holds and embedding
  // batches take it alone. So no hold or batch falls between a write and
  // the release of its held versions below.
  absl::ReaderMutexLock lock(&mu_);
  if (absl::Status s = embedding_.EmbedArticles(articles); !s.ok()) return s;
  const std::vector<ArticleId> ids = IdsOf(articles);
  if (absl::Status s = write(std::move(articles)); !s.ok()) return s;
  // Their newer versions are stored: older held ones must not follow.
  if (held_.size() > 0) {
    held_.Erase(ids);
    MaybeDone();
  }
  return absl::OkStatus();
}

void TextBootstrap::MaybeDone() {
  if (held_.size() == 0 && embedding_.model() != nullptr) active_.store(false);
}

absl::Status TextBootstrap::Hold(std::vector<Article> articles,
                                 bool importing) {
  const RequestLimits limits(index_.options());
  if (absl::Status s = limits.CheckHeldArticles(articles); !s.ok()) return s;
  absl::Status s = index_.WriteBeside(
      [&](Journal& journal) { return journal.RecordHold(articles); },
      [&] { held_.Put(articles); });
  if (!s.ok()) return s;
  if (!importing) MaybeStartTraining();
  return absl::OkStatus();
}

void TextBootstrap::ImportEnded() {
  if (!active_.load()) return;
  absl::WriterMutexLock lock(&mu_);
  MaybeStartTraining();
}

void TextBootstrap::MaybeStartTraining() {
  if (state_.load() != State::kTraining && !stopping_.load() &&
      embedding_.model() == nullptr &&
      options_.train_after > 0 && held_.size() >= next_training_at_) {
    StartTraining();
  }
}

absl::StatusOr<int> TextBootstrap::Delete(
    const std::vector<ArticleId>& ids,
    absl::FunctionRef<absl::StatusOr<int>(const std::vector<ArticleId>&)>
        remove) {
  if (!active_.load()) return remove(ids);
  // Checked before anything held is released: a refused delete changes
  // nothing.
  const RequestLimits limits(index_.options());
  if (absl::Status s = limits.CheckIds(ids, "article_ids"); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  std::vector<ArticleId> held;
  int only_held = 0;  // not stored as well, so `remove` does not count them
  for (const ArticleId& id : ids) {
    if (!held_.Contains(id) ||
        std::find(held.begin(), held.end(), id) != held.end()) {
      continue;
    }
    held.push_back(id);
    if (!index_.Get(id).ok()) ++only_held;
  }
  if (!held.empty()) {
    absl::Status s = index_.WriteBeside(
        [&](Journal& journal) { return journal.RecordDelete(held); },
        [&] { held_.Erase(held); });
    if (!s.ok()) return s;
  }
  auto removed = remove(ids);
  if (!removed.ok()) return removed.status();
  MaybeDone();
  return *removed + only_held;
}

absl::Status TextBootstrap::WhyHeld(const ArticleId& id) const {
  if (!active_.load() || !held_.Contains(id)) return absl::OkStatus();
  const std::string article = absl::StrCat("article '", id, "' has only text");
  if (auto refused = held_.RefusedBecause(id)) {
    return absl::FailedPreconditionError(absl::StrCat(
        article, ", which the server's text model cannot embed (", *refused,
        "): send it again with more text or an embedding, or delete it"));
  }
  if (embedding_.model() != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        article, " and is being embedded with the server's first text model "
                 "(just trained); try again in a few seconds"));
  }
  switch (state_.load()) {
    case State::kTraining:
      return absl::FailedPreconditionError(absl::StrCat(
          article, " and waits for the server's first text model, which is "
                   "being trained on the ",
          trained_on_.load(), " text-only articles it holds"));
    case State::kFailed:
    case State::kWaiting:
      break;
  }
  if (options_.train_after == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        article, " and waits for a text model: start the server with "
                 "--embedder_model or --embedder_train_after (docs/text.md)"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      article, " and waits for the server's first text model: it trains one "
               "when it holds ",
      next_training_at_.load(), " text-only articles (it holds ", held_.size(),
      state_.load() == State::kFailed
          ? "; the last training failed, see the server's log"
          : "",
      "), or start it with --embedder_model (docs/text.md)"));
}

void TextBootstrap::StartTraining() {
  state_.store(State::kTraining);
  std::vector<std::string> texts = held_.Texts();
  trained_on_.store(static_cast<int64_t>(texts.size()));
  const int dimension =
      index_.dimension() > 0 ? index_.dimension() : options_.dimension;
  if (trainer_.joinable()) trainer_.join();  // a failed one, finished
  trainer_ = std::thread([this, texts = std::move(texts), dimension] {
    Train(texts, dimension);
  });
}

void TextBootstrap::Train(const std::vector<std::string>& texts,
                          int dimension) {
  options_.log(absl::StrCat("training the first text model (", dimension,
                            " dimensions) on ", texts.size(),
                            " held text-only articles"));
  const absl::Time start = absl::Now();
  text::TrainingOptions training;
  training.dimension = dimension;
  training.threads = options_.threads;
  training.cancelled = [this] { return stopping_.load(); };
  int shown = -1;
  training.progress = [&](const text::TrainingProgress& p) {
    const int percent = static_cast<int>(p.done * 100);
    if (percent / 10 == shown / 10) return;  // a line per 10%
    shown = percent;
    options_.log(absl::StrFormat("training the first text model: %d%%, "
                                 "about %ds left",
                                 percent, p.eta_seconds));
  };
  auto model = text::TrainSifModel(texts, training);
  absl::WriterMutexLock lock(&mu_);
  if (stopping_.load()) return;  // the next start trains again
  absl::Status s = model.ok() ? Adopt(*std::move(model)) : model.status();
  if (!s.ok()) {
    state_.store(State::kFailed);
    // Try again when the corpus has grown by as much again, or, if the
    // index's dimension changed under it, at the next write (training then
    // uses the index's dimension).
    const bool dimension = index_.dimension() != 0 &&
                           s.code() == absl::StatusCode::kFailedPrecondition;
    next_training_at_.store(held_.size() + (dimension ? 0 : options_.train_after));
    options_.log(absl::StrCat("training the first text model failed: ",
                              s.message(), "; trying again at ",
                              next_training_at_.load(), " held articles"));
    return;
  }
  state_.store(State::kWaiting);  // no training runs; the model is in use
  options_.log(absl::StrCat(
      "first text model ", embedding_.model()->identity(), " trained in ",
      absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Seconds(1))),
      " (", embedding_.model()->description(), "); embedding ", held_.size(),
      " held articles; the near-duplicate default for this model (0.98) "
      "applies from the next start, unless --ranking_duplicate_threshold "
      "is set"));
  post_([this] { EmbedHeldBatch(); });
}

absl::Status TextBootstrap::Adopt(text::SifModel model) {
  // Vectors sent with embeddings while it trained may have fixed another
  // dimension: such a model could embed nothing here.
  if (index_.dimension() != 0 && index_.dimension() != model.dimension()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the index holds ", index_.dimension(),
        "-dimensional vectors sent with embeddings, and the model has ",
        model.dimension()));
  }
  if (const int64_t stored = index_.Stats().article_count; stored > 0) {
    options_.log(absl::StrCat(
        "warning: ", stored,
        " stored articles came with embeddings of the caller's model, which "
        "cannot be compared with this text model's vectors (docs/text.md)"));
  }
  if (!options_.model_path.empty()) {
    // Saved (and synced) before anything is embedded with it: the vectors
    // in the log are useless without it.
    if (absl::Status s = model.Save(options_.model_path); !s.ok()) return s;
  }
  if (!options_.data_dir.empty()) {
    if (absl::Status s = storage::CheckEmbedderIdentity(options_.data_dir,
                                                        model.identity());
        !s.ok()) {
      return s;
    }
  }
  embedding_.SetModel(MakeSifEmbedder(std::move(model)));
  return absl::OkStatus();
}

void TextBootstrap::EmbedHeldBatch() {
  absl::WriterMutexLock lock(&mu_);
  if (stopping_.load()) return;
  const std::shared_ptr<const Embedder> model = embedding_.model();
  std::vector<Article> batch = held_.Embeddable(
      static_cast<size_t>(std::max(1, index_.options().max_batch_size)));
  if (batch.empty()) {
    MaybeDone();
    if (held_.size() == 0) {
      options_.log("every held text-only article is embedded and served");
    } else {
      options_.log(absl::StrCat(
          held_.size(), " held articles stay held: the text model knows none "
                        "of their words (lookups say so; send them again with "
                        "more text, or delete them)"));
    }
    return;
  }
  std::vector<Article> embedded;
  for (Article& article : batch) {
    auto vector = model->Embed(EmbeddingText(article));
    if (!vector.ok()) {
      held_.Refused(article.id, std::string(vector.status().message()));
      continue;
    }
    article.embedding = *std::move(vector);
    embedded.push_back(std::move(article));
  }
  if (!embedded.empty()) {
    const std::vector<ArticleId> ids = IdsOf(embedded);
    if (absl::Status s = index_.Upsert(std::move(embedded)); !s.ok()) {
      // They stay held (and in the log); try again later (a full disk may
      // be freed), waiting longer each time.
      retry_delay_ = std::min(absl::Seconds(60),
                              std::max(absl::Seconds(1), retry_delay_ * 2));
      options_.log(absl::StrCat("embedding held articles failed: ",
                                s.message(), "; they stay held, trying again in ",
                                absl::FormatDuration(retry_delay_)));
      post_([this, delay = retry_delay_] {
        if (!stop_.WaitForNotificationWithTimeout(delay)) EmbedHeldBatch();
      });
      return;
    }
    retry_delay_ = absl::ZeroDuration();
    held_.Erase(ids);
  }
  post_([this] { EmbedHeldBatch(); });
}

}  // namespace related
