// Progress line for long operations (loading, quantizing, perplexity): redrawn in place on
// stderr when stderr is a terminal, silent when it is piped or redirected.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace nexus {

class Progress {
 public:
  // `label` prefixes the line; `total` is the number of steps (0 = unknown).
  Progress(std::string label, int64_t total);
  ~Progress();  // finishes the line if anything was drawn

  // Sets the step count done so far and an optional detail (e.g. a tensor name).
  void update(int64_t done, const std::string& detail = "");
  void finish();
  bool enabled() const { return enabled_; }

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace nexus
