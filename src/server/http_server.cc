#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/metrics.h"
#include "server/openai_response.h"

namespace nexus::server {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// How long a streaming response waits for output before writing an SSE comment, which is how
// a client that went away while its request waited (queue, long prefill) is noticed.
constexpr auto kStreamPoll = std::chrono::milliseconds(1000);

ApiError server_error(int status, std::string message, std::string code) {
  ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = status >= 500 ? "server_error" : "invalid_request_error";
  e.code = std::move(code);
  return e;
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e), "application/json");
}

void send_json(httplib::Response& res, const std::string& body) {
  res.status = 200;
  res.set_content(body, "application/json");
}

// Scheduler refusals as HTTP errors: the request's fault 400, the server's state 503.
ApiError refusal_error(const SubmitResult& s) {
  switch (s.refusal) {
    case Refusal::kInvalid: return invalid_request(s.message.empty() ? "Invalid request." : s.message, "", "invalid_request");
    case Refusal::kPromptTooLong:
      return invalid_request(s.message.empty() ? "The prompt is longer than the context." : s.message, "messages",
                             "context_length_exceeded");
    case Refusal::kBusy:
      return server_error(503, s.message.empty() ? "The server is busy; retry shortly." : s.message, "server_busy");
    case Refusal::kShuttingDown:
    case Refusal::kNone: break;
  }
  return server_error(503, "The server is shutting down.", "shutting_down");
}

// A finished request that did not end with text: cancelled by shutdown, or an engine error.
ApiError unfinished_error(const GenerationResult& r) {
  if (r.finish_reason == "cancelled") return server_error(503, "The server is shutting down.", "shutting_down");
  return server_error(500, "Generation failed: " + (r.error.empty() ? r.finish_reason : r.error), "generation_error");
}

bool finished_ok(const GenerationResult& r) { return r.finish_reason == "stop" || r.finish_reason == "length"; }

// The label /metrics counts a request under: the route, not the raw path (bounded label set).
std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"})
    if (path == known) return known;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

// What a non-streaming request collects from the engine's thread.
struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  std::string text;
  std::vector<SampledToken> tokens;
  bool done = false;
  GenerationResult result;
};

// Hand-over between the engine's thread (producer) and a streaming connection (consumer).
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<GenerationEvent> events;
  bool done = false;
  GenerationResult result;
  std::atomic<bool> client_gone{false};
  uint64_t id = 0;
  bool started = false;  // the first chunk (role) was written
  bool ended = false;    // [DONE] was written
  std::unique_ptr<StreamEncoder> encoder;
};

}  // namespace

struct HttpServer::Impl {
  Engine& engine;
  PromptBuilder build_prompt;
  ServerOptions opt;
  httplib::Server http;
  RequestCounter counter;
  std::atomic<bool> stopping{false};
  std::mutex run_mu;     // orders run() and stop(), which may come first from another thread
  bool running = false;  // inside run()
  std::atomic<uint64_t> next_id{0};
  std::string id_prefix;  // random per process, so ids differ across restarts

  Impl(Engine& e, PromptBuilder b, ServerOptions o) : engine(e), build_prompt(std::move(b)), opt(std::move(o)) {
    std::random_device rd;
    std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
    id_prefix = format("%012llx", static_cast<unsigned long long>(rng() & 0xFFFFFFFFFFFFull));
  }

  std::string new_id(Endpoint ep) {
    return format("%s%s%08llx", ep == Endpoint::kChat ? "chatcmpl-" : "cmpl-", id_prefix.c_str(),
                  static_cast<unsigned long long>(next_id.fetch_add(1)));
  }

  void routes();
  bool authorized(const httplib::Request& req) const;
  void generate(Endpoint ep, const httplib::Request& req, httplib::Response& res);
  void respond_whole(GenerationRequest g, const ResponseMeta& meta, httplib::Response& res);
  void respond_stream(GenerationRequest g, const ResponseMeta& meta, httplib::Response& res);
  std::string models_json() const;
};

