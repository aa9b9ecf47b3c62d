// The two FAISS-backed VectorIndex implementations.
#include "server/core/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/HNSW.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "server/core/faiss_search.h"

namespace related {

void UseOneOpenMpThread() {
  // OpenMP keeps this setting per task, not per thread: one made inside a
  // parallel region (a write's neighbour searches) ends with that region.
  // So it is checked on every call (a thread-local read), not set once per
  // thread. Set once, a search inside a one-thread region went on to open
  // a region of its own and start a new thread for it, every time.
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

absl::string_view IndexKindName(IndexKind kind) {
  return kind == IndexKind::kExact ? "exact" : "hnsw";
}

std::optional<IndexKind> ParseIndexKind(absl::string_view name) {
  if (name == "exact") return IndexKind::kExact;
  if (name == "hnsw") return IndexKind::kHnsw;
  return std::nullopt;
}

void KeepNearest(std::vector<Neighbor>& neighbors, size_t k, bool keep_rest) {
  const auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.score != b.score ? a.score > b.score : a.slot < b.slot;
  };
  const size_t keep = std::min(neighbors.size(), k);
  // Select, then order the few kept: linear in the many an insert compares
  // (a partial sort's heap costs a log factor on every one of them).
  std::nth_element(neighbors.begin(), neighbors.begin() + keep, neighbors.end(),
                   better);
  std::sort(neighbors.begin(), neighbors.begin() + keep, better);
  if (!keep_rest) neighbors.resize(keep);
}

namespace {

// Appends `count` vectors to `index`; FAISS gives them the next positions.
absl::StatusOr<std::vector<Slot>> AppendVectors(faiss::Index& index,
                                                const float* vectors,
                                                int64_t count, int threads) {
  const Slot first = index.ntotal;
  auto added = CallFaiss("add", [&] {
    // OpenMP's thread count is per thread: widen it for this call only, as
    // the same thread may serve single-query searches next.
    const int before = omp_get_max_threads();
    omp_set_num_threads(std::max(threads, 1));
    index.add(count, vectors);
    omp_set_num_threads(before);
    return true;
  });
  if (!added.ok()) return added.status();
  std::vector<Slot> slots(count);
  for (int64_t i = 0; i < count; ++i) slots[i] = first + i;
  return slots;
}

// Exact search of `index` (a flat one) for the slots `admit` accepts.
absl::StatusOr<std::vector<Neighbor>> SearchFlat(
    const faiss::Index& index, const float* query, int k, SlotFilter admit,
    const std::vector<bool>* removed) {
  UseOneOpenMpThread();
  SlotSelector selector(admit, removed);
  faiss::SearchParameters params;
  params.sel = &selector;
  return CollectNeighbors(k, [&](float* scores, faiss::Index::idx_t* slots) {
    index.search(1, query, k, scores, slots, &params);
  });
}

// Room reserved past what a snapshot held, for the writes after a restart
// (see StateReader::Array).
constexpr double kLoadedRoom = 0.5;

// A flat index's vectors: how many, then their floats in slot order.
void SaveFlatVectors(const faiss::IndexFlatCodes& index, StateWriter& out) {
  out.Value<int64_t>(index.ntotal);
  out.Array(index.codes);
}

absl::Status LoadFlatVectors(StateReader& in, faiss::IndexFlatCodes& index) {
  const int64_t count = in.Value<int64_t>();
  std::vector<uint8_t> codes;
  in.Array(codes, kLoadedRoom);
  // Compared by division: the product of a corrupt count could wrap.
  const size_t code_size = static_cast<size_t>(index.code_size);
  if (in.status().ok() &&
      (count < 0 || codes.size() % code_size != 0 ||
       static_cast<uint64_t>(count) != codes.size() / code_size)) {
    in.Fail("the vectors do not have the index's dimension");
  }
  if (!in.status().ok()) return in.status();
  index.codes = std::move(codes);
  index.ntotal = count;
  return absl::OkStatus();
}

// Exact search over all vectors. Removal moves the last vector into the
// hole, so storage stays dense and every search scans live vectors only.
class FlatVectorIndex : public VectorIndex {
 public:
  explicit FlatVectorIndex(int dimension) : index_(dimension) {}

