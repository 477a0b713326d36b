// The HTTP front-end against a scripted engine (no model): routes, API key, errors in
// OpenAI's shape, scheduler refusals, streaming, a client that hangs up mid-stream (its
// request is cancelled), a handler that throws (500, server still up), shutdown.
#include "server/http_server.h"

#include <httplib.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

namespace nexus::server {
namespace {

using json = nlohmann::json;

// Prompt tokens that script the engine's answer.
constexpr int32_t kBusy = 1000, kShutting = 1001, kTooLong = 1002, kEndless = 1003, kSilent = 1004;

// One token per step, every 2 ms: "w0 w1 ...", max_tokens (default 5) of them, or without end
// for kEndless; kSilent produces nothing (a request stuck in the queue or a long prefill).
// Refusals when the prompt starts with a scripted token.
class FakeEngine : public Engine {
 public:
  FakeEngine() : thread_([this] { loop(); }) {}
  ~FakeEngine() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    thread_.join();
  }

  SubmitResult submit(GenerationRequest r, std::function<bool(const GenerationEvent&)> on_event,
                      std::function<void(const GenerationResult&)> on_done) override {
    SubmitResult s;
    switch (r.prompt.front()) {
      case kBusy: s.refusal = Refusal::kBusy; s.message = "queue full"; return s;
      case kShutting: s.refusal = Refusal::kShuttingDown; return s;
      case kTooLong: s.refusal = Refusal::kPromptTooLong; s.message = "prompt of 9000 tokens > 512"; return s;
      default: break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    s.id = ++next_id_;
    Seq q;
    q.req = std::move(r);
    q.on_event = std::move(on_event);
    q.on_done = std::move(on_done);
    seqs_[s.id] = std::move(q);
    return s;
  }
  void cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_requested_.insert(id);
  }
  SchedulerMetrics metrics() const override {
    std::lock_guard<std::mutex> lock(mu_);
    SchedulerMetrics m;
    m.active_sequences = static_cast<int>(seqs_.size());
    m.kv_blocks_total = 16;
    return m;
  }
  void shutdown(std::chrono::milliseconds) override {}

  std::set<uint64_t> cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }
  int active() const { return metrics().active_sequences; }
  GenerationRequest last_request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  struct Seq {
    GenerationRequest req;
    std::function<bool(const GenerationEvent&)> on_event;
    std::function<void(const GenerationResult&)> on_done;
    int produced = 0;
  };

