// Response JSON in OpenAI's shapes: error bodies, whole completions, SSE chunk sequences,
// logprobs (chat and completions), usage, and the Prometheus page.
#include "server/openai_response.h"

#include <gtest/gtest.h>

#include "server/metrics.h"

namespace nexus::server {
namespace {

using json = nlohmann::json;

SampledToken tok(int32_t id, std::string piece, float lp, std::vector<TokenLogprob> top = {}) {
  SampledToken t;
  t.chosen = {id, std::move(piece), lp};
  t.top = std::move(top);
  return t;
}

GenerationResult result(const char* finish, int prompt, int completion, int cached = 0) {
  GenerationResult r;
  r.finish_reason = finish;
  r.prompt_tokens = prompt;
  r.completion_tokens = completion;
  r.cached_tokens = cached;
  return r;
}

ResponseMeta meta(Endpoint ep, bool logprobs = false, bool usage = false) {
  ResponseMeta m;
  m.endpoint = ep;
  m.id = ep == Endpoint::kChat ? "chatcmpl-1" : "cmpl-1";
  m.model = "stories";
  m.created = 1700000000;
  m.logprobs = logprobs;
  m.include_usage = usage;
  return m;
}

// The JSON payloads of a run of SSE events ("[DONE]" as the string "[DONE]").
std::vector<json> events(const std::string& sse) {
  std::vector<json> out;
  size_t pos = 0;
  while (pos < sse.size()) {
    EXPECT_EQ(sse.compare(pos, 6, "data: "), 0) << sse.substr(pos);
    const size_t end = sse.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos);
    if (end == std::string::npos) break;
    const std::string data = sse.substr(pos + 6, end - pos - 6);
    out.push_back(data == "[DONE]" ? json("[DONE]") : json::parse(data));
    pos = end + 2;
  }
  return out;
}

TEST(ServerResponse, ErrorBody) {
  ApiError e;
  e.status = 404;
  e.message = "The model 'x' does not exist.";
  e.code = "model_not_found";
  e.param = "model";
  json j = json::parse(error_body(e));
  EXPECT_EQ(j["error"]["message"], e.message);
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["code"], "model_not_found");
  EXPECT_EQ(j["error"]["param"], "model");
  ApiError bare;
  bare.message = "m";
  j = json::parse(error_body(bare));
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_TRUE(j["error"]["param"].is_null());
}

TEST(ServerResponse, ChatCompletionBody) {
  json j = json::parse(completion_body(meta(Endpoint::kChat), "Once upon", {}, result("length", 10, 4, 6)));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["model"], "stories");
  EXPECT_EQ(j["created"], 1700000000);
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Once upon");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
  EXPECT_EQ(j["usage"]["total_tokens"], 14);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 6);
}

TEST(ServerResponse, ChatLogprobs) {
  std::vector<SampledToken> toks = {tok(5, "Once", -0.25f, {{5, "Once", -0.25f}, {7, "One", -2.0f}}),
                                    tok(9, "\xe2\x96", -1.5f, {{9, "\xe2\x96", -1.5f}})};
  json j = json::parse(completion_body(meta(Endpoint::kChat, true), "Once", toks, result("stop", 3, 2)));
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["token"], "Once");
  EXPECT_FLOAT_EQ(content[0]["logprob"].get<float>(), -0.25f);
  EXPECT_EQ(content[0]["bytes"], json({79, 110, 99, 101}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][1]["token"], "One");
  EXPECT_FLOAT_EQ(content[0]["top_logprobs"][1]["logprob"].get<float>(), -2.0f);
  // Part of a UTF-8 character: the token text is replaced, the bytes are exact.
  EXPECT_EQ(content[1]["bytes"], json({0xe2, 0x96}));
  EXPECT_TRUE(content[1]["token"].is_string());
}

TEST(ServerResponse, CompletionBodyAndLogprobs) {
  std::vector<SampledToken> toks = {tok(1, " a", -0.5f, {{1, " a", -0.5f}, {2, " b", -1.0f}}),
                                    tok(3, "bc", -0.75f, {{3, "bc", -0.75f}, {4, "x", -3.0f}})};
  json j = json::parse(completion_body(meta(Endpoint::kCompletions, true), " abc", toks, result("stop", 4, 2)));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], " abc");
  const json& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json({" a", "bc"}));
  EXPECT_EQ(lp["token_logprobs"], json({-0.5, -0.75}));
  EXPECT_EQ(lp["text_offset"], json({0, 2}));
  ASSERT_EQ(lp["top_logprobs"].size(), 2u);
  EXPECT_EQ(lp["top_logprobs"][0][" b"], -1.0);
  EXPECT_EQ(lp["top_logprobs"][1]["x"], -3.0);
  EXPECT_EQ(j["usage"]["total_tokens"], 6);
}

TEST(ServerResponse, NonFiniteLogprobIsClamped) {
  std::vector<SampledToken> toks = {tok(1, "a", -std::numeric_limits<float>::infinity())};
  json j = json::parse(completion_body(meta(Endpoint::kChat, true), "a", toks, result("stop", 1, 1)));
  EXPECT_TRUE(j["choices"][0]["logprobs"]["content"][0]["logprob"].is_number());
}