  IndexKind Kind() const override { return IndexKind::kExact; }
  int Dimension() const override { return index_.d; }
  int64_t LiveCount() const override { return index_.ntotal; }
  int64_t MemoryBytes() const override {
    return static_cast<int64_t>(index_.codes.capacity());
  }

  absl::StatusOr<std::vector<Slot>> Add(const float* vectors, int64_t count,
                                        int threads, MetNeighbors*) override {
    return AppendVectors(index_, vectors, count, threads);
  }

  std::optional<SlotMove> Remove(Slot slot) override {
    const Slot last = index_.ntotal - 1;
    const size_t bytes = index_.code_size;
    if (slot != last) {
      std::memcpy(&index_.codes[slot * bytes], &index_.codes[last * bytes],
                  bytes);
    }
    index_.codes.resize(last * bytes);
    index_.ntotal = last;
    if (slot == last) return std::nullopt;
    return SlotMove{last, slot};
  }

  void Vector(Slot slot, float* out) const override {
    std::memcpy(out, StoredVector(slot), sizeof(float) * index_.d);
  }

  const float* StoredVector(Slot slot) const override {
    return index_.get_xb() + slot * index_.d;
  }

  bool MovesSlots() const override { return true; }

  absl::StatusOr<std::vector<Neighbor>> Search(
      const float* query, int k, SlotFilter admit) const override {
    return SearchFlat(index_, query, k, admit, nullptr);
  }

  absl::StatusOr<std::vector<Neighbor>> SearchExhaustive(
      const float* query, int k, SlotFilter admit) const override {
    return SearchFlat(index_, query, k, admit, nullptr);
  }

  int64_t SlotCount() const override { return index_.ntotal; }
  void SaveVectors(StateWriter& out) const override {
    SaveFlatVectors(index_, out);
  }
  void SaveGraph(StateWriter&) const override {}
  absl::Status LoadVectors(StateReader& in) override {
    return LoadFlatVectors(in, index_);
  }
  absl::Status LoadGraph(StateReader&) override { return absl::OkStatus(); }
  absl::Status BuildGraph(int) override { return absl::OkStatus(); }

 private:
  faiss::IndexFlatIP index_;
};

// HNSW keeps the smallest distances; for inner product (higher = closer)
// it walks the graph with the negated score, as FAISS's own add does.
class NegatedInnerProduct final : public faiss::DistanceComputer {
 public:
  explicit NegatedInnerProduct(const faiss::Index& storage)
      : inner_(storage.get_distance_computer()) {}
  // Every slot the query is compared with from now on is appended to
  // `seen`, with its similarity (nullptr: none).
  void RecordInto(std::vector<Neighbor>* seen) { seen_ = seen; }
  void set_query(const float* x) override { inner_->set_query(x); }
  float operator()(idx_t i) override {
    const float similarity = (*inner_)(i);
    if (seen_ != nullptr) seen_->push_back({i, similarity});
    return -similarity;
  }
  // Between two stored vectors (HNSW's pruning of links), not the query.
  float symmetric_dis(idx_t i, idx_t j) override {
    return -inner_->symmetric_dis(i, j);
  }

