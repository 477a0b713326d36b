#include "server/metrics.h"

#include "nexus/result.h"

namespace nexus::server {

void RequestCounter::add(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[{endpoint, status}];
}

std::map<std::pair<std::string, int>, uint64_t> RequestCounter::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += format("# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}

}  // namespace

std::string prometheus_text(const std::map<std::pair<std::string, int>, uint64_t>& requests,
                            const SchedulerMetrics& m) {
  std::string out;
  out += "# HELP nexus_requests_total HTTP requests answered, by endpoint and status code.\n";
  out += "# TYPE nexus_requests_total counter\n";
  for (const auto& [key, n] : requests)
    out += format("nexus_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", key.first.c_str(), key.second,
                  static_cast<unsigned long long>(n));
  metric(out, "nexus_prompt_tokens_total", "counter", "Prompt tokens of finished and running requests.",
         static_cast<double>(m.prompt_tokens_total));
  metric(out, "nexus_prompt_tokens_reused_total", "counter", "Prompt tokens whose KV came from the prefix cache.",
         static_cast<double>(m.prompt_tokens_reused_total));
  metric(out, "nexus_generated_tokens_total", "counter", "Tokens generated.",
         static_cast<double>(m.generated_tokens_total));
  metric(out, "nexus_requests_preempted_total", "counter", "Sequences preempted for KV memory and recomputed.",
         static_cast<double>(m.requests_preempted_total));
  metric(out, "nexus_tokens_per_second", "gauge", "Generated tokens per second over the last steps.",
         m.decode_tokens_per_s);
  metric(out, "nexus_queue_depth", "gauge", "Requests waiting for a sequence slot.", m.queue_depth);
  metric(out, "nexus_active_sequences", "gauge", "Sequences running.", m.active_sequences);
  metric(out, "nexus_kv_blocks_used", "gauge", "KV blocks held by running sequences.", m.kv_blocks_used);
  metric(out, "nexus_kv_blocks_cached", "gauge", "Free KV blocks still holding a reusable prefix.",
         m.kv_blocks_cached);
  metric(out, "nexus_kv_blocks_total", "gauge", "KV blocks in the pool.", m.kv_blocks_total);
  metric(out, "nexus_kv_block_tokens", "gauge", "Tokens per KV block.", m.kv_block_tokens);
  return out;
}

}  // namespace nexus::server
