// The HTTP front-end of `nexus serve`: OpenAI's routes on cpp-httplib, over an Engine (the
// scheduler) that does the generating.
//
//   POST /v1/chat/completions, POST /v1/completions  generation, streamed (SSE) or not
//   GET  /v1/models, /v1/models/{id}                   the one model served
//   GET  /health                                       200 while serving (no API key needed)
//   GET  /metrics                                      Prometheus text
//
// Threads: httplib serves each connection on a pool thread. A generation request is parsed
// and tokenized there, then submitted; the engine's callbacks (on its own thread) only append
// to a per-request queue that the connection's thread drains into the response, so a slow
// client never holds up the engine. A streaming client that goes away is noticed when a write
// fails (or the periodic keep-alive comment does), and its request is cancelled.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nexus/result.h"
#include "server/engine.h"
#include "server/openai_request.h"

namespace nexus::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (bind() says which)
  std::string api_key;  // "": no authentication
  std::vector<std::string> model_names;  // names a request may use; the first is the one listed
  int n_ctx_seq = 0;  // longest sequence, for the prompt-too-long message; 0: left to the engine
  size_t max_body_bytes = 8u << 20;  // larger bodies get 413
  int http_threads = 128;  // connections served at once (a streaming response holds one)
  bool verbose = false;    // one access-log line per request on stderr
};

// Tokenizes a validated request; called from many connection threads at once.
using PromptBuilder = std::function<std::optional<ApiError>(const OpenAIRequest&, GenerationRequest&)>;

class HttpServer {
 public:
  HttpServer(Engine& engine, PromptBuilder build_prompt, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port (the chosen one for port 0).
  Result<int> bind();
  // Serves until stop(); returns once every connection's thread is done.
  void run();
  // Stops accepting connections and makes /health answer 503; safe from any thread.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::server
