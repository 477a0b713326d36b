// OpenAI request bodies -> OpenAIRequest / GenerationRequest: strict types, ranges, refused
// features, model names, the context check, and tokenization on stories260K.
#include "server/openai_request.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace nexus::server {
namespace {

constexpr const char* kStories = "models/stories260K.gguf";

// Parses `body`; returns the error (status 0 when it parsed).
ApiError parse_error(Endpoint ep, const std::string& body) {
  OpenAIRequest r;
  std::optional<ApiError> e = parse_request(ep, body, r);
  if (!e) return ApiError{0, "", "", "", ""};
  return *e;
}

OpenAIRequest parse_ok(Endpoint ep, const std::string& body) {
  OpenAIRequest r;
  std::optional<ApiError> e = parse_request(ep, body, r);
  EXPECT_FALSE(e.has_value()) << (e ? e->message : "") << "\nbody: " << body;
  return r;
}

const char* kChatOk = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

TEST(ServerRequest, MalformedJsonIs400) {
  for (const char* body : {"", "{", "{\"messages\": [}", "not json", "{\"a\":1,}"}) {
    ApiError e = parse_error(Endpoint::kChat, body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.code, "invalid_json") << body;
    EXPECT_EQ(e.type, "invalid_request_error");
  }
  ApiError e = parse_error(Endpoint::kChat, "[1,2]");
  EXPECT_EQ(e.status, 400);
  EXPECT_NE(e.message.find("object"), std::string::npos);
}

TEST(ServerRequest, WrongFieldTypesAre400) {
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({"messages":"hi"})", "messages"},
      {R"({"messages":[{"role":"user","content":"hi"}],"temperature":"hot"})", "temperature"},
      {R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":1.5})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":"10"})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"hi"}],"stream":"yes"})", "stream"},
      {R"({"messages":[{"role":"user","content":"hi"}],"stop":5})", "stop"},
      {R"({"messages":[{"role":"user","content":"hi"}],"stop":["a",1]})", "stop"},
      {R"({"messages":[{"role":"user","content":"hi"}],"seed":"x"})", "seed"},
      {R"({"messages":[{"role":"user","content":"hi"}],"model":7})", "model"},
      {R"({"messages":[{"role":"user","content":"hi"}],"logprobs":1})", "logprobs"},
      {R"({"messages":[{"role":5,"content":"hi"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user","content":42}]})", "messages[0].content"},
      {R"({"messages":[7]})", "messages[0]"},
  };
  for (const Case& c : cases) {
    ApiError e = parse_error(Endpoint::kChat, c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    EXPECT_EQ(e.code, "invalid_type") << c.body;
    EXPECT_NE(e.message.find(c.param), std::string::npos) << e.message;
  }
}