 private:
  std::unique_ptr<faiss::DistanceComputer> inner_;
  std::vector<Neighbor>* seen_ = nullptr;
};

// The `k` most similar of `seen` (which may name a slot twice: the descent
// through the upper levels and the bottom level each compare), without
// `self` and removed slots; best first, ties to the lower slot.
std::vector<Neighbor> NearestSeen(std::vector<Neighbor>& seen, Slot self, int k,
                                  const std::vector<bool>& removed) {
  seen.erase(std::remove_if(seen.begin(), seen.end(),
                            [&](const Neighbor& n) {
                              return n.slot == self || removed[n.slot];
                            }),
             seen.end());
  // An insert compares thousands of slots: order only the best 2k, where
  // the k distinct ones almost always are (a slot is seen twice at most a
  // few times per insert), instead of sorting all of them; only when copies
  // leave fewer than k among them are all ordered.
  const size_t wanted = static_cast<size_t>(k);
  std::vector<Neighbor> nearest;
  nearest.reserve(wanted);
  for (size_t take = std::min(seen.size(), 2 * wanted);; take = seen.size()) {
    KeepNearest(seen, take, /*keep_rest=*/true);
    nearest.clear();
    for (size_t i = 0; i < take && nearest.size() < wanted; ++i) {
      const bool again = std::any_of(
          nearest.begin(), nearest.end(),
          [&](const Neighbor& n) { return n.slot == seen[i].slot; });
      if (!again) nearest.push_back(seen[i]);
    }
    if (nearest.size() == wanted || take == seen.size()) return nearest;
  }
}

// A per-thread table of visited graph nodes, at least `size` long, kept
// across inserts (FAISS's add allocates and clears one as large as the
// index on every call). Reusable by any graph: advance() clears it lazily.
faiss::VisitedTable& ThreadVisitedTable(int64_t size) {
  thread_local std::unique_ptr<faiss::VisitedTable> table;
  if (table == nullptr || static_cast<int64_t>(table->visited.size()) < size) {
    const int64_t grown =
        std::max<int64_t>(size, table ? 2 * table->visited.size() : 1024);
    table = std::make_unique<faiss::VisitedTable>(static_cast<int>(grown));
  }
  return *table;
}

// Approximate search on an HNSW graph. HNSW cannot delete a node, so removed
// slots stay in the graph (they still help navigation) and are filtered out
// of results by the selector.
// When they pile up, a compaction (compaction.cc) builds the index again.
class HnswVectorIndex : public VectorIndex {
 public:
  HnswVectorIndex(int dimension, const HnswOptions& options)
      : index_(dimension, options.m, faiss::METRIC_INNER_PRODUCT),
        m_(options.m),
        ef_search_(options.ef_search) {
    index_.hnsw.efConstruction = options.ef_construction;
    index_.hnsw.efSearch = options.ef_search;
  }

  IndexKind Kind() const override { return IndexKind::kHnsw; }
  int Dimension() const override { return index_.d; }
  int64_t LiveCount() const override { return index_.ntotal - removed_count_; }
  int64_t MemoryBytes() const override {
    const auto& h = index_.hnsw;
    const auto* storage =
        dynamic_cast<const faiss::IndexFlatCodes*>(index_.storage);
    return static_cast<int64_t>(
        (storage ? storage->codes.capacity() : 0) +
        h.neighbors.capacity() * sizeof(h.neighbors[0]) +
        h.offsets.capacity() * sizeof(h.offsets[0]) +
        h.levels.capacity() * sizeof(h.levels[0]) + removed_.capacity() / 8);
  }

  ~HnswVectorIndex() override {
    for (omp_lock_t& lock : locks_) omp_destroy_lock(&lock);
  }

  absl::StatusOr<std::vector<Slot>> Add(const float* vectors, int64_t count,
                                        int threads,
                                        MetNeighbors* met) override {
    const Slot first = index_.ntotal;
    auto added = CallFaiss("add", [&] {
      Insert(vectors, count, std::max(threads, 1), met);
      return true;
    });
    if (!added.ok()) return added.status();
    std::vector<Slot> slots(count);
    for (int64_t i = 0; i < count; ++i) slots[i] = first + i;
    return slots;
  }

  std::optional<SlotMove> Remove(Slot slot) override {
    if (!removed_[slot]) {
      removed_[slot] = true;
      ++removed_count_;
    }
    return std::nullopt;
  }

  void Vector(Slot slot, float* out) const override {
    std::memcpy(out, StoredVector(slot), sizeof(float) * index_.d);
  }

  // IndexHNSWFlat keeps its vectors in an IndexFlat, in slot order.
  const float* StoredVector(Slot slot) const override {
    return static_cast<const faiss::IndexFlat*>(index_.storage)->get_xb() +
           slot * index_.d;
  }

  bool MovesSlots() const override { return false; }

  absl::StatusOr<std::vector<Neighbor>> Search(
      const float* query, int k, SlotFilter admit) const override {
    UseOneOpenMpThread();
    SlotSelector selector(admit, &removed_);
    faiss::SearchParametersHNSW params;
    params.sel = &selector;
    // The candidate queue must hold at least k entries to return k results.
    params.efSearch = std::max(ef_search_, k);
    return CollectNeighbors(k, [&](float* scores, faiss::Index::idx_t* slots) {
      index_.search(1, query, k, scores, slots, &params);
    });
  }

  // The graph's vectors are also kept flat, in slot order: scan them.
  absl::StatusOr<std::vector<Neighbor>> SearchExhaustive(
      const float* query, int k, SlotFilter admit) const override {
    return SearchFlat(*index_.storage, query, k, admit, &removed_);
  }

