// A persistent pool of worker threads. The calling thread takes part as worker 0, so a
// pool of size 1 runs everything inline. Workers are started once and reused for every
// operation (no per-matmul thread start-up).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace nexus {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index) once for each index in [0, size()) and waits for all. Indices
  // are claimed by whichever pool threads are free (the caller included), so the same
  // index never runs twice at once but is not tied to one OS thread.
  void run(const std::function<void(int thread)>& fn);

  // Splits [0, n) into contiguous chunks of at least `grain` (a few per thread, claimed by
  // free threads as they go), calls fn(begin, end) for each, and waits. Deterministic
  // split for a given (n, size(), grain); chunks may run concurrently in any order.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  struct State;
  static void run_indices(State& s, int n_threads, int count, const std::function<void(int)>& fn);
  int n_threads_;
  std::unique_ptr<State> state_;
};

// Default thread count: the number of physical cores available to this process (>= 1).
int default_thread_count();

}  // namespace nexus
