// What the process holds and reads, as the kernel counts it: peak and current resident set,
// how much of a file sits in the page cache (mincore), bytes this process read from storage.
// The memory budget (--mem-budget) is checked against peak RSS + the model file's cached pages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "memory/residency_plan.h"
#include "nexus/result.h"

namespace nexus {

struct ProcessMemory {
  uint64_t rss = 0;       // VmRSS
  uint64_t peak_rss = 0;  // VmHWM
  uint64_t rss_anon = 0;  // RssAnon
  uint64_t rss_file = 0;  // RssFile
};
// From /proc/self/status; zeros where the kernel does not report a field.
ProcessMemory process_memory();

// read_bytes of /proc/self/io: bytes this process caused to be fetched from storage
// (O_DIRECT reads included, page-cache hits not). 0 when unavailable.
uint64_t process_read_bytes();

// MemAvailable of /proc/meminfo in bytes: what new allocations can take without swapping
// (free memory plus reclaimable cache). 0 when unavailable.
uint64_t available_memory_bytes();

// Bytes of `path` currently in the page cache, from mincore over a fresh mapping.
Result<uint64_t> file_cached_bytes(const std::string& path);

// Asks the kernel to drop the file's clean cached pages (posix_fadvise DONTNEED).
Status drop_file_cache(const std::string& path);

// Sequential read bandwidth of `path` in bytes/s with O_DIRECT (page cache bypassed; buffered
// reads after dropping the cache where O_DIRECT is refused), reading at most max_bytes in file
// order with 32 reads of 2 MiB in flight (io_uring, else pread threads).
Result<double> measure_file_read_bandwidth(const std::string& path, uint64_t max_bytes);

// The resident part of a budgeted load read alone: the byte ranges `extents` of `path`
// (aligned to 4096) into fresh anonymous memory, as the load's copy reads them (O_DIRECT,
// 2 MiB, 8 in flight on 8 threads), nothing else running, in a child process (fork) so this
// process's peak RSS and memory are unchanged. Fresh pages cost their first touch, and in a VM
// that hands free memory back to its host that can cost more than the disk, by an amount that
// depends on how much memory is in use and what was freed before (bench/NOTES.md sections
// 13-15). So the reads are timed into fresh memory as the system gives it (the reads fault it
// in), and then apart: after handing that memory back, the touch of a fresh mapping, which gets
// the same pages back at the least a fresh page costs here, and the reads into that touched
// memory (the disk alone).
struct ResidentReadTime {
  uint64_t bytes = 0;         // the extents' total
  double fresh_read_s = 0;    // the reads into fresh memory, as the system gives it
  double warm_touch_s = 0;    // touching memory just handed back
  double read_s = 0;          // the reads into that touched memory
};
Result<ResidentReadTime> measure_resident_read(const std::string& path, const std::vector<Extent>& extents);

}  // namespace nexus
