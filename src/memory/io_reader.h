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

// Parses "auto" | "io_uring" | "pread".
Result<IoBackendKind> parse_io_backend(std::string_view name);

}  // namespace nexus