bool HttpServer::Impl::authorized(const httplib::Request& req) const {
  if (opt.api_key.empty()) return true;
  const std::string got = req.get_header_value("Authorization");
  const std::string want = "Bearer " + opt.api_key;
  // Compare every byte so the time taken does not tell how much of the key matched.
  unsigned diff = got.size() != want.size();
  for (size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned>(i < got.size() ? got[i] ^ want[i] : 1);
  return diff == 0;
}

std::string HttpServer::Impl::models_json() const {
  json data = json::array();
  if (!opt.model_names.empty())
    data.push_back({{"id", opt.model_names.front()}, {"object", "model"}, {"created", 0}, {"owned_by", "nexus"}});
  return dump_json(json{{"object", "list"}, {"data", data}});
}

void HttpServer::Impl::generate(Endpoint ep, const httplib::Request& req, httplib::Response& res) {
  if (req.body.size() > opt.max_body_bytes)
    return send_error(res, server_error(413,
                                        format("The request body is %zu bytes; this server accepts at most %zu.",
                                               req.body.size(), opt.max_body_bytes),
                                        "request_too_large"));
  OpenAIRequest r;
  if (auto e = parse_request(ep, req.body, r)) return send_error(res, *e);
  if (auto e = check_model(r.model, opt.model_names)) return send_error(res, *e);
  GenerationRequest g;
  if (auto e = build_prompt(r, g)) return send_error(res, *e);
  if (opt.n_ctx_seq > 0)
    if (auto e = check_context(static_cast<int>(g.prompt.size()), g.max_tokens, opt.n_ctx_seq))
      return send_error(res, *e);
  ResponseMeta meta;
  meta.endpoint = ep;
  meta.id = new_id(ep);
  meta.model = opt.model_names.empty() ? "nexus" : opt.model_names.front();
  meta.created = static_cast<int64_t>(std::time(nullptr));
  meta.logprobs = r.logprobs;
  meta.include_usage = r.include_usage;
  if (r.stream)
    respond_stream(std::move(g), meta, res);
  else
    respond_whole(std::move(g), meta, res);
}

void HttpServer::Impl::respond_whole(GenerationRequest g, const ResponseMeta& meta, httplib::Response& res) {
  auto c = std::make_shared<Collected>();
  const bool keep_tokens = meta.logprobs;
  SubmitResult s = engine.submit(
      std::move(g),
      [c, keep_tokens](const GenerationEvent& ev) {
        std::lock_guard<std::mutex> lock(c->mu);
        c->text += ev.text;
        if (keep_tokens) c->tokens.insert(c->tokens.end(), ev.tokens.begin(), ev.tokens.end());
        return true;
      },
      [c](const GenerationResult& r) {
        std::lock_guard<std::mutex> lock(c->mu);
        c->result = r;
        c->done = true;
        c->cv.notify_all();
      });
  if (s.refusal != Refusal::kNone) {
    if (s.refusal == Refusal::kBusy) res.set_header("Retry-After", "1");
    return send_error(res, refusal_error(s));
  }
  std::unique_lock<std::mutex> lock(c->mu);
  c->cv.wait(lock, [&] { return c->done; });
  if (!finished_ok(c->result)) return send_error(res, unfinished_error(c->result));
  send_json(res, completion_body(meta, c->text, c->tokens, c->result));
}

void HttpServer::Impl::respond_stream(GenerationRequest g, const ResponseMeta& meta, httplib::Response& res) {
  auto st = std::make_shared<StreamState>();
  st->encoder = std::make_unique<StreamEncoder>(meta);
  SubmitResult s = engine.submit(
      std::move(g),
      [st](const GenerationEvent& ev) {
        if (st->client_gone.load()) return false;
        std::lock_guard<std::mutex> lock(st->mu);
        st->events.push_back(ev);
        st->cv.notify_all();
        return true;
      },
      [st](const GenerationResult& r) {
        std::lock_guard<std::mutex> lock(st->mu);
        st->result = r;
        st->done = true;
        st->cv.notify_all();
      });
  if (s.refusal != Refusal::kNone) {
    if (s.refusal == Refusal::kBusy) res.set_header("Retry-After", "1");
    return send_error(res, refusal_error(s));
  }
  st->id = s.id;
  Engine* engine_ptr = &engine;
  auto client_gone = [st, engine_ptr] {
    if (!st->client_gone.exchange(true)) engine_ptr->cancel(st->id);
  };
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st, client_gone](size_t /*offset*/, httplib::DataSink& sink) {
        try {
          std::string out;
          std::deque<GenerationEvent> events;
          bool done = false;
          {
            std::unique_lock<std::mutex> lock(st->mu);
            if (!st->started) {
              st->started = true;
              out = st->encoder->start();
            }
            if (out.empty())
              st->cv.wait_for(lock, kStreamPoll, [&] { return !st->events.empty() || st->done; });
            events.swap(st->events);
            done = st->done;
          }
          for (const GenerationEvent& ev : events) out += st->encoder->delta(ev);
          if (done) {
            out += finished_ok(st->result) ? st->encoder->finish(st->result)
                                           : st->encoder->fail(unfinished_error(st->result));
          }
          // Nothing to say for a while: an SSE comment, which clients ignore, probes the socket.
          if (out.empty()) out = ": keep-alive\n\n";
          if (!sink.write(out.data(), out.size())) {
            client_gone();
            return false;
          }
          if (done) {
            st->ended = true;
            sink.done();
          }
          return true;
        } catch (...) {
          client_gone();
          return false;
        }
      },
      [st, client_gone](bool success) {
        // Connection closed before [DONE]: the client went away (or the server is stopping).
        if (!success || !st->ended) client_gone();
      });
}