TEST(ServerResponse, ChatStream) {
  StreamEncoder enc(meta(Endpoint::kChat));
  std::string sse = enc.start();
  GenerationEvent e1;
  e1.text = "Once";
  e1.tokens = {tok(1, "Once", -0.1f)};
  sse += enc.delta(e1);
  GenerationEvent held;  // a stop-string prefix held back: nothing to send
  held.tokens = {tok(2, " up", -0.2f)};
  EXPECT_EQ(enc.delta(held), "");
  GenerationEvent e2;
  e2.text = " upon";
  sse += enc.delta(e2);
  sse += enc.finish(result("stop", 5, 3));
  std::vector<json> ev = events(sse);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(ev[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(ev[1]["choices"][0]["delta"]["content"], "Once");
  EXPECT_TRUE(ev[1]["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(ev[1]["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(ev[2]["choices"][0]["delta"]["content"], " upon");
  EXPECT_EQ(ev[3]["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(ev[3]["choices"][0]["delta"].empty());
  EXPECT_EQ(ev[4], "[DONE]");
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ev[i]["id"], "chatcmpl-1");
    EXPECT_FALSE(ev[i].contains("usage"));
  }
}

TEST(ServerResponse, ChatStreamWithUsageAndLogprobs) {
  StreamEncoder enc(meta(Endpoint::kChat, true, true));
  std::string sse = enc.start();
  GenerationEvent held;  // no text yet, but logprobs were asked for: the tokens still go out
  held.tokens = {tok(2, " up", -0.2f, {{2, " up", -0.2f}})};
  sse += enc.delta(held);
  sse += enc.finish(result("length", 5, 1, 2));
  std::vector<json> ev = events(sse);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[1]["choices"][0]["delta"]["content"], "");
  EXPECT_EQ(ev[1]["choices"][0]["logprobs"]["content"][0]["token"], " up");
  EXPECT_TRUE(ev[1]["usage"].is_null());
  EXPECT_EQ(ev[2]["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(ev[3]["choices"].empty());
  EXPECT_EQ(ev[3]["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(ev[3]["usage"]["completion_tokens"], 1);
  EXPECT_EQ(ev[3]["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  EXPECT_EQ(ev[4], "[DONE]");
}

TEST(ServerResponse, CompletionStreamOffsets) {
  StreamEncoder enc(meta(Endpoint::kCompletions, true));
  EXPECT_EQ(enc.start(), "");
  GenerationEvent a;
  a.text = "ab";
  a.tokens = {tok(1, "a", -1), tok(2, "b", -1)};
  GenerationEvent b;
  b.text = "cd";
  b.tokens = {tok(3, "cd", -1)};
  std::string sse = enc.delta(a);  // one call per statement: the encoder's state is ordered
  sse += enc.delta(b);
  sse += enc.finish(result("stop", 1, 3));
  std::vector<json> ev = events(sse);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0]["object"], "text_completion");
  EXPECT_EQ(ev[0]["choices"][0]["text"], "ab");
  EXPECT_EQ(ev[0]["choices"][0]["logprobs"]["text_offset"], json({0, 1}));
  EXPECT_EQ(ev[1]["choices"][0]["logprobs"]["text_offset"], json({2}));
  EXPECT_EQ(ev[2]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(ev[3], "[DONE]");
}

TEST(ServerResponse, StreamFailure) {
  StreamEncoder enc(meta(Endpoint::kChat));
  ApiError e;
  e.status = 503;
  e.type = "server_error";
  e.message = "shutting down";
  std::vector<json> ev = events(enc.fail(e));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0]["error"]["message"], "shutting down");
  EXPECT_EQ(ev[1], "[DONE]");
}

TEST(ServerResponse, PrometheusText) {
  RequestCounter c;
  c.add("/v1/chat/completions", 200);
  c.add("/v1/chat/completions", 200);
  c.add("/v1/completions", 400);
  SchedulerMetrics m;
  m.active_sequences = 2;
  m.queue_depth = 3;
  m.kv_blocks_used = 10;
  m.kv_blocks_cached = 4;
  m.kv_blocks_total = 64;
  m.prompt_tokens_total = 1234;
  m.prompt_tokens_reused_total = 1000;
  m.generated_tokens_total = 77;
  m.decode_tokens_per_s = 12.5;
  const std::string t = prometheus_text(c.snapshot(), m);
  for (const char* line : {
           "nexus_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2\n",
           "nexus_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1\n",
           "nexus_prompt_tokens_total 1234\n",
           "nexus_prompt_tokens_reused_total 1000\n",
           "nexus_generated_tokens_total 77\n",
           "nexus_tokens_per_second 12.5\n",
           "nexus_queue_depth 3\n",
           "nexus_active_sequences 2\n",
           "nexus_kv_blocks_used 10\n",
           "nexus_kv_blocks_cached 4\n",
           "nexus_kv_blocks_total 64\n",
           "# TYPE nexus_generated_tokens_total counter\n",
           "# TYPE nexus_queue_depth gauge\n",
       })
    EXPECT_NE(t.find(line), std::string::npos) << line << "\n---\n" << t;
}

}  // namespace
}  // namespace nexus::server
