// HeldTexts: the text-only articles a server without an embedder model has
// accepted, waiting for its first model (server/core/text_bootstrap.h).
// They live here and in the write-ahead log only, never in the index, so
// a lookup does not find them until they are embedded. Thread-safe.
#ifndef RELATED_SERVER_CORE_HELD_TEXTS_H_
#define RELATED_SERVER_CORE_HELD_TEXTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/core/article.h"

namespace related {

class HeldTexts {
 public:
  // Holds `articles` (a newer version replaces a held one).
  void Put(std::vector<Article> articles);
  // Stops holding `ids`; returns how many of them were held.
  int Erase(const std::vector<ArticleId>& ids);

  bool Contains(const ArticleId& id) const;
  int64_t size() const;

  // Up to `max` held articles that the model has not yet refused.
  std::vector<Article> Embeddable(size_t max) const;
  // A held article the model could not embed, and why: it stays held (it
  // was acknowledged) until it is sent again or deleted.
  void Refused(const ArticleId& id, std::string reason);
  // Why the model could not embed `id`; nullopt if it is not refused.
  std::optional<std::string> RefusedBecause(const ArticleId& id) const;

  // The text of every held article (its title and text), to train on, in
  // ID order.
  std::vector<std::string> Texts() const;

 private:
  struct Held {
    Article article;
    std::string refused;  // empty: not refused
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<ArticleId, Held> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_HELD_TEXTS_H_