void HttpServer::Impl::routes() {
  http.new_task_queue = [n = opt.http_threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  // httplib's own limit is a backstop well above ours: bodies up to it are read and answered
  // with a proper 413 JSON error by the handler; beyond it httplib refuses them itself.
  http.set_payload_max_length(opt.max_body_bytes * 4 + 4096);
  http.set_keep_alive_max_count(1000);
  http.set_keep_alive_timeout(3);  // also how long stop() may wait on an idle connection
  http.set_read_timeout(30);
  http.set_write_timeout(10);

  // Every route but /health: the API key, then `fn`, with any exception turned into a 500.
  // (The key is checked here, not in a pre-routing handler, because httplib runs that before
  // reading the body: answering then would leave the body in the socket to be misread as the
  // connection's next request.)
  auto guarded = [this](auto fn, bool needs_key = true) {
    return [this, fn, needs_key](const httplib::Request& req, httplib::Response& res) {
      try {
        if (needs_key && !authorized(req))
          return send_error(res, server_error(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'.",
                                              "invalid_api_key"));
        fn(req, res);
      } catch (const std::exception& e) {
        send_error(res, server_error(500, std::string("Internal error: ") + e.what(), "internal_error"));
      } catch (...) {
        send_error(res, server_error(500, "Internal error.", "internal_error"));
      }
    };
  };

  http.Post("/v1/chat/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
              generate(Endpoint::kChat, req, res);
            }));
  http.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
              generate(Endpoint::kCompletions, req, res);
            }));
  http.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) {
             send_json(res, models_json());
           }));
  http.Get("/v1/models/(.+)", guarded([this](const httplib::Request& req, httplib::Response& res) {
             const std::string id = req.matches[1];
             if (auto e = check_model(id, opt.model_names); e || id.empty()) {
               send_error(res, e ? *e : server_error(404, "No model id.", "model_not_found"));
               return;
             }
             send_json(res, dump_json(json{{"id", opt.model_names.front()},
                                           {"object", "model"},
                                           {"created", 0},
                                           {"owned_by", "nexus"}}));
           }));
  http.Get("/health", guarded([this](const httplib::Request&, httplib::Response& res) {
             if (stopping.load()) {
               res.status = 503;
               res.set_content("{\"status\":\"shutting down\"}", "application/json");
             } else {
               send_json(res, "{\"status\":\"ok\"}");
             }
           }, /*needs_key=*/false));
  http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
             res.status = 200;
             res.set_content(prometheus_text(counter.snapshot(), engine.metrics()), "text/plain; version=0.0.4");
           }));

  // httplib's own errors (no route, bad request line, body over its backstop) get a JSON body.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e;
    e.status = res.status;
    switch (res.status) {
      case 404: e = server_error(404, "Unknown endpoint: " + req.method + " " + req.path + ".", "unknown_url"); break;
      case 413: e = server_error(413, "The request body is too large.", "request_too_large"); break;
      case 405: e = server_error(405, "Method not allowed.", "method_not_allowed"); break;
      default:
        e = server_error(res.status, format("HTTP error %d.", res.status), res.status >= 500 ? "internal_error" : "bad_request");
        break;
    }
    e.status = res.status;
    res.set_content(error_body(e), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, server_error(500, "Internal error.", "internal_error"));
  });

  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    counter.add(endpoint_label(req.path), res.status);
    if (opt.verbose)
      std::fprintf(stderr, "%s %s %s -> %d\n", req.remote_addr.c_str(), req.method.c_str(), req.path.c_str(),
                   res.status);
  });
}

HttpServer::HttpServer(Engine& engine, PromptBuilder build_prompt, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(build_prompt), std::move(options))) {
  impl_->routes();
}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::bind() {
  Impl& s = *impl_;
  if (s.opt.port == 0) {
    const int port = s.http.bind_to_any_port(s.opt.host);
    if (port <= 0) return make_error(format("cannot listen on %s (any port)", s.opt.host.c_str()));
    return port;
  }
  if (!s.http.bind_to_port(s.opt.host, s.opt.port))
    return make_error(format("cannot listen on %s:%d (address in use, or not an address of this machine)",
                             s.opt.host.c_str(), s.opt.port));
  return s.opt.port;
}

void HttpServer::run() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.run_mu);
    if (s.stopping.load()) return;
    s.running = true;
  }
  s.http.listen_after_bind();
  std::lock_guard<std::mutex> lock(s.run_mu);
  s.running = false;
}

void HttpServer::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.run_mu);
    s.stopping.store(true);
    if (!s.running) return;  // run() has not started (and now will not) or is over
  }
  // httplib's stop() does nothing until its accept loop has started: wait for that.
  while (!s.http.is_running()) {
    {
      std::lock_guard<std::mutex> lock(s.run_mu);
      if (!s.running) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  s.http.stop();
}

}  // namespace nexus::server
