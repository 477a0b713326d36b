// What fresh anonymous memory costs on this machine, step by step: maps TOTAL MiB, faults it
// in STEP MiB at a time (MADV_POPULATE_WRITE on 2 MiB chunks shared by THREADS threads) and
// prints the milliseconds per MiB of each step. In a VM that hands free memory back to its
// host, the cost changes with how much fresh memory was taken before (bench/NOTES.md section
// 14). With --hold SECONDS the memory is then kept for that long, so that another process
// started meanwhile gets what is left.
//
// Usage: fresh_pages [--threads N] [--step MiB] [--hold SECONDS] TOTAL_MiB
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kChunk = 2 * kMiB;

int usage() {
  std::fprintf(stderr, "usage: fresh_pages [--threads N] [--step MiB] [--hold SECONDS] TOTAL_MiB\n");
  return 2;
}

// Faults [p, p + bytes) in on `threads` threads, 2 MiB at a time; false if the kernel refuses.
bool populate(uint8_t* p, size_t bytes, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t at; (at = next.fetch_add(kChunk)) < bytes;)
        if (::madvise(p + at, std::min(kChunk, bytes - at), MADV_POPULATE_WRITE) != 0) ok = false;
    });
  for (std::thread& t : pool) t.join();
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, hold_s = 0;
  size_t step_mib = 128, total_mib = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--threads" && has_value) threads = std::atoi(argv[++i]);
    else if (a == "--step" && has_value) step_mib = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--hold" && has_value) hold_s = std::atoi(argv[++i]);
    else if (!a.empty() && a[0] != '-' && total_mib == 0) total_mib = std::strtoull(a.c_str(), nullptr, 10);
    else return usage();
  }
  if (total_mib == 0 || step_mib == 0 || threads < 1 || threads > 256 || hold_s < 0) return usage();
  const size_t total = total_mib * kMiB;
  void* raw = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    std::fprintf(stderr, "fresh_pages: cannot map %zu MiB: %s\n", total_mib, std::strerror(errno));
    return 1;
  }
  uint8_t* p = static_cast<uint8_t*>(raw);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  std::printf("MiB touched: ms per MiB of that step (%d thread%s)\n", threads, threads == 1 ? "" : "s");
  for (size_t done = 0; done < total_mib; done += step_mib) {
    const size_t n = std::min(step_mib, total_mib - done);
    const Clock::time_point s0 = Clock::now();
    if (!populate(p + done * kMiB, n * kMiB, threads)) {
      std::fprintf(stderr, "fresh_pages: MADV_POPULATE_WRITE failed: %s (Linux 5.14 or later)\n", std::strerror(errno));
      return 1;
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - s0).count();
    std::printf("%zu: %.2f\n", done + n, ms / static_cast<double>(n));
    std::fflush(stdout);
  }
  std::printf("total %.3f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  std::fflush(stdout);
  if (hold_s > 0) ::sleep(static_cast<unsigned>(hold_s));
  return 0;
}