TEST(ServerRequest, OutOfRangeValuesAre400) {
  for (const char* body : {
           R"({"messages":[{"role":"user","content":"hi"}],"temperature":3})",
           R"({"messages":[{"role":"user","content":"hi"}],"top_p":1.5})",
           R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":0})",
           R"({"messages":[{"role":"user","content":"hi"}],"presence_penalty":-5})",
           R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":50})",
           R"({"messages":[]})",
       }) {
    ApiError e = parse_error(Endpoint::kChat, body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(ServerRequest, UnknownRoleIs400) {
  ApiError e = parse_error(Endpoint::kChat, R"({"messages":[{"role":"wizard","content":"hi"}]})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "messages[0].role");
  EXPECT_NE(e.message.find("'wizard'"), std::string::npos) << e.message;
}

TEST(ServerRequest, MissingFieldsAre400) {
  EXPECT_EQ(parse_error(Endpoint::kChat, "{}").code, "missing_required_parameter");
  EXPECT_EQ(parse_error(Endpoint::kCompletions, "{}").code, "missing_required_parameter");
  EXPECT_EQ(parse_error(Endpoint::kChat, R"({"messages":[{"content":"x"}]})").param, "messages[0].role");
  EXPECT_EQ(parse_error(Endpoint::kChat, R"({"messages":[{"role":"user"}]})").param, "messages[0].content");
  // An assistant turn may come without content (tool calls).
  parse_ok(Endpoint::kChat, R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":null}]})");
}

TEST(ServerRequest, UnsupportedFeaturesAreRefused) {
  struct Case {
    Endpoint ep;
    const char* body;
    const char* param;
  } cases[] = {
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}})",
       "response_format"},
      {Endpoint::kChat,
       R"({"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{}}})",
       "response_format"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"hi"}],"n":2})", "n"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]})", "tools"},
      {Endpoint::kChat, R"({"messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":5}})", "logit_bias"},
      {Endpoint::kChat,
       R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})",
       "messages[0].content[0].type"},
      {Endpoint::kCompletions, R"({"prompt":"a","echo":true})", "echo"},
      {Endpoint::kCompletions, R"({"prompt":"a","best_of":3})", "best_of"},
      {Endpoint::kCompletions, R"({"prompt":["a","b"]})", "prompt"},
  };
  for (const Case& c : cases) {
    ApiError e = parse_error(c.ep, c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    EXPECT_NE(e.message.find("not supported"), std::string::npos) << e.message;
  }
  // The harmless forms of the same fields pass.
  parse_ok(Endpoint::kChat,
           R"({"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text"},"n":1,"tools":[],)"
           R"("logit_bias":{}})");
}

TEST(ServerRequest, ChatFieldsAreRead) {
  OpenAIRequest r = parse_ok(Endpoint::kChat, R"({
    "model": "stories", "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "once "}, {"type": "text", "text": "upon"}]}],
    "max_completion_tokens": 7, "temperature": 0.5, "top_p": 0.9, "seed": -1, "stop": "\n",
    "presence_penalty": 0.5, "frequency_penalty": -0.5, "logprobs": true, "top_logprobs": 3,
    "stream": true, "stream_options": {"include_usage": true}, "top_k": 5, "user": "u1"})");
  EXPECT_EQ(r.model, "stories");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "once upon");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.seed, ~uint64_t{0});
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(r.sampling.top_k, 5);
  ASSERT_EQ(r.stop.size(), 1u);
  EXPECT_EQ(r.stop[0], "\n");
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(ServerRequest, DefaultsAreOpenAIs) {
  OpenAIRequest r = parse_ok(Endpoint::kChat, kChatOk);
  EXPECT_EQ(r.max_tokens, -1);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.logprobs);
  // null means "not given".
  OpenAIRequest n = parse_ok(Endpoint::kChat,
                             R"({"messages":[{"role":"user","content":"hi"}],"temperature":null,"stop":null,)"
                             R"("max_tokens":null,"seed":null})");
  EXPECT_FLOAT_EQ(n.sampling.temperature, 1.0f);
  EXPECT_EQ(n.max_tokens, -1);
}

TEST(ServerRequest, StreamOptionsNeedStreamAndTopLogprobsNeedLogprobs) {
  EXPECT_EQ(parse_error(Endpoint::kChat,
                        R"({"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}})")
                .param,
            "stream_options");
  EXPECT_EQ(parse_error(Endpoint::kChat, R"({"messages":[{"role":"user","content":"hi"}],"top_logprobs":2})").param,
            "top_logprobs");
}

