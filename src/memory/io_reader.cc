#include "memory/io_reader.h"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nexus {

namespace {

// I/O priorities (linux/ioprio.h, not in every libc's headers): class in the top bits.
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioClassIdle = 3;
constexpr int kIoprioWhoProcess = 1;  // with who = 0: the calling thread
constexpr uint16_t kIdlePriority = kIoprioClassIdle << kIoprioClassShift;
constexpr uint16_t kDefaultPriority = 0;  // class none: follow the thread's CPU niceness

// The calling thread's I/O priority for its next reads; a no-op where the kernel refuses.
void set_thread_io_priority(uint16_t prio) {
  thread_local int current = kDefaultPriority;
  if (current == prio) return;
  if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, static_cast<int>(prio)) == 0) current = prio;
}

// Reads the whole request with pread, continuing after partial reads; returns bytes or -errno.
int64_t pread_fully(int fd, const ReadRequest& r) {
  uint64_t got = 0;
  while (got < r.len) {
    const ssize_t n = ::pread(fd, r.dst + got, r.len - got, static_cast<off_t>(r.offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      // After a partial O_DIRECT read the rest starts unaligned: only end of file gets there.
      if (errno == EINVAL && got > 0) break;
      return -errno;
    }
    if (n == 0) break;  // end of file
    got += static_cast<uint64_t>(n);
  }
  return static_cast<int64_t>(got);
}

class PreadBackend final : public ReadBackend {
 public:
  // bounce: null or not empty, with a buffer per thread.
  PreadBackend(int fd, int capacity, int threads, const BounceBuffers* bounce, ReadDone done)
      : fd_(fd), queue_(static_cast<size_t>(capacity)), bounce_bytes_(bounce ? bounce->bytes() : 0), done_(std::move(done)) {
    for (int i = 0; i < threads; ++i) {
      uint8_t* buffer = bounce ? bounce->buffer(i) : nullptr;
      workers_.emplace_back([this, buffer] { work(buffer); });
    }
  }
  ~PreadBackend() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  const char* name() const override { return "pread"; }

  void submit(std::span<const ReadRequest> requests) override {
    {
      std::lock_guard lock(mu_);
      for (const ReadRequest& r : requests) {
        NX_CHECK(count_ < queue_.size(), "pread queue over capacity %zu", queue_.size());
        queue_[(head_ + count_) % queue_.size()] = r;
        ++count_;
      }
    }
    cv_.notify_all();
  }

 private:
  // `bounce`: this thread's buffer of bounce_bytes_, or null.
  void work(uint8_t* bounce) {
    // Fault the buffer in here, so the threads' huge pages are taken side by side.
    if (bounce) std::memset(bounce, 0, bounce_bytes_);
    for (;;) {
      ReadRequest r;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || count_ > 0; });
        if (count_ == 0) return;  // stopping, queue drained
        r = queue_[head_];
        head_ = (head_ + 1) % queue_.size();
        --count_;
      }
      set_thread_io_priority(r.background ? kIdlePriority : kDefaultPriority);
      if (bounce && r.len <= bounce_bytes_) {
        ReadRequest into_bounce = r;
        into_bounce.dst = bounce;
        const int64_t got = pread_fully(fd_, into_bounce);
        if (got > 0) std::memcpy(r.dst, bounce, static_cast<size_t>(got));
        done_(r, got);
      } else {
        done_(r, pread_fully(fd_, r));
      }
    }
  }

  const int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ReadRequest> queue_;  // fixed ring of pending requests
  size_t head_ = 0, count_ = 0;
  bool stop_ = false;
  const uint64_t bounce_bytes_;  // each thread's bounce buffer; 0: none
  ReadDone done_;
  std::vector<std::thread> workers_;
};

// One submitter at a time (under mu_) and one reaper thread: liburing's submission and
// completion rings are independent, so this needs no further locking.
class UringBackend final : public ReadBackend {
 public:
  static constexpr uint64_t kWakeTag = ~uint64_t{0};

