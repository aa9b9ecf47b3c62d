// Shared plumbing for the FAISS-backed indexes: the slot filter FAISS calls
// during search, and the guard that turns FAISS exceptions into statuses.
#ifndef RELATED_SERVER_CORE_FAISS_SEARCH_H_
#define RELATED_SERVER_CORE_FAISS_SEARCH_H_

#include <faiss/impl/IDSelector.h>

#include <exception>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/core/vector_index.h"

namespace related {

// Adapts a SlotFilter, plus the slots an index has removed (tombstones), to
// FAISS's IDSelector, which FAISS consults during the search.
class SlotSelector : public faiss::IDSelector {
 public:
  SlotSelector(SlotFilter admit, const std::vector<bool>* removed)
      : admit_(admit), removed_(removed) {}

  bool is_member(faiss::Index::idx_t id) const override {
    if (removed_ != nullptr && (*removed_)[id]) return false;
    return admit_(id);
  }

 private:
  SlotFilter admit_;
  const std::vector<bool>* removed_;
};

// Runs `fn`, converting any exception FAISS throws into INTERNAL: an
// exception must not take the server down.
template <typename Fn>
auto CallFaiss(absl::string_view what, Fn&& fn)
    -> absl::StatusOr<decltype(fn())> {
  try {
    return std::forward<Fn>(fn)();
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("FAISS ", what, " failed: ", e.what()));
  }
}

// Calls FAISS's single-query search and converts its output arrays.
template <typename SearchFn>
absl::StatusOr<std::vector<Neighbor>> CollectNeighbors(int k,
                                                       SearchFn&& search) {
  std::vector<float> scores(k);
  std::vector<faiss::Index::idx_t> slots(k);
  auto done = CallFaiss("search", [&] {
    search(scores.data(), slots.data());
    return true;
  });
  if (!done.ok()) return done.status();
  std::vector<Neighbor> out;
  out.reserve(k);
  for (int i = 0; i < k; ++i) {
    if (slots[i] < 0) break;  // FAISS pads with -1 when it found fewer
    out.push_back({slots[i], scores[i]});
  }
  return out;
}

// FAISS parallelises a single search with OpenMP, which only adds thread
// start-up cost to one query; each search runs on its caller's thread
// alone. Call before each search (the setting lasts for the current
// OpenMP task).
void UseOneOpenMpThread();

}  // namespace related

#endif  // RELATED_SERVER_CORE_FAISS_SEARCH_H_