TEST(ServerRequest, CompletionPrompts) {
  OpenAIRequest a = parse_ok(Endpoint::kCompletions, R"({"prompt":"Once upon","logprobs":2,"stop":["x","y"]})");
  EXPECT_EQ(a.prompt, "Once upon");
  EXPECT_FALSE(a.prompt_is_tokens);
  EXPECT_TRUE(a.logprobs);
  EXPECT_EQ(a.top_logprobs, 2);
  EXPECT_EQ(a.stop.size(), 2u);
  OpenAIRequest b = parse_ok(Endpoint::kCompletions, R"({"prompt":["only one"]})");
  EXPECT_EQ(b.prompt, "only one");
  OpenAIRequest c = parse_ok(Endpoint::kCompletions, R"({"prompt":[1,2,3]})");
  EXPECT_TRUE(c.prompt_is_tokens);
  EXPECT_EQ(c.prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse_error(Endpoint::kCompletions, R"({"prompt":[1,-2]})").status, 400);
  EXPECT_EQ(parse_error(Endpoint::kCompletions, R"({"prompt":5})").code, "invalid_type");
  EXPECT_EQ(parse_error(Endpoint::kCompletions, R"({"prompt":"a","logprobs":true})").code, "invalid_type");
  EXPECT_EQ(parse_ok(Endpoint::kCompletions, R"({"prompt":"a","seed":18446744073709551615})").sampling.seed,
            ~uint64_t{0});
  EXPECT_EQ(parse_ok(Endpoint::kCompletions, R"({"prompt":"a","seed":42})").sampling.seed, 42u);
}

TEST(ServerRequest, ModelNames) {
  const std::vector<std::string> served = {"stories", "stories260K.gguf"};
  EXPECT_FALSE(check_model("", served));
  EXPECT_FALSE(check_model("stories", served));
  EXPECT_FALSE(check_model("stories260K.gguf", served));
  std::optional<ApiError> e = check_model("gpt-4o", served);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 404);
  EXPECT_EQ(e->code, "model_not_found");
  EXPECT_NE(e->message.find("gpt-4o"), std::string::npos);
}

TEST(ServerRequest, ContextCheckGivesCounts) {
  EXPECT_FALSE(check_context(100, 28, 128));
  EXPECT_FALSE(check_context(127, -1, 128));
  std::optional<ApiError> e = check_context(100, 50, 128);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->code, "context_length_exceeded");
  EXPECT_NE(e->message.find("128"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("150"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("100"), std::string::npos) << e->message;
  e = check_context(600, -1, 512);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("600"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("512"), std::string::npos) << e->message;
}

TEST(ServerRequest, BuildGenerationTokenizes) {
  NEXUS_REQUIRE_SHARED(kStories);
  Result<std::shared_ptr<Model>> m = Model::load(test::shared_file(kStories));
  ASSERT_TRUE(m.ok()) << m.error().message;
  Model& model = **m;
  Result<std::string> src = builtin_chat_template("chatml");
  ASSERT_TRUE(src.ok());
  Result<ChatPrompt> chat = ChatPrompt::create(model, *src);
  ASSERT_TRUE(chat.ok()) << chat.error().message;

  OpenAIRequest r = parse_ok(Endpoint::kChat,
                             R"({"messages":[{"role":"user","content":"Once upon a time"}],"stop":["END"],)"
                             R"("max_tokens":9,"temperature":0,"logprobs":true,"top_logprobs":2})");
  GenerationRequest g;
  ASSERT_FALSE(build_generation(r, model, *chat, g));
  Result<std::vector<int32_t>> want = chat->tokenize(r.messages, true);
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(g.prompt, *want);
  EXPECT_EQ(g.max_tokens, 9);
  EXPECT_EQ(g.top_logprobs, 2);
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.0f);
  ASSERT_FALSE(g.stop.empty());
  EXPECT_EQ(g.stop[0], "END");
  // stories260K has no <|im_end|> token: the template's turn marker ends the answer as text.
  EXPECT_NE(std::find(g.stop.begin(), g.stop.end(), "<|im_end|>"), g.stop.end());

  OpenAIRequest c = parse_ok(Endpoint::kCompletions, R"({"prompt":"Once upon a time"})");
  ASSERT_FALSE(build_generation(c, model, *chat, g));
  EXPECT_EQ(g.prompt, model.tokenize("Once upon a time", true, false));
  EXPECT_EQ(g.top_logprobs, -1);
  EXPECT_TRUE(g.stop.empty());

  OpenAIRequest bad = parse_ok(Endpoint::kCompletions, R"({"prompt":[1, 99999]})");
  std::optional<ApiError> e = build_generation(bad, model, *chat, g);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_NE(e->message.find("99999"), std::string::npos);
}

}  // namespace
}  // namespace nexus::server
