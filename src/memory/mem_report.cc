#include "memory/mem_report.h"

#include "memory/mem_stats.h"
#include "memory/size_parse.h"
#include "memory/tiered_weights.h"
#include "model/model_impl.h"

namespace nexus {

MemoryReport memory_report(Model& model, const std::string& path) {
  MemoryReport r;
  const ModelImpl& m = model.impl();
  r.model_bytes = m.info.weight_bytes;
  r.peak_rss = process_memory().peak_rss;
  r.proc_read_bytes = process_read_bytes();
  if (Result<uint64_t> c = file_cached_bytes(path); c.ok()) r.file_cached = *c;
  if (const TieredWeights* t = m.tiered.get()) {
    r.budgeted = true;
    r.budget = t->budget();
    r.resident_weight_bytes = t->plan().resident_bytes;
    r.streamed_plan_bytes = t->plan().streamed_bytes_per_pass;
    r.stream = t->stats();
    r.resident_read_s = t->load_read_seconds();
    if (const LayerRing* ring = t->ring()) {
      r.backend = std::string(ring->backend_name()) + (ring->direct() ? " O_DIRECT" : " buffered+DONTNEED");
    }
  }
  return r;
}

std::string format_memory_report(const MemoryReport& r) {
  std::string s = format("memory: peak_rss=%s file_cached=%s total=%s", format_size(r.peak_rss).c_str(),
                         format_size(r.file_cached).c_str(), format_size(r.peak_total()).c_str());
  if (r.budgeted)
    s += format(" budget=%s (%.1f%%)", format_size(r.budget).c_str(), 100.0 * r.peak_total() / r.budget);
  s += format(" [bytes: peak_rss=%llu file_cached=%llu budget=%llu]\n", static_cast<unsigned long long>(r.peak_rss),
              static_cast<unsigned long long>(r.file_cached), static_cast<unsigned long long>(r.budget));
  if (r.budgeted && r.streamed_plan_bytes > 0) {
    const StreamStats& st = r.stream;
    s += format("stream: %s, resident weights %s, streamed per token %s (planned %s), read bandwidth %.2f GB/s, "
                "compute waited on I/O %.2f s, I/O waited on compute %.2f s, prefetch depth %d, %llu passes\n",
                r.backend.c_str(), format_size(r.resident_weight_bytes).c_str(),
                format_size(st.bytes_per_pass()).c_str(), format_size(r.streamed_plan_bytes).c_str(),
                st.read_bandwidth() / 1e9, st.compute_wait_s, st.io_idle_s, st.depth,
                static_cast<unsigned long long>(st.passes));
  }
  return s;
}

std::string describe_memory_plan(Model& model) {
  const TieredWeights* t = model.impl().tiered.get();
  return t ? t->describe() : std::string();
}

Result<IoOnlyRate> measure_stream_io_only(Model& model, int warmup, int passes) {
  TieredWeights* t = model.impl().tiered.get();
  if (!t) return IoOnlyRate{};
  return t->measure_io_only(warmup, passes);
}

Result<ResidentReadTime> measure_resident_read_alone(Model& model, const std::string& path) {
  const TieredWeights* t = model.impl().tiered.get();
  if (!t) return ResidentReadTime{};
  return measure_resident_read(path, t->resident_extents());
}

Result<ResidentReadTime> measure_planned_resident_read(const std::string& path, const LoadOptions& options) {
  NX_ASSIGN_OR_RETURN(const std::vector<Extent> extents, planned_resident_extents(path, options));
  return measure_resident_read(path, extents);
}

void reset_stream_stats(Model& model) {
  if (TieredWeights* t = model.impl().tiered.get()) t->reset_stats();
}

}  // namespace nexus
