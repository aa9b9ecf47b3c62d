// In-process timing for the rows without gRPC: the core's related lookup
// and a raw FAISS search, each called directly on `threads` threads.
#ifndef RELATED_BENCH_LATENCY_IN_PROCESS_H_
#define RELATED_BENCH_LATENCY_IN_PROCESS_H_

#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/latency/load_generator.h"

namespace related::bench {

// Calls `call` (true: it succeeded) back to back on each of `threads`
// threads for `duration`, timing every call. Each thread has its own random
// generator for drawing IDs.
inline LoadResult RunInProcess(
    int threads, absl::Duration duration,
    const std::function<bool(std::mt19937& rng)>& call) {
  LoadResult total;
  absl::Mutex mu;
  std::vector<std::thread> workers;
  const absl::Time begin = absl::Now();
  const absl::Time end = begin + duration;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      LoadResult mine;
      for (absl::Time now = absl::Now(); now < end;) {
        const bool ok = call(rng);
        const absl::Time done = absl::Now();
        mine.latencies_us.push_back(absl::ToDoubleMicroseconds(done - now));
        ++mine.calls;
        if (!ok) ++mine.errors;
        now = done;
      }
      absl::MutexLock lock(&mu);
      total.calls += mine.calls;
      total.errors += mine.errors;
      total.latencies_us.insert(total.latencies_us.end(),
                                mine.latencies_us.begin(),
                                mine.latencies_us.end());
    });
  }
  for (auto& w : workers) w.join();
  total.seconds = absl::ToDoubleSeconds(absl::Now() - begin);
  return total;
}

}  // namespace related::bench

#endif  // RELATED_BENCH_LATENCY_IN_PROCESS_H_
