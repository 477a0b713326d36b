#include "memory/mem_stats.h"

#include "memory/io_reader.h"
#include "memory/layer_stream.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace nexus {

namespace {

// "VmRSS:     1234 kB" -> bytes, for `key` (with the colon).
uint64_t status_field(const std::string& text, const char* key) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + std::strlen(key), nullptr, 10) * 1024;
}

std::string read_small_file(const char* path) {
  std::string out;
  std::FILE* f = std::fopen(path, "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ProcessMemory process_memory() {
  const std::string s = read_small_file("/proc/self/status");
  ProcessMemory m;
  m.rss = status_field(s, "VmRSS:");
  m.peak_rss = status_field(s, "VmHWM:");
  m.rss_anon = status_field(s, "RssAnon:");
  m.rss_file = status_field(s, "RssFile:");
  return m;
}

uint64_t process_read_bytes() {
  const std::string s = read_small_file("/proc/self/io");
  const size_t at = s.find("\nread_bytes:");
  if (at == std::string::npos) return 0;
  return std::strtoull(s.c_str() + at + 12, nullptr, 10);
}

uint64_t available_memory_bytes() {
  const std::string s = read_small_file("/proc/meminfo");
  const size_t at = s.find("MemAvailable:");
  if (at == std::string::npos) return 0;
  return std::strtoull(s.c_str() + at + 13, nullptr, 10) * 1024;  // reported in kB
}

Result<uint64_t> file_cached_bytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(format("cannot open '%s': %s", path.c_str(), std::strerror(errno)));
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(format("cannot stat '%s': %s", path.c_str(), std::strerror(errno)));
  if (st.st_size == 0) return uint64_t{0};
  const size_t size = static_cast<size_t>(st.st_size);
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return make_error(format("cannot map '%s': %s", path.c_str(), std::strerror(errno)));
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((size + page - 1) / page);
  const int rc = ::mincore(addr, size, vec.data());
  const int err = errno;
  ::munmap(addr, size);
  if (rc != 0) return make_error(format("mincore on '%s': %s", path.c_str(), std::strerror(err)));
  uint64_t pages = 0;
  for (unsigned char v : vec) pages += v & 1;
  return std::min<uint64_t>(pages * page, size);
}

Status drop_file_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(format("cannot open '%s': %s", path.c_str(), std::strerror(errno)));
  FdCloser closer{fd};
  const int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  if (rc != 0) return make_error(format("posix_fadvise on '%s': %s", path.c_str(), std::strerror(rc)));
  return Status::Ok();
}

Result<double> measure_file_read_bandwidth(const std::string& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  const bool direct = fd >= 0;
  if (!direct) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(format("cannot open '%s': %s", path.c_str(), std::strerror(errno)));
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(format("cannot stat '%s': %s", path.c_str(), std::strerror(errno)));
  if (!direct) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  // A deep queue of large reads in file order, as the layer stream issues them: what the
  // device can deliver, not what one synchronous reader gets.
  constexpr int kDepth = 32;
  const uint64_t total = std::min<uint64_t>(max_bytes, static_cast<uint64_t>(st.st_size)) / 4096 * 4096;
  if (total == 0) return make_error(format("'%s' is too small to measure read bandwidth", path.c_str()));
  const uint64_t chunk = std::min<uint64_t>(uint64_t{2} << 20, total);
  const uint64_t n_chunks = total / chunk;
  void* raw = ::mmap(nullptr, chunk * kDepth, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return make_error(format("cannot allocate read buffers: %s", std::strerror(errno)));
  uint8_t* bufs = static_cast<uint8_t*>(raw);

  std::mutex mu;
  std::condition_variable cv;
  uint64_t done = 0, issued = 0;
  int error = 0;
  std::vector<uint64_t> free_bufs;
  for (int i = 0; i < kDepth; ++i) free_bufs.push_back(static_cast<uint64_t>(i));
  Result<std::unique_ptr<ReadBackend>> backend = make_read_backend(
      IoBackendKind::kAuto, fd, kDepth, kDepth, [&](const ReadRequest& r, int64_t res) {
        std::lock_guard lock(mu);
        if (res != static_cast<int64_t>(r.len) && !error) error = res < 0 ? static_cast<int>(-res) : EIO;
        free_bufs.push_back(r.tag);
        ++done;
        cv.notify_all();
      });
  if (!backend.ok()) {
    ::munmap(raw, chunk * kDepth);
    return backend.error();
  }
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::unique_lock lock(mu);
    while (done < n_chunks && !error) {
      while (issued < n_chunks && !free_bufs.empty()) {
        const uint64_t b = free_bufs.back();
        free_bufs.pop_back();
        const ReadRequest r{issued * chunk, static_cast<uint32_t>(chunk), bufs + b * chunk, b};
        ++issued;
        (*backend)->submit(std::span<const ReadRequest>(&r, 1));
      }
      cv.wait(lock);
    }
    cv.wait(lock, [&] { return done == issued; });
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  backend->reset();
  ::munmap(raw, chunk * kDepth);
  if (error) return make_error(format("reading '%s' for the bandwidth test: %s", path.c_str(), std::strerror(error)));
  if (!direct) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  return secs > 0 ? static_cast<double>(n_chunks * chunk) / secs : 0.0;
}

namespace {

// The resident part is read as the load's copy reads it: LayerRing::kCopyChunk per read,
// LayerRing::kCopyWindow in flight, each on a thread of its own, through bounce buffers when
// the reads are O_DIRECT.
constexpr int kCopyThreads = LayerRing::kCopyWindow;
constexpr uint64_t kCopyChunk = LayerRing::kCopyChunk;

// What the child of measure_resident_read sends back: the figures, or errno.
struct ChildReport {
  ResidentReadTime time;
  int error = 0;
};

// Runs body(k) for k in [0, n) on `threads` threads; returns the wall time.
template <typename Body>
double timed_parallel(size_t n, int threads, Body body) {
  std::atomic<size_t> next{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&] {
      for (size_t k; (k = next.fetch_add(1)) < n;) body(k);
    });
  for (std::thread& t : pool) t.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The ranges of `extents` cut into the copy's 2 MiB reads, back to back from offset 0.
struct ChunkedRead {
  uint64_t offset, len, dst;
};
std::vector<ChunkedRead> chunk_reads(const std::vector<Extent>& extents, uint64_t* total) {
  std::vector<ChunkedRead> reads;
  *total = 0;
  for (const Extent& e : extents)
    for (uint64_t done = 0; done < e.len; done += kCopyChunk) {
      const uint64_t len = std::min(kCopyChunk, e.len - done);
      reads.push_back({e.offset + done, len, *total});
      *total += len;
    }
  return reads;
}

// Reads `reads` of `fd` into base + dst as the copy reads (io_reader.h's pread threads, through
// `bounce` if not null), all queued at once; returns the wall time, or errno in *error.
double timed_reads(int fd, const std::vector<ChunkedRead>& reads, int threads, const BounceBuffers* bounce,
                   uint8_t* base, int* error) {
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  Result<std::unique_ptr<ReadBackend>> backend = make_pread_backend(
      fd, static_cast<int>(reads.size()), threads, bounce, [&](const ReadRequest&, int64_t res) {
        std::lock_guard lock(mu);
        if (res < 0 && *error == 0) *error = static_cast<int>(-res);  // short only at the end of the file
        ++done;
        cv.notify_all();
      });
  if (!backend.ok()) {
    *error = EIO;
    return 0;
  }
  std::vector<ReadRequest> requests;
  for (const ChunkedRead& r : reads) requests.push_back({r.offset, static_cast<uint32_t>(r.len), base + r.dst, 0});
  const auto t0 = std::chrono::steady_clock::now();
  (*backend)->submit(requests);
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == reads.size(); });
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  backend->reset();
  return secs;
}

