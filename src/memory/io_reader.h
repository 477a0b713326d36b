// Asynchronous positional reads of one file into caller buffers: io_uring where the kernel
// allows it (liburing), a pool of pread threads otherwise. The choice is made at run time:
// io_uring_queue_init fails under old kernels, seccomp filters or io_uring_disabled, and the
// pool takes over. Completions are reported per request from a backend thread; neither backend
// allocates after construction (request state lives in fixed tables sized by `capacity`).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "nexus/result.h"

namespace nexus {

struct ReadRequest {
  uint64_t offset = 0;  // file offset (a multiple of 4096 for O_DIRECT)
  uint32_t len = 0;     // bytes to read into dst (a multiple of 4096 for O_DIRECT)
  uint8_t* dst = nullptr;
  uint64_t tag = 0;     // the caller's, passed back on completion
  // Read in the idle I/O class: a disk scheduler that honours classes (mq-deadline, BFQ)
  // serves every other read first. For bulk reads that must not delay urgent ones.
  bool background = false;
};

// Called once per request from a backend thread. `result`: bytes read (which may be less than
// len only at end of file; the caller decides whether that is short) or -errno.
using ReadDone = std::function<void(const ReadRequest& request, int64_t result)>;

enum class IoBackendKind { kAuto, kUring, kPread };

class ReadBackend {
 public:
  virtual ~ReadBackend() = default;
  virtual const char* name() const = 0;  // "io_uring" or "pread"
  // Starts the reads. At most `capacity` (see make_read_backend) may be in flight at once.
  virtual void submit(std::span<const ReadRequest> requests) = 0;
};

// A backend reading `fd` (kept open by the caller for the backend's lifetime). kAuto tries
// io_uring, then falls back to `threads` pread threads; kUring fails when io_uring is
// unavailable. `done` must be thread-safe. Destruction waits for reads in flight.
Result<std::unique_ptr<ReadBackend>> make_read_backend(IoBackendKind kind, int fd, int capacity, int threads,
                                                       ReadDone done);

// Bounce buffers for O_DIRECT reads into ordinary memory: the block layer sends a read as one
// segment per discontiguous page, and a device that takes few segments per request (254 on the
// virtio disk measured here) gets a 2 MiB read into 4 KiB pages as three requests, into a huge
// page as one. Reading into a transparent huge page and copying out is faster there: B3's first
// 1160 MiB came at 2.4 GB/s through bounce buffers into memory already touched, against 1.6-2.2
// GB/s straight in (bench/NOTES.md section 17); the copy costs the CPU 0.1-0.2 ms per 2 MiB.
class BounceBuffers {
 public:
  // `count` buffers of `bytes` each (a multiple of 2 MiB), mapped but not touched. None (empty())
  // where the system gives no transparent huge pages or the mapping fails.
  BounceBuffers(int count, uint64_t bytes);
  ~BounceBuffers();
  BounceBuffers(const BounceBuffers&) = delete;
  BounceBuffers& operator=(const BounceBuffers&) = delete;
  bool empty() const { return first_ == nullptr; }
  int count() const { return count_; }
  uint64_t bytes() const { return bytes_; }
  uint8_t* buffer(int i) const { return first_ + static_cast<size_t>(i) * bytes_; }

 private:
  void* map_ = nullptr;
  size_t map_len_ = 0;
  uint8_t* first_ = nullptr;  // huge-page aligned
  int count_ = 0;
  uint64_t bytes_ = 0;
};

// A pool of `threads` pread threads. With `bounce` (not empty, at least one buffer per thread,
// outliving the backend), each thread reads requests of up to bounce->bytes() into a buffer of
// its own and copies them to their destination; larger ones are read straight in.
Result<std::unique_ptr<ReadBackend>> make_pread_backend(int fd, int capacity, int threads, const BounceBuffers* bounce,
                                                        ReadDone done);

// Parses "auto" | "io_uring" | "pread".
Result<IoBackendKind> parse_io_backend(std::string_view name);

}  // namespace nexus
