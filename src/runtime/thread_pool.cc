#include "runtime/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace nexus {

// Workers sleep on a condition variable between jobs; a job is published by bumping
// `generation`, and the caller waits until `pending` drops to zero.
struct ThreadPool::State {
  std::mutex mu;
  std::condition_variable wake;
  std::condition_variable done;
  const std::function<void(int)>* job = nullptr;
  uint64_t generation = 0;
  int pending = 0;
  bool stop = false;
  std::vector<std::thread> workers;
};

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)), state_(new State) {
  for (int i = 1; i < n_threads_; ++i) {
    state_->workers.emplace_back([this, i] {
      State& s = *state_;
      uint64_t seen = 0;
      for (;;) {
        const std::function<void(int)>* job;
        {
          std::unique_lock<std::mutex> lock(s.mu);
          s.wake.wait(lock, [&] { return s.stop || s.generation != seen; });
          if (s.stop) return;
          seen = s.generation;
          job = s.job;
        }
        (*job)(i);
        std::lock_guard<std::mutex> lock(s.mu);
        if (--s.pending == 0) s.done.notify_one();
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_all();
  for (auto& t : state_->workers) t.join();
}

void ThreadPool::run(const std::function<void(int thread)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.job = &fn;
    s.pending = n_threads_ - 1;
    ++s.generation;
  }
  s.wake.notify_all();
  fn(0);
  std::unique_lock<std::mutex> lock(s.mu);
  s.done.wait(lock, [&] { return s.pending == 0; });
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int64_t chunks = std::min<int64_t>(n_threads_, max_chunks);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  run([&](int t) {
    if (t >= chunks) return;
    const int64_t begin = n * t / chunks;
    const int64_t end = n * (t + 1) / chunks;
    if (begin < end) fn(begin, end);
  });
}

int default_thread_count() {
  cpu_set_t set;
  int n = 0;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, n);
}

}  // namespace nexus