  static Result<std::unique_ptr<UringBackend>> create(int fd, int capacity, ReadDone done) {
    unsigned entries = 8;
    while (entries < static_cast<unsigned>(capacity) + 1 && entries < 4096) entries *= 2;
    auto b = std::unique_ptr<UringBackend>(new UringBackend(fd, capacity, std::move(done)));
    const int rc = io_uring_queue_init(entries, &b->ring_, 0);
    if (rc < 0) return make_error(format("io_uring unavailable: %s", std::strerror(-rc)));
    b->ring_ok_ = true;
    b->reaper_ = std::thread([p = b.get()] { p->reap(); });
    return b;
  }
  ~UringBackend() override {
    if (reaper_.joinable()) {
      {
        std::lock_guard lock(mu_);
        io_uring_sqe* sqe = get_sqe_locked();
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, kWakeTag);
        io_uring_submit(&ring_);
      }
      reaper_.join();
    }
    if (ring_ok_) io_uring_queue_exit(&ring_);
  }
  const char* name() const override { return "io_uring"; }

  void submit(std::span<const ReadRequest> requests) override {
    std::lock_guard lock(mu_);
    for (const ReadRequest& r : requests) {
      NX_CHECK(!free_.empty(), "io_uring backend over capacity %zu", slots_.size());
      const uint32_t i = free_.back();
      free_.pop_back();  // no reallocation: capacity was reserved
      slots_[i] = {r, 0};
      queue_read_locked(i);
    }
    io_uring_submit(&ring_);
  }

 private:
  struct InFlight {
    ReadRequest req;
    uint64_t got = 0;  // bytes already read (after a partial read)
  };

  UringBackend(int fd, int capacity, ReadDone done) : fd_(fd), slots_(static_cast<size_t>(capacity)), done_(std::move(done)) {
    free_.reserve(slots_.size());
    for (size_t i = slots_.size(); i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
  }

  io_uring_sqe* get_sqe_locked() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {  // submission queue full: hand it to the kernel and retry
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    NX_CHECK(sqe != nullptr, "io_uring submission queue full");
    return sqe;
  }

  void queue_read_locked(uint32_t i) {
    InFlight& f = slots_[i];
    io_uring_sqe* sqe = get_sqe_locked();
    io_uring_prep_read(sqe, fd_, f.req.dst + f.got, static_cast<unsigned>(f.req.len - f.got), f.req.offset + f.got);
    io_uring_sqe_set_data64(sqe, i);
    sqe->ioprio = f.req.background ? kIdlePriority : kDefaultPriority;
  }

  void reap() {
    for (;;) {
      io_uring_cqe* cqe = nullptr;
      const int rc = io_uring_wait_cqe(&ring_, &cqe);
      if (rc == -EINTR) continue;
      NX_CHECK(rc == 0, "io_uring_wait_cqe: %s", std::strerror(-rc));
      const uint64_t tag = io_uring_cqe_get_data64(cqe);
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      if (tag == kWakeTag) return;
      // The slot was written by submit() under mu_; the kernel ring orders it for the CPU but
      // not visibly to a race checker, so it is read under mu_ as well.
      int64_t result;
      ReadRequest req;
      {
        std::lock_guard lock(mu_);
        InFlight& f = slots_[tag];
        if (res == -EAGAIN || res == -EINTR) {  // retry the same range
          queue_read_locked(static_cast<uint32_t>(tag));
          io_uring_submit(&ring_);
          continue;
        }
        if (res == -EINVAL && f.got > 0) {
          result = static_cast<int64_t>(f.got);  // unaligned rest after a partial O_DIRECT read: end of file
        } else if (res < 0) {
          result = res;
        } else {
          f.got += static_cast<uint64_t>(res);
          if (res > 0 && f.got < f.req.len) {  // partial read: read the rest
            queue_read_locked(static_cast<uint32_t>(tag));
            io_uring_submit(&ring_);
            continue;
          }
          result = static_cast<int64_t>(f.got);
        }
        req = f.req;
        free_.push_back(static_cast<uint32_t>(tag));
      }
      done_(req, result);
    }
  }

  const int fd_;
  io_uring ring_{};
  bool ring_ok_ = false;
  std::mutex mu_;
  std::vector<InFlight> slots_;
  std::vector<uint32_t> free_;
  ReadDone done_;
  std::thread reaper_;
};

// Whether anonymous memory may get transparent huge pages through madvise: the mode is
// "always" or "madvise", not "never" (or the file is missing, on kernels without them).
bool transparent_huge_pages_allowed() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  return std::getline(f, mode) && mode.find("[never]") == std::string::npos;
}

}  // namespace

BounceBuffers::BounceBuffers(int count, uint64_t bytes) {
  constexpr uint64_t kHugePage = uint64_t{2} << 20;
  NX_CHECK(count > 0 && bytes > 0 && bytes % kHugePage == 0, "bounce buffers %d x %llu", count,
           static_cast<unsigned long long>(bytes));
  if (!transparent_huge_pages_allowed()) return;
  // One mapping, with room to align the first buffer to a huge page so each is whole huge pages.
  const size_t len = static_cast<size_t>(count) * bytes + kHugePage;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  map_ = p;
  map_len_ = len;
  first_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1));
  count_ = count;
  bytes_ = bytes;
  ::madvise(first_, static_cast<size_t>(count) * bytes, MADV_HUGEPAGE);
}

BounceBuffers::~BounceBuffers() {
  if (map_) ::munmap(map_, map_len_);
}

Result<std::unique_ptr<ReadBackend>> make_read_backend(IoBackendKind kind, int fd, int capacity, int threads,
                                                       ReadDone done) {
  NX_CHECK(capacity > 0 && threads > 0, "capacity %d threads %d", capacity, threads);
  if (kind != IoBackendKind::kPread) {
    Result<std::unique_ptr<UringBackend>> u = UringBackend::create(fd, capacity, done);
    if (u.ok()) return std::unique_ptr<ReadBackend>(std::move(u).value());
    if (kind == IoBackendKind::kUring) return u.error();
  }
  return std::unique_ptr<ReadBackend>(new PreadBackend(fd, capacity, threads, nullptr, std::move(done)));
}

Result<std::unique_ptr<ReadBackend>> make_pread_backend(int fd, int capacity, int threads, const BounceBuffers* bounce,
                                                        ReadDone done) {
  NX_CHECK(capacity > 0 && threads > 0, "capacity %d threads %d", capacity, threads);
  if (bounce && bounce->empty()) bounce = nullptr;
  NX_CHECK(!bounce || bounce->count() >= threads, "%d bounce buffers for %d threads", bounce ? bounce->count() : 0, threads);
  return std::unique_ptr<ReadBackend>(new PreadBackend(fd, capacity, threads, bounce, std::move(done)));
}

Result<IoBackendKind> parse_io_backend(std::string_view name) {
  if (name == "auto") return IoBackendKind::kAuto;
  if (name == "io_uring" || name == "uring") return IoBackendKind::kUring;
  if (name == "pread") return IoBackendKind::kPread;
  return make_error(format("unknown I/O backend '%.*s' (expected auto, io_uring or pread)",
                           static_cast<int>(name.size()), name.data()));
}

}  // namespace nexus
