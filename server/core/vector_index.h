// The nearest-neighbour index behind the service: one interface, two FAISS
// implementations (exact flat inner product, approximate HNSW).
//
// Vectors live at dense positions called slots. The index is NOT thread-safe
// on its own: ArticleIndex serialises mutations against searches (many
// concurrent Search calls are fine). No exception leaves this module: FAISS
// throws, and each implementation catches at its calls.
#ifndef RELATED_SERVER_CORE_VECTOR_INDEX_H_
#define RELATED_SERVER_CORE_VECTOR_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/state_io.h"

namespace related {

using Slot = int64_t;

struct Neighbor {
  Slot slot;
  float score;  // inner product = cosine for the unit vectors stored here
};

// Keeps the `k` most similar of `neighbors`, best first; equal scores in
// slot order, so the result does not depend on the order they came in.
// With `keep_rest` the others stay behind them, in no order.
void KeepNearest(std::vector<Neighbor>& neighbors, size_t k,
                 bool keep_rest = false);

// A slot that moved when another was removed (see VectorIndex::Remove).
struct SlotMove {
  Slot from;
  Slot to;
};

// See VectorIndex::Add.
struct MetNeighbors {
  int k = 0;
  std::vector<std::vector<Neighbor>> lists;
};

// Says whether a slot may be returned by a search.
using SlotFilter = absl::FunctionRef<bool(Slot)>;

enum class IndexKind { kExact, kHnsw };

absl::string_view IndexKindName(IndexKind kind);
// Parses "exact" or "hnsw"; nullopt otherwise.
std::optional<IndexKind> ParseIndexKind(absl::string_view name);

struct HnswOptions {
  int m = 16;                 // graph degree: memory vs recall
  int ef_construction = 100;  // build effort: ingest speed vs recall
  int ef_search = 128;        // query effort: latency vs recall
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  virtual IndexKind Kind() const = 0;
  virtual int Dimension() const = 0;
  // Slots holding a live vector.
  virtual int64_t LiveCount() const = 0;
  // Bytes held by vectors and index structures.
  virtual int64_t MemoryBytes() const = 0;

  // Appends `count` unit vectors of Dimension() floats; they take the slots
  // returned, in order. HNSW places them in the graph on up to `threads`
  // OpenMP threads.
  //
  // Placing a vector in an HNSW graph is itself a search (its effort is
  // efConstruction). With `met`, each new vector's met->k most similar live
  // slots among those that search compared it with are kept in met->lists
  // (one list per vector, in order, best first): a write that needs the new
  // article's neighbours takes them from there instead of searching again.
  // An index that does not search to add (exact) leaves met->lists empty.
  virtual absl::StatusOr<std::vector<Slot>> Add(
      const float* vectors, int64_t count, int threads = 1,
      MetNeighbors* met = nullptr) = 0;

  // Removes the vector at `slot`. An index may fill the hole by moving its
  // last vector there: it then returns that move, and the caller must update
  // whatever it keyed by the old slot.
  virtual std::optional<SlotMove> Remove(Slot slot) = 0;

  // Copies the stored vector at a live `slot` into `out` (Dimension() floats).
  virtual void Vector(Slot slot, float* out) const = 0;

  // The stored vector at a live `slot`, in place: valid until the next Add
  // or Remove.
  virtual const float* StoredVector(Slot slot) const = 0;

  // Whether Remove ever moves a vector to another slot. Only an index whose
  // slots are stable can have related lists kept by slot.
  virtual bool MovesSlots() const = 0;

  // Up to `k` live slots most similar to `query`, best first, among those
  // `admit` accepts (FAISS asks it during the search, so rejected slots
  // never take one of the k places). Returns fewer only when fewer admitted
  // live vectors exist, or, for an approximate index, when its search did
  // not reach them (then SearchExhaustive finds them).
  virtual absl::StatusOr<std::vector<Neighbor>> Search(
      const float* query, int k, SlotFilter admit) const = 0;

  // As Search, but exact: compares `query` with every live vector.
  virtual absl::StatusOr<std::vector<Neighbor>> SearchExhaustive(
      const float* query, int k, SlotFilter admit) const = 0;

  // Slots held, live or removed: the next Add takes this one.
  virtual int64_t SlotCount() const = 0;

  // --- Snapshots. The vectors of every slot, removed ones included (so
  // that slots keep their numbers), and for HNSW the graph; a restart reads
  // them back into a new, empty index of the same kind and settings, then
  // removes the slots that were empty.
  virtual void SaveVectors(StateWriter& out) const = 0;
  virtual void SaveGraph(StateWriter& out) const = 0;
  virtual absl::Status LoadVectors(StateReader& in) = 0;
  // After LoadVectors: the graph as saved. DATA_LOSS if it does not fit the
  // vectors or was built with other settings; then BuildGraph places the
  // loaded vectors in a new graph instead (on `threads` threads).
  virtual absl::Status LoadGraph(StateReader& in) = 0;
  virtual absl::Status BuildGraph(int threads) = 0;
};

// Creates an empty index of `kind` for vectors of `dimension` floats.
std::unique_ptr<VectorIndex> MakeVectorIndex(IndexKind kind, int dimension,
                                             const HnswOptions& hnsw);

}  // namespace related

#endif  // RELATED_SERVER_CORE_VECTOR_INDEX_H_
