// The benchmark's load generators. RunLoad keeps `concurrency` calls in
// flight on one completion queue for a fixed time; RunInterleaved makes one
// call at a time, the kinds of call taking turns. Both record each call's
// latency as the client sees it.
#ifndef RELATED_BENCH_LATENCY_LOAD_GENERATOR_H_
#define RELATED_BENCH_LATENCY_LOAD_GENERATOR_H_

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_unary_call.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace related::bench {

struct LoadResult {
  int64_t calls = 0;
  int64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_us;

  double Percentile(double p) const {
    if (latencies_us.empty()) return 0;
    std::vector<double> sorted = latencies_us;
    const size_t k =
        std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()));
    std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
    return sorted[k];
  }
  double Throughput() const { return seconds > 0 ? calls / seconds : 0; }

  // Folds in another slice of the same measurement.
  void Add(const LoadResult& other) {
    calls += other.calls;
    errors += other.errors;
    seconds += other.seconds;
    latencies_us.insert(latencies_us.end(), other.latencies_us.begin(),
                        other.latencies_us.end());
  }
};

// `start` begins one call (PrepareAsync... on the given context and queue).
template <typename Response>
LoadResult RunLoad(
    const std::function<
        std::unique_ptr<grpc::ClientAsyncResponseReader<Response>>(
            grpc::ClientContext*, grpc::CompletionQueue*)>& start,
    int concurrency, absl::Duration duration) {
  struct Call {
    grpc::ClientContext context;
    Response response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
    absl::Time started;
  };
  grpc::CompletionQueue queue;
  std::vector<std::unique_ptr<Call>> slots(concurrency);
  auto launch = [&](int slot) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    call->started = absl::Now();
    call->reader = start(&call->context, &queue);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status,
                         reinterpret_cast<void*>(static_cast<intptr_t>(slot)));
    slots[slot] = std::move(call);
  };
  LoadResult result;
  const absl::Time begin = absl::Now();
  const absl::Time end = begin + duration;
  for (int s = 0; s < concurrency; ++s) launch(s);
  int outstanding = concurrency;
  void* tag;
  bool ok;
  while (outstanding > 0 && queue.Next(&tag, &ok)) {
    const int slot = static_cast<int>(reinterpret_cast<intptr_t>(tag));
    const absl::Time now = absl::Now();
    Call& call = *slots[slot];
    ++result.calls;
    if (!ok || !call.status.ok()) ++result.errors;
    result.latencies_us.push_back(
        absl::ToDoubleMicroseconds(now - call.started));
    --outstanding;
    if (now < end) {
      launch(slot);
      ++outstanding;
    }
  }
  result.seconds = absl::ToDoubleSeconds(absl::Now() - begin);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return result;
}

// One call of some kind, made synchronously; true if it succeeded.
using BlockingCall = std::function<bool()>;

// Concurrency 1 for several kinds of call at once: call after call, the
// kinds take turns (A, B, C, A, B, C, ...) until `duration` has passed. On a
// shared machine whose speed drifts from second to second, this puts every
// kind's calls in the same moments, so their ratios measure the calls and
// not the drift. Result i belongs to kinds[i]; its `seconds` is the time
// spent in its own calls.
inline std::vector<LoadResult> RunInterleaved(
    const std::vector<BlockingCall>& kinds, absl::Duration duration) {
  std::vector<LoadResult> results(kinds.size());
  const absl::Time end = absl::Now() + duration;
  while (absl::Now() < end) {
    for (size_t k = 0; k < kinds.size(); ++k) {
      const absl::Time started = absl::Now();
      const bool ok = kinds[k]();
      const absl::Duration took = absl::Now() - started;
      LoadResult& r = results[k];
      ++r.calls;
      if (!ok) ++r.errors;
      r.seconds += absl::ToDoubleSeconds(took);
      r.latencies_us.push_back(absl::ToDoubleMicroseconds(took));
    }
  }
  return results;
}

}  // namespace related::bench

#endif  // RELATED_BENCH_LATENCY_LOAD_GENERATOR_H_