  void loop() {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::lock_guard<std::mutex> lock(mu_);
      if (quit_) {
        for (auto& [id, q] : seqs_) q.on_done(finish(q, "cancelled"));
        return;
      }
      for (auto it = seqs_.begin(); it != seqs_.end();) {
        Seq& q = it->second;
        last_ = q.req;
        bool cancelled = cancel_requested_.count(it->first) > 0;
        const int limit = q.req.prompt.front() == kEndless ? 1 << 30 : (q.req.max_tokens < 0 ? 5 : q.req.max_tokens);
        if (!cancelled && q.req.prompt.front() == kSilent) {
          ++it;
          continue;
        }
        if (!cancelled) {
          GenerationEvent ev;
          ev.text = (q.produced ? " w" : "w") + std::to_string(q.produced);
          SampledToken t;
          t.chosen = {q.produced, ev.text, -0.5f};
          for (int k = 0; k < std::max(q.req.top_logprobs, 0); ++k) t.top.push_back({k, "alt" + std::to_string(k), -1.0f - k});
          ev.tokens.push_back(t);
          ++q.produced;
          cancelled = !q.on_event(ev);
        }
        if (cancelled || q.produced >= limit) {
          if (cancelled) cancelled_.insert(it->first);
          q.on_done(finish(q, cancelled ? "cancelled" : "length"));
          it = seqs_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  static GenerationResult finish(const Seq& q, const char* reason) {
    GenerationResult r;
    r.finish_reason = reason;
    r.prompt_tokens = static_cast<int>(q.req.prompt.size());
    r.completion_tokens = q.produced;
    return r;
  }

  mutable std::mutex mu_;
  bool quit_ = false;
  uint64_t next_id_ = 0;
  std::map<uint64_t, Seq> seqs_;
  std::set<uint64_t> cancel_requested_, cancelled_;
  GenerationRequest last_;
  std::thread thread_;
};

// Prompt = the bytes of the last message / the prompt; scripted words map to scripted tokens.
std::optional<ApiError> fake_prompt(const OpenAIRequest& r, GenerationRequest& g) {
  const std::string text = r.endpoint == Endpoint::kChat ? r.messages.back().content : r.prompt;
  if (text == "throw") throw std::runtime_error("scripted failure");
  static const std::map<std::string, int32_t> scripted = {
      {"busy", kBusy}, {"shutting", kShutting}, {"toolong", kTooLong}, {"endless", kEndless}, {"silent", kSilent}};
  g = GenerationRequest{};
  if (auto it = scripted.find(text); it != scripted.end())
    g.prompt = {it->second};
  else
    for (unsigned char c : text) g.prompt.push_back(c);
  g.max_tokens = r.max_tokens;
  g.sampling = r.sampling;
  g.stop = r.stop;
  g.top_logprobs = r.logprobs ? r.top_logprobs : -1;
  return std::nullopt;
}

class ServerHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.port = 0;
    o.api_key = "sekret";
    o.model_names = {"stories", "stories260K.gguf"};
    o.n_ctx_seq = 64;
    o.max_body_bytes = 4096;
    o.http_threads = 16;
    server_ = std::make_unique<HttpServer>(engine_, fake_prompt, o);
    Result<int> port = server_->bind();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  httplib::Client client(bool with_key = true) {
    httplib::Client c("127.0.0.1", port_);
    if (with_key) c.set_default_headers({{"Authorization", "Bearer sekret"}});
    c.set_read_timeout(10);
    return c;
  }

  httplib::Result post(const std::string& path, const std::string& body, bool with_key = true) {
    return client(with_key).Post(path.c_str(), body, "application/json");
  }

  // Status and parsed "error" object of an error response.
  static void expect_error(const httplib::Result& r, int status, const std::string& code) {
    ASSERT_TRUE(r) << "no response";
    EXPECT_EQ(r->status, status) << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    ASSERT_TRUE(j.contains("error")) << r->body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    EXPECT_TRUE(j["error"]["type"].is_string());
    if (!code.empty()) {
      EXPECT_EQ(j["error"]["code"], code) << r->body;
    }
  }

  FakeEngine engine_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ServerHttp, HealthNeedsNoKeyButEverythingElseDoes) {
  auto h = client(false).Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  expect_error(client(false).Get("/v1/models"), 401, "invalid_api_key");
  expect_error(post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})", false), 401,
               "invalid_api_key");
  httplib::Client wrong("127.0.0.1", port_);
  wrong.set_default_headers({{"Authorization", "Bearer sekreT"}});
  expect_error(wrong.Get("/metrics"), 401, "invalid_api_key");
  auto m = client().Get("/v1/models");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  json j = json::parse(m->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "stories");
  EXPECT_EQ(client().Get("/v1/models/stories")->status, 200);
  expect_error(client().Get("/v1/models/other"), 404, "model_not_found");
}

