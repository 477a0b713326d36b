#include "runtime/thread_pool.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <thread>
#include <vector>

namespace nexus {
namespace {

// Chunks per thread in parallel_for, claimed dynamically. Small chunks keep the threads
// finishing together: a decode step is a few hundred parallel_for calls, and whatever one
// thread has left when the other runs out of chunks is idle time for the other. On the
// 2-vCPU machine the second thread runs at a different speed from the first (a shared
// host); going from 4 to 32 chunks per thread raised 8-stream decode on B1 by about 12 %
// (alternated in one process), and single-stream decode did not slow down. The matmul's
// row grain (16) bounds how small a chunk gets.
constexpr int64_t kChunksPerThread = 32;

// How long a worker (or the caller waiting for workers) spins before sleeping in the
// kernel. A decode step issues a few hundred parallel_for calls separated by microseconds
// of serial work; waking a sleeping thread costs ~5-50 us of futex round trip, which is
// what made 2 threads slower than 1 on small models. Past this budget the thread sleeps,
// so an idle pool costs no CPU on a shared machine.
constexpr auto kSpinBudget = std::chrono::microseconds(200);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// futex(2) on a 32-bit atomic: std::atomic<uint32_t> is lock-free and has the layout of a
// uint32_t on Linux, which is what the syscall reads.
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_all(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

// Spins until pred() holds or the budget runs out; returns pred()'s last value.
template <class Pred>
bool spin_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBudget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return pred();
  }
}

}  // namespace

// A job is published as one 64-bit word: generation (high 32 bits), thread-index count n
// (bits 16-31) and the next unclaimed index (bits 0-15). Every participant, caller
// included, claims indices with a CAS on that word and runs fn(index), so a worker that
// is descheduled (the machine is shared) never delays the job: the caller just runs its
// index too. The generation bits make a stale CAS from a late worker fail. Workers learn
// of a new job from the 32-bit `generation` futex word: they spin on it, then sleep.
// `remaining` counts indices not yet finished; the caller waits for it to reach zero the
// same way. Sleepers are counted so the all-spinning case never makes a syscall; each
// store/load pair deciding whether to sleep or to wake is seq_cst (Dekker pattern).
struct ThreadPool::State {
  alignas(64) std::atomic<uint64_t> word{0};
  std::atomic<const std::function<void(int)>*> job{nullptr};
  alignas(64) std::atomic<uint32_t> generation{0};
  std::atomic<int> sleeping_workers{0};
  alignas(64) std::atomic<uint32_t> remaining{0};
  std::atomic<bool> caller_sleeping{false};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;

  // Claims and runs indices of the current job until none is left.
  void work() {
    for (;;) {
      uint64_t w = word.load(std::memory_order_acquire);
      const uint32_t idx = static_cast<uint32_t>(w & 0xFFFF), n = static_cast<uint32_t>((w >> 16) & 0xFFFF);
      if (idx >= n) return;
      // A successful CAS with idx < n means this generation is unfinished, so `job` (stored
      // before the word was published) is still this generation's.
      const std::function<void(int)>* fn = job.load(std::memory_order_acquire);
      if (!word.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      (*fn)(static_cast<int>(idx));
      if (remaining.fetch_sub(1, std::memory_order_seq_cst) == 1 && caller_sleeping.load(std::memory_order_seq_cst))
        futex_wake_all(remaining);
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::clamp(n_threads, 1, 0xFFFF)), state_(new State) {
  for (int i = 1; i < n_threads_; ++i) {
    state_->workers.emplace_back([this] {
      State& s = *state_;
      uint32_t seen = 0;
      for (;;) {
        if (!spin_until([&] { return s.generation.load(std::memory_order_acquire) != seen; })) {
          s.sleeping_workers.fetch_add(1, std::memory_order_seq_cst);
          while (s.generation.load(std::memory_order_seq_cst) == seen) futex_wait(s.generation, seen);
          s.sleeping_workers.fetch_sub(1, std::memory_order_relaxed);
        }
        seen = s.generation.load(std::memory_order_acquire);
        if (s.stop.load(std::memory_order_acquire)) return;
        s.work();
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  State& s = *state_;
  s.stop.store(true, std::memory_order_release);
  s.generation.fetch_add(1, std::memory_order_seq_cst);
  futex_wake_all(s.generation);
  for (auto& t : s.workers) t.join();
}

void ThreadPool::run(const std::function<void(int thread)>& fn) { run_indices(*state_, n_threads_, n_threads_, fn); }

// Runs fn(i) for i in [0, count) on whichever threads are free (count <= 0xFFFF).
void ThreadPool::run_indices(State& s, int n_threads, int count, const std::function<void(int)>& fn) {
  if (n_threads == 1 || count == 1) {
    for (int i = 0; i < count; ++i) fn(i);
    return;
  }
  const uint32_t gen = s.generation.load(std::memory_order_relaxed) + 1;
  s.job.store(&fn, std::memory_order_relaxed);
  s.remaining.store(static_cast<uint32_t>(count), std::memory_order_relaxed);
  s.word.store(static_cast<uint64_t>(gen) << 32 | static_cast<uint64_t>(count) << 16, std::memory_order_release);
  s.generation.store(gen, std::memory_order_seq_cst);
  if (s.sleeping_workers.load(std::memory_order_seq_cst) > 0) futex_wake_all(s.generation);
  s.work();
  if (!spin_until([&] { return s.remaining.load(std::memory_order_acquire) == 0; })) {
    s.caller_sleeping.store(true, std::memory_order_seq_cst);
    for (uint32_t p; (p = s.remaining.load(std::memory_order_seq_cst)) != 0;) futex_wait(s.remaining, p);
    s.caller_sleeping.store(false, std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_acquire);  // the workers' writes are visible
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = (n + grain - 1) / grain;
  // Up to kChunksPerThread chunks per thread, claimed dynamically: a slow or descheduled
  // thread then holds up only a small chunk, not 1/size() of the work.
  const int64_t chunks =
      n_threads_ == 1 ? 1 : std::min({int64_t{n_threads_} * kChunksPerThread, max_chunks, int64_t{0xFFFF}});
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  run_indices(*state_, n_threads_, static_cast<int>(chunks), [&](int c) {
    const int64_t begin = n * c / chunks;
    const int64_t end = n * (c + 1) / chunks;
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