  int64_t SlotCount() const override { return index_.ntotal; }

  void SaveVectors(StateWriter& out) const override {
    SaveFlatVectors(Storage(), out);
  }

  absl::Status LoadVectors(StateReader& in) override {
    if (absl::Status s = LoadFlatVectors(in, Storage()); !s.ok()) return s;
    index_.ntotal = Storage().ntotal;
    removed_.assign(index_.ntotal, false);
    removed_count_ = 0;
    GrowLocks();
    return absl::OkStatus();
  }

  void SaveGraph(StateWriter& out) const override {
    const faiss::HNSW& hnsw = index_.hnsw;
    out.Value<int32_t>(m_);
    out.Array(hnsw.levels);
    out.Array(hnsw.offsets);
    out.Array(hnsw.neighbors);
    out.Value<int32_t>(hnsw.entry_point);
    out.Value<int32_t>(hnsw.max_level);
  }

  absl::Status LoadGraph(StateReader& in) override;

  absl::Status BuildGraph(int threads) override {
    return CallFaiss("graph build",
                     [&] {
                       faiss::HNSW& hnsw = index_.hnsw;
                       hnsw.levels.clear();
                       hnsw.offsets.assign(1, 0);
                       hnsw.neighbors.clear();
                       hnsw.entry_point = -1;
                       hnsw.max_level = -1;
                       Link(0, std::max(threads, 1));
                       return true;
                     })
        .status();
  }

 private:
  // IndexHNSW::add, without its per-call costs. FAISS 1.7.3 creates and
  // initialises one lock per vector of the whole index and a visited table
  // as large as the index on every add, and inserts a level's vectors on
  // one thread when there are fewer than 100 of them. With the chunks of 32
  // the write path adds, that made inserts serial, and at a million
  // articles each chunk spent more time on a million locks than on its 32
  // inserts. Here the locks live as long as the index and grow with it,
  // the visited tables are per thread, and every chunk is parallel. The
  // graph logic itself is FAISS's (HNSW::add_with_locks), in its order:
  // highest level first, so upper levels exist before the nodes below.
  void Insert(const float* x, int64_t n, int threads, MetNeighbors* met) {
    const int64_t n0 = index_.ntotal;
    index_.storage->add(n, x);
    index_.ntotal = index_.storage->ntotal;
    // Slots are removed only after their replacements are added: until
    // then, the new ones are live and the others are what removed_ says.
    removed_.resize(index_.ntotal, false);
    if (met != nullptr) met->lists.assign(n, {});
    Link(n0, threads, met);
  }

  // Places the slots from `n0` on, already in the storage, in the graph;
  // with `met`, keeps what each one's placement compared it with.
  void Link(int64_t n0, int threads, MetNeighbors* met = nullptr) {
    faiss::HNSW& hnsw = index_.hnsw;
    hnsw.prepare_level_tab(index_.ntotal - n0, /*preset_levels=*/false);
    GrowLocks();

    std::vector<std::vector<int>> by_level;
    for (int64_t id = n0; id < index_.ntotal; ++id) {
      const size_t level = hnsw.levels[id] - 1;
      if (by_level.size() <= level) by_level.resize(level + 1);
      by_level[level].push_back(static_cast<int>(id));
    }
    const int64_t total = index_.ntotal;
    for (int level = static_cast<int>(by_level.size()) - 1; level >= 0;
         --level) {
      const std::vector<int>& ids = by_level[level];
      // A level above the graph's top, or an empty graph, changes the entry
      // point: those go one at a time.
      const bool parallel =
          ids.size() > 1 && hnsw.entry_point >= 0 && level <= hnsw.max_level;
#pragma omp parallel num_threads(parallel ? threads : 1)
      {
        NegatedInnerProduct distance(*index_.storage);
        faiss::VisitedTable& visited = ThreadVisitedTable(total);
        std::vector<Neighbor> seen;
        if (met != nullptr) distance.RecordInto(&seen);
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < ids.size(); ++i) {
          distance.set_query(StoredVector(ids[i]));
          hnsw.add_with_locks(distance, level, ids[i], locks_, visited);
          if (met == nullptr) continue;
          // Vectors of this Add placed at the same time on other threads
          // may not have met: they are compared exactly.
          const float* vector = StoredVector(ids[i]);
          for (Slot other = n0; other < total; ++other) {
            seen.push_back({other, faiss::fvec_inner_product(
                                       vector, StoredVector(other), index_.d)});
          }
          met->lists[ids[i] - n0] = NearestSeen(seen, ids[i], met->k, removed_);
          seen.clear();
        }
      }
    }
  }