TEST_F(ServerHttp, ChatCompletion) {
  auto r = post("/v1/chat/completions",
                R"({"model":"stories","messages":[{"role":"user","content":"abc"}],"max_tokens":3})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "w0 w1 w2");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
}

TEST_F(ServerHttp, CompletionWithLogprobs) {
  auto r = post("/v1/completions", R"({"prompt":"ab","max_tokens":2,"logprobs":2})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["text"], "w0 w1");
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"], json({"w0", " w1"}));
  EXPECT_EQ(j["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(engine_.last_request().top_logprobs, 2);
}

TEST_F(ServerHttp, StreamingChat) {
  httplib::Client c = client();
  std::string body;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.set_header("Authorization", "Bearer sekret");
  req.set_header("Content-Type", "application/json");
  req.body = R"({"messages":[{"role":"user","content":"abc"}],"max_tokens":4,"stream":true,)"
             R"("stream_options":{"include_usage":true}})";
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    body.append(d, n);
    return true;
  };
  httplib::Response res;
  httplib::Error err;
  ASSERT_TRUE(c.send(req, res, err)) << static_cast<int>(err);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.get_header_value("Content-Type"), "text/event-stream");
  std::string text;
  std::vector<std::string> datas;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    datas.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  ASSERT_GE(datas.size(), 4u);
  EXPECT_EQ(datas.back(), "[DONE]");
  json usage = json::parse(datas[datas.size() - 2]);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 4);
  for (size_t i = 0; i + 2 < datas.size(); ++i) {
    json j = json::parse(datas[i]);
    const json& d = j["choices"][0]["delta"];
    if (d.contains("content")) text += d["content"].get<std::string>();
  }
  EXPECT_EQ(text, "w0 w1 w2 w3");
}

TEST_F(ServerHttp, ClientHangingUpCancelsTheRequest) {
  httplib::Client c = client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.set_header("Authorization", "Bearer sekret");
  req.set_header("Content-Type", "application/json");
  req.body = R"({"messages":[{"role":"user","content":"endless"}],"stream":true})";
  size_t received = 0;
  req.content_receiver = [&](const char*, size_t n, uint64_t, uint64_t) {
    received += n;
    return received < 300;  // false: the client aborts and closes the connection
  };
  httplib::Response res;
  httplib::Error err;
  c.send(req, res, err);
  c.stop();
  EXPECT_GE(received, 300u);
  // Cancelled within a few engine steps; give the socket a moment.
  for (int i = 0; i < 200 && engine_.cancelled().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(engine_.cancelled().size(), 1u);
  EXPECT_EQ(engine_.active(), 0);
}

TEST_F(ServerHttp, SilentStreamGetsKeepAlivesAndHangingUpCancelsIt) {
  httplib::Client c = client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.set_header("Authorization", "Bearer sekret");
  req.set_header("Content-Type", "application/json");
  req.body = R"({"prompt":"silent","stream":true})";
  std::string got;
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    got.append(d, n);
    return false;  // hang up at the first bytes: the SSE comment sent while nothing happens
  };
  httplib::Response res;
  httplib::Error err;
  c.send(req, res, err);
  c.stop();
  EXPECT_EQ(got, ": keep-alive\n\n");
  // The next keep-alive write fails (within ~1 s) and cancels the request.
  for (int i = 0; i < 400 && engine_.cancelled().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(engine_.cancelled().size(), 1u);
  EXPECT_EQ(engine_.active(), 0);
}

TEST_F(ServerHttp, ErrorsInOpenAIShape) {
  expect_error(post("/v1/chat/completions", "{not json"), 400, "invalid_json");
  expect_error(post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"a"}],"temperature":"x"})"),
               400, "invalid_type");
  expect_error(post("/v1/chat/completions", R"({"messages":[{"role":"wizard","content":"a"}]})"), 400,
               "invalid_value");
  expect_error(post("/v1/chat/completions", R"({"model":"gpt-4","messages":[{"role":"user","content":"a"}]})"), 404,
               "model_not_found");
  expect_error(post("/v1/chat/completions",
                    R"({"messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_object"}})"),
               400, "unsupported_parameter");
  // Over n_ctx_seq (64) by our own count, and by the engine's.
  auto r = post("/v1/completions", R"({"prompt":")" + std::string(70, 'x') + R"("})");
  expect_error(r, 400, "context_length_exceeded");
  EXPECT_NE(r->body.find("70"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("64"), std::string::npos) << r->body;
  expect_error(post("/v1/completions", R"({"prompt":"toolong"})"), 400, "context_length_exceeded");
  // Body over max_body_bytes (4096).
  expect_error(post("/v1/completions", R"({"prompt":")" + std::string(5000, 'x') + R"("})"), 413,
               "request_too_large");
  expect_error(client().Get("/nope"), 404, "unknown_url");
}

TEST_F(ServerHttp, RefusalsAre503) {
  auto r = post("/v1/completions", R"({"prompt":"busy"})");
  expect_error(r, 503, "server_busy");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  expect_error(post("/v1/completions", R"({"prompt":"shutting"})"), 503, "shutting_down");
  expect_error(post("/v1/completions", R"({"prompt":"busy","stream":true})"), 503, "server_busy");
}

TEST_F(ServerHttp, HandlerExceptionIs500AndServerLivesOn) {
  expect_error(post("/v1/completions", R"({"prompt":"throw"})"), 500, "internal_error");
  auto r = post("/v1/completions", R"({"prompt":"ok","max_tokens":1})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerHttp, MetricsCountRequests) {
  post("/v1/completions", R"({"prompt":"ok","max_tokens":1})");
  post("/v1/completions", "{");
  // A request is counted once its response is written, a moment after the client has it.
  const std::string ok_line = "nexus_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1";
  httplib::Result m = client().Get("/metrics");
  for (int i = 0; i < 100 && m && m->body.find(ok_line) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    m = client().Get("/metrics");
  }
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("nexus_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1"), std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("nexus_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1"), std::string::npos);
  EXPECT_NE(m->body.find("nexus_kv_blocks_total 16"), std::string::npos);
}

TEST_F(ServerHttp, StopMakesHealthFailAndRunReturn) {
  server_->stop();
  thread_.join();
  httplib::Client c("127.0.0.1", port_);
  c.set_connection_timeout(1);
  auto h = c.Get("/health");
  EXPECT_FALSE(h && h->status == 200);
}

}  // namespace
}  // namespace nexus::server
