// One report of a model run under a memory budget, for the CLI (--verbose) and `nexus bench`:
// the plan's figures, the stream's statistics and what the kernel says the process held.
#pragma once

#include <cstdint>
#include <string>

#include "memory/layer_stream.h"
#include "memory/mem_stats.h"
#include "nexus/nexus.h"

namespace nexus {

struct MemoryReport {
  bool budgeted = false;
  uint64_t budget = 0;
  uint64_t resident_weight_bytes = 0;  // resident copy (aligned)
  uint64_t streamed_plan_bytes = 0;    // bytes the plan streams per forward pass
  uint64_t model_bytes = 0;            // all tensors of the file
  uint64_t peak_rss = 0;               // VmHWM
  uint64_t file_cached = 0;            // model file pages in the page cache now
  uint64_t proc_read_bytes = 0;        // /proc/self/io read_bytes
  double resident_read_s = 0;          // time the resident copy took to land (0 until it has)
  std::string backend;                 // "io_uring O_DIRECT", ...
  StreamStats stream;
  uint64_t peak_total() const { return peak_rss + file_cached; }
};

// Gathers the figures for `model` (loaded from `path`).
MemoryReport memory_report(Model& model, const std::string& path);

// Two lines: "memory: ..." with key=value figures, then "stream: ..." when weights stream.
std::string format_memory_report(const MemoryReport& r);

// The residency plan of a budgeted model (empty string for an unbudgeted one).
std::string describe_memory_plan(Model& model);

// The stream's I/O-only rate (LayerRing::measure_io_only): `warmup` untimed passes, then
// `passes` timed ones. An empty rate for a model that streams nothing.
Result<IoOnlyRate> measure_stream_io_only(Model& model, int warmup, int passes);

// The resident copy's ranges of the model file read alone (measure_resident_read); zeros for
// a model loaded without a budget.
Result<ResidentReadTime> measure_resident_read_alone(Model& model, const std::string& path);

// The ranges a load of `path` with `options` would copy into memory, planned from the file's
// header alone, read alone (measure_resident_read) with no model loaded; zeros without a
// budget.
Result<ResidentReadTime> measure_planned_resident_read(const std::string& path, const LoadOptions& options);

// Resets the stream's statistics (start of a measured region).
void reset_stream_stats(Model& model);

}  // namespace nexus
