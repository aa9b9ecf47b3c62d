#include "server/core/held_texts.h"

#include <algorithm>
#include <utility>

#include "server/core/text_embedding.h"

namespace related {

void HeldTexts::Put(std::vector<Article> articles) {
  absl::MutexLock lock(&mu_);
  for (Article& article : articles) {
    ArticleId id = article.id;
    held_.insert_or_assign(std::move(id), Held{std::move(article), ""});
  }
}

int HeldTexts::Erase(const std::vector<ArticleId>& ids) {
  absl::MutexLock lock(&mu_);
  int erased = 0;
  for (const ArticleId& id : ids) erased += static_cast<int>(held_.erase(id));
  return erased;
}

bool HeldTexts::Contains(const ArticleId& id) const {
  absl::MutexLock lock(&mu_);
  return held_.contains(id);
}

int64_t HeldTexts::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(held_.size());
}

std::vector<Article> HeldTexts::Embeddable(size_t max) const {
  absl::MutexLock lock(&mu_);
  std::vector<Article> out;
  for (const auto& [id, held] : held_) {
    if (out.size() >= max) break;
    if (held.refused.empty()) out.push_back(held.article);
  }
  return out;
}

void HeldTexts::Refused(const ArticleId& id, std::string reason) {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(id);
  if (it == held_.end()) return;
  it->second.refused = reason.empty() ? "refused" : std::move(reason);
}

std::optional<std::string> HeldTexts::RefusedBecause(const ArticleId& id) const {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(id);
  if (it == held_.end() || it->second.refused.empty()) return std::nullopt;
  return it->second.refused;
}

std::vector<std::string> HeldTexts::Texts() const {
  absl::MutexLock lock(&mu_);
  // In ID order, not the map's (which varies from run to run): the same
  // held articles give the same corpus to train on.
  std::vector<const Held*> in_order;
  in_order.reserve(held_.size());
  for (const auto& [id, held] : held_) in_order.push_back(&held);
  std::sort(in_order.begin(), in_order.end(), [](const Held* a, const Held* b) {
    return a->article.id < b->article.id;
  });
  std::vector<std::string> texts;
  texts.reserve(in_order.size());
  for (const Held* held : in_order) texts.push_back(EmbeddingText(held->article));
  return texts;
}

}  // namespace related
