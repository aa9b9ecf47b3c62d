// WriteWorker: the threads that apply writes, so that gRPC's callback
// threads never wait on them. A write holds the index's writers' lock and
// then waits for its log record to reach the disk (milliseconds), and an
// import stream ends by building every related list (minutes at a million
// articles); gRPC's callback threads are few and shared by every call, so a
// handler hands such work to this pool and finishes the call from here.
//
// Several threads, so that concurrent writers still share one disk sync
// (group commit) and a long import does not hold up single writes.
#ifndef RELATED_SERVER_SERVICE_WRITE_WORKER_H_
#define RELATED_SERVER_SERVICE_WRITE_WORKER_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace related {

class WriteWorker {
 public:
  explicit WriteWorker(int threads);
  // Runs every task already posted, then joins the threads.
  ~WriteWorker();

  WriteWorker(const WriteWorker&) = delete;
  WriteWorker& operator=(const WriteWorker&) = delete;

  // Runs `task` on one of the threads, in posting order as threads free up.
  void Post(std::function<void()> task);

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace related

#endif  // RELATED_SERVER_SERVICE_WRITE_WORKER_H_
