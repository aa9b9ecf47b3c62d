// BoxSource: what a precomputed box was read from, so that a later reader
// can tell, without reading the box again, whether it would read the same.
//
// A default box shows the article's stored box (its list's version), the
// article's own card (the same-language rule reads its language) and the
// card each boxed article shows. Every change of a list's box bumps the
// list's version (RelatedLists::Version) and every change of which card a
// slot holds bumps the slot's card version (ArticleTable::VersionAt); parts
// replaced whole (a restore, a compaction, a card layout) start a new
// epoch. So while the epoch and every version named here are unchanged, the
// box reads the same bytes. (The server's BoxCache uses it to keep its
// entries across writes that do not touch them.)
#ifndef RELATED_SERVER_CORE_BOX_SOURCE_H_
#define RELATED_SERVER_CORE_BOX_SOURCE_H_

#include <cstdint>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "server/core/related_lists.h"

namespace related {

struct BoxSource {
  // False unless the box came from the article's precomputed list: a box
  // searched for depends on more than these versions.
  bool precomputed = false;
  uint64_t epoch = 0;
  uint32_t slot = 0;  // the article's
  uint32_t list_version = 0;
  uint32_t card_version = 0;
  // Each boxed article's slot and card version, in box order.
  absl::InlinedVector<std::pair<uint32_t, uint32_t>, kInlineBoxSize> shown;
};

}  // namespace related

#endif  // RELATED_SERVER_CORE_BOX_SOURCE_H_
