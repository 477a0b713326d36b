// How fast O_DIRECT reads of a file range land, by the kind of memory they land in: reads
// LEN MiB at OFFSET MiB of FILE, 2 MiB per read on THREADS threads (as the resident copy
// reads), into
//   1. fresh 4 KiB pages (each read faults its own pages in: the resident copy's case),
//   2. the same pages again, now touched (the disk alone),
//   3. the same touched 4 KiB pages through the resident copy's reader: a huge-page bounce
//      buffer per thread, copied out (io_reader.h),
//   4. touched transparent huge pages (MADV_HUGEPAGE: the stream's ring slots),
//   5. fresh huge pages.
// A read into 4 KiB pages reaches the block device as one segment per page, split into
// requests of at most the queue's max_segments pages; into a huge page, as one segment. On a
// virtual disk, where each request and segment costs the host, the destination's page size
// can set the read rate (bench/NOTES.md sections 16 and 17).
//
// Usage: direct_reads [--threads N] FILE OFFSET_MiB LEN_MiB
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "memory/io_reader.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kChunk = 2 * kMiB;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int usage() {
  std::fprintf(stderr, "usage: direct_reads [--threads N] FILE OFFSET_MiB LEN_MiB\n");
  return 2;
}

// Anonymous memory aligned to 2 MiB (so huge pages can back all of it), optionally marked for
// huge pages; null on failure.
uint8_t* map_aligned(size_t bytes, bool huge) {
  void* raw = ::mmap(nullptr, bytes + kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + kChunk - 1) & ~uintptr_t{kChunk - 1});
  if (huge) ::madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

// Reads [offset, offset + bytes) of `fd` into `dst`, kChunk per pread, on `threads` threads;
// the seconds taken, or a negative value on a failed or short read.
double timed_reads(int fd, uint8_t* dst, uint64_t offset, size_t bytes, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<bool> ok{true};
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t at; (at = next.fetch_add(kChunk)) < bytes;) {
        const size_t n = std::min(kChunk, bytes - at);
        if (::pread(fd, dst + at, n, static_cast<off_t>(offset + at)) != static_cast<ssize_t>(n)) ok = false;
      }
    });
  for (std::thread& t : pool) t.join();
  return ok ? since(t0) : -1;
}

// As timed_reads, through the library's pread threads with a bounce buffer each.
double timed_bounced_reads(int fd, uint8_t* dst, uint64_t offset, size_t bytes, int threads) {
  const nexus::BounceBuffers bounce(threads, kChunk);
  if (bounce.empty()) {
    std::fprintf(stderr, "direct_reads: no transparent huge pages for the bounce buffers\n");
    std::exit(1);
  }
  std::vector<nexus::ReadRequest> requests;
  for (size_t at = 0; at < bytes; at += kChunk)
    requests.push_back({offset + at, static_cast<uint32_t>(std::min(kChunk, bytes - at)), dst + at, 0});
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  bool ok = true;
  const Clock::time_point t0 = Clock::now();
  {
    nexus::Result<std::unique_ptr<nexus::ReadBackend>> backend = nexus::make_pread_backend(
        fd, static_cast<int>(requests.size()), threads, &bounce, [&](const nexus::ReadRequest& r, int64_t got) {
          std::lock_guard lock(mu);
          ok = ok && got == static_cast<int64_t>(r.len);
          ++done;
          cv.notify_all();
        });
    if (!backend.ok()) return -1;
    (*backend)->submit(requests);
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == requests.size(); });
  }
  return ok ? since(t0) : -1;
}

// The process's anonymous memory backed by huge pages (smaps_rollup), in MiB; -1 if unknown.
long huge_mib() {
  std::ifstream in("/proc/self/smaps_rollup");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("AnonHugePages:")) return std::atol(line.c_str() + 14) / 1024;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 8;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!a.empty() && a[0] == '-') return usage();
    else args.push_back(a);
  }
  if (args.size() != 3 || threads < 1 || threads > 256) return usage();
  const uint64_t offset = std::strtoull(args[1].c_str(), nullptr, 10) * kMiB;
  const size_t bytes = std::strtoull(args[2].c_str(), nullptr, 10) * kMiB;
  if (bytes == 0) return usage();
  const int fd = ::open(args[0].c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "direct_reads: cannot open '%s' with O_DIRECT: %s\n", args[0].c_str(), std::strerror(errno));
    return 1;
  }
  uint8_t* small = map_aligned(bytes, false);
  uint8_t* huge = map_aligned(bytes, true);
  uint8_t* fresh_huge = map_aligned(bytes, true);
  if (!small || !huge || !fresh_huge) {
    std::fprintf(stderr, "direct_reads: cannot map 3 x %zu MiB: %s\n", bytes / kMiB, std::strerror(errno));
    return 1;
  }
  const auto report = [&](const char* what, double s) {
    if (s < 0) {
      std::fprintf(stderr, "direct_reads: a read of '%s' failed or came short (is the range inside the file?)\n",
                   args[0].c_str());
      std::exit(1);
    }
    std::printf("%-28s %.3f s  %.2f GB/s\n", what, s, static_cast<double>(bytes) / s / 1e9);
    std::fflush(stdout);
  };
  std::printf("%zu MiB at %llu MiB, %d threads x 2 MiB reads\n", bytes / kMiB,
              static_cast<unsigned long long>(offset / kMiB), threads);
  report("fresh 4 KiB pages", timed_reads(fd, small, offset, bytes, threads));
  report("touched 4 KiB pages", timed_reads(fd, small, offset, bytes, threads));
  report("the same, bounce buffers", timed_bounced_reads(fd, small, offset, bytes, threads));
  const Clock::time_point t0 = Clock::now();
  std::memset(huge, 1, bytes);
  const double touch_s = since(t0);
  report("touched huge pages", timed_reads(fd, huge, offset, bytes, threads));
  report("fresh huge pages", timed_reads(fd, fresh_huge, offset, bytes, threads));
  std::printf("touching the huge pages took %.3f s; %ld of %zu MiB were huge pages\n", touch_s, huge_mib(),
              2 * bytes / kMiB);
  return 0;
}
