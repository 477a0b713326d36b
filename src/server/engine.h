// What the HTTP front-end needs of the generation engine: the Scheduler's interface, as an
// abstract class so the server can be tested against a scripted engine without a model.
// cmd_serve.cc adapts the real Scheduler to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "server/scheduler.h"

namespace nexus::server {

class Engine {
 public:
  virtual ~Engine() = default;
  // Same contract as Scheduler::submit: on_event / on_done run on the engine's thread; on_done
  // exactly once, last, and never when the request is refused.
  virtual SubmitResult submit(GenerationRequest request, std::function<bool(const GenerationEvent&)> on_event,
                              std::function<void(const GenerationResult&)> on_done) = 0;
  virtual void cancel(uint64_t id) = 0;
  virtual SchedulerMetrics metrics() const = 0;
  virtual void shutdown(std::chrono::milliseconds deadline) = 0;
};

}  // namespace nexus::server