  faiss::IndexFlatCodes& Storage() {
    return *static_cast<faiss::IndexFlatCodes*>(index_.storage);
  }
  const faiss::IndexFlatCodes& Storage() const {
    return *static_cast<const faiss::IndexFlatCodes*>(index_.storage);
  }
  // One lock per slot. Unlocked locks: safe to move when the vector grows
  // (no insert runs then).
  void GrowLocks() {
    const size_t had = locks_.size();
    locks_.resize(index_.ntotal);
    for (size_t i = had; i < locks_.size(); ++i) omp_init_lock(&locks_[i]);
  }
  // Whether a loaded graph fits this index's vectors and settings.
  absl::Status CheckGraph(int32_t m) const;

  faiss::IndexHNSWFlat index_;
  const int m_;
  std::vector<omp_lock_t> locks_;  // one per graph node, for Insert
  int ef_search_;
  std::vector<bool> removed_;  // by slot
  int64_t removed_count_ = 0;
};

absl::Status HnswVectorIndex::LoadGraph(StateReader& in) {
  faiss::HNSW& hnsw = index_.hnsw;
  const int32_t m = in.Value<int32_t>();
  in.Array(hnsw.levels, kLoadedRoom);
  in.Array(hnsw.offsets, kLoadedRoom);
  in.Array(hnsw.neighbors, kLoadedRoom);
  hnsw.entry_point = in.Value<int32_t>();
  hnsw.max_level = in.Value<int32_t>();
  absl::Status status = in.status();
  if (status.ok()) status = CheckGraph(m);
  if (!status.ok()) {
    // Left as an empty graph, for BuildGraph.
    hnsw.levels.clear();
    hnsw.offsets.assign(1, 0);
    hnsw.neighbors.clear();
    hnsw.entry_point = -1;
    hnsw.max_level = -1;
  }
  return status;
}

absl::Status HnswVectorIndex::CheckGraph(int32_t m) const {
  const faiss::HNSW& hnsw = index_.hnsw;
  const int64_t n = index_.ntotal;
  const auto bad = [](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("HNSW graph: ", what));
  };
  if (m != m_) {
    return bad(absl::StrCat("built with M ", m, ", this server uses ", m_));
  }
  if (static_cast<int64_t>(hnsw.levels.size()) != n ||
      static_cast<int64_t>(hnsw.offsets.size()) != n + 1 ||
      hnsw.offsets[0] != 0) {
    return bad("its node tables do not match the vectors");
  }
  const int top = static_cast<int>(hnsw.cum_nneighbor_per_level.size()) - 1;
  int highest = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int level = hnsw.levels[i];
    if (level < 1 || level > top ||
        hnsw.offsets[i + 1] - hnsw.offsets[i] !=
            size_t(hnsw.cum_nneighbor_per_level[level])) {
      return bad(absl::StrCat("node ", i, " has an impossible level"));
    }
    highest = std::max(highest, level);
  }
  if (hnsw.neighbors.size() != hnsw.offsets[n]) {
    return bad("its neighbour table has the wrong size");
  }
  for (faiss::HNSW::storage_idx_t neighbor : hnsw.neighbors) {
    if (neighbor < -1 || neighbor >= n) return bad("a neighbour out of range");
  }
  const bool empty = n == 0;
  if (empty ? (hnsw.entry_point != -1 || hnsw.max_level != -1)
            : (hnsw.entry_point < 0 || hnsw.entry_point >= n ||
               hnsw.max_level != highest - 1 ||
               hnsw.levels[hnsw.entry_point] != highest)) {
    return bad("its entry point is not on its top level");
  }
  return absl::OkStatus();
}

}  // namespace

std::unique_ptr<VectorIndex> MakeVectorIndex(IndexKind kind, int dimension,
                                             const HnswOptions& hnsw) {
  if (kind == IndexKind::kExact) {
    return std::make_unique<FlatVectorIndex>(dimension);
  }
  return std::make_unique<HnswVectorIndex>(dimension, hnsw);
}

}  // namespace related