// The child's side of measure_resident_read: `first` and `again` are mappings of the reads'
// total size that nothing has touched yet, `bounce` the copy's bounce buffers, untouched.
ChildReport resident_read_in_child(const std::string& path, const std::vector<ChunkedRead>& reads, uint8_t* first,
                                   uint8_t* again, uint64_t total, const BounceBuffers& bounce) {
  ChildReport rep;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  const bool direct = fd >= 0;
  if (!direct) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rep.error = errno;
    return rep;
  }
  const BounceBuffers* through = direct ? &bounce : nullptr;
  // Into fresh memory as the system gives it, each read faulting in its own pages.
  rep.time.fresh_read_s = timed_reads(fd, reads, kCopyThreads, through, first, &rep.error);
  if (rep.error == 0) {
    // Then apart: after handing that memory back, the touch of a fresh mapping, which gets the
    // same pages back at the least a fresh page costs here, and the reads into it.
    ::madvise(first, total, MADV_DONTNEED);
    rep.time.warm_touch_s = timed_parallel(reads.size(), kCopyThreads, [&](size_t k) {
      for (uint64_t at = 0; at < reads[k].len; at += 4096) again[reads[k].dst + at] = 0;
    });
    rep.time.read_s = timed_reads(fd, reads, kCopyThreads, through, again, &rep.error);
  }
  if (!direct) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  rep.time.bytes = total;
  return rep;
}

}  // namespace

Result<ResidentReadTime> measure_resident_read(const std::string& path, const std::vector<Extent>& extents) {
  uint64_t total = 0;
  const std::vector<ChunkedRead> reads = chunk_reads(extents, &total);
  if (total == 0) return ResidentReadTime{};
  // The child's memory is mapped here, untouched (so not in this process's resident set): the
  // child maps nothing itself, which under AddressSanitizer could land on stale shadow.
  const BounceBuffers bounce(kCopyThreads, kCopyChunk);
  void* maps[2] = {MAP_FAILED, MAP_FAILED};
  for (void*& m : maps) m = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  auto unmap = [&] {
    for (void* m : maps)
      if (m != MAP_FAILED) ::munmap(m, total);
  };
  if (maps[0] == MAP_FAILED || maps[1] == MAP_FAILED) {
    const int err = errno;
    unmap();
    return make_error(format("cannot map %llu bytes to read '%s' into: %s", static_cast<unsigned long long>(total),
                             path.c_str(), std::strerror(err)));
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    const int err = errno;
    unmap();
    return make_error(format("pipe: %s", std::strerror(err)));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    unmap();
    return make_error(format("fork: %s", std::strerror(err)));
  }
  if (pid == 0) {  // the child: only this thread exists; it measures, reports and exits
    ::close(fds[0]);
    const ChildReport rep =
        resident_read_in_child(path, reads, static_cast<uint8_t*>(maps[0]), static_cast<uint8_t*>(maps[1]), total, bounce);
    const ssize_t n = ::write(fds[1], &rep, sizeof rep);
    ::_exit(n == sizeof rep ? 0 : 1);
  }
  ::close(fds[1]);
  ChildReport rep;
  ssize_t n;
  do {
    n = ::read(fds[0], &rep, sizeof rep);
  } while (n < 0 && errno == EINTR);
  ::close(fds[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  unmap();
  if (n != sizeof rep) return make_error(format("reading '%s' into fresh memory: the measuring process failed", path.c_str()));
  if (rep.error != 0)
    return make_error(format("reading '%s' into fresh memory: %s", path.c_str(), std::strerror(rep.error)));
  return rep.time;
}

}  // namespace nexus
