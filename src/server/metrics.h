// The server's /metrics page: HTTP request counts (by endpoint and status) kept here, the
// engine's counters and gauges (tokens, queue, sequences, KV blocks) read from its
// SchedulerMetrics, written in the Prometheus text exposition format.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "server/scheduler.h"

namespace nexus::server {

// Thread-safe counts of answered requests.
class RequestCounter {
 public:
  void add(const std::string& endpoint, int status);
  std::map<std::pair<std::string, int>, uint64_t> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> counts_;
};

std::string prometheus_text(const std::map<std::pair<std::string, int>, uint64_t>& requests,
                            const SchedulerMetrics& m);

}  // namespace nexus::server
