// Response bodies in OpenAI's shapes: whole completions, server-sent-event chunks for
// streaming, logprobs, usage and error bodies. Pure functions of what the scheduler reported,
// so tests can check the JSON without a model or a socket.
//
// JSON is written with invalid UTF-8 replaced by U+FFFD: a logprob entry's token may be part
// of a character, and a dump must never throw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/openai_request.h"
#include "server/scheduler.h"

namespace nexus::server {

// Dumps compactly, replacing invalid UTF-8.
std::string dump_json(const nlohmann::json& j);

// {"error": {"message", "type", "param", "code"}}
std::string error_body(const ApiError& e);

// What every response of one request repeats.
struct ResponseMeta {
  Endpoint endpoint = Endpoint::kChat;
  std::string id;     // "chatcmpl-..." / "cmpl-..."
  std::string model;  // the served model's name
  int64_t created = 0;  // Unix seconds
  bool logprobs = false;
  bool include_usage = false;
};

// {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details": {"cached_tokens"}}
nlohmann::json usage_json(const GenerationResult& r);

// Chat logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}, ...]}.
nlohmann::json chat_logprobs_json(const std::vector<SampledToken>& tokens);

// Completions logprobs: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}; offsets
// count bytes from `text_offset` (the text already sent before these tokens).
nlohmann::json completion_logprobs_json(const std::vector<SampledToken>& tokens, size_t text_offset);

// The whole (non-streaming) response. `finish_reason` must be "stop" or "length".
std::string completion_body(const ResponseMeta& meta, const std::string& text,
                            const std::vector<SampledToken>& tokens, const GenerationResult& result);

// Server-sent events for one streamed response, in order: start(), delta() per scheduler
// event, then finish() (or fail()). Each returns zero or more `data: ...\n\n` events.
class StreamEncoder {
 public:
  explicit StreamEncoder(ResponseMeta meta) : meta_(std::move(meta)) {}

  // Chat: the first chunk, {"delta": {"role": "assistant", "content": ""}}. Completions: nothing.
  std::string start();
  // A chunk with the event's text (and logprobs when asked); "" when there is nothing to send.
  std::string delta(const GenerationEvent& ev);
  // The chunk with finish_reason, the usage chunk when asked, then `data: [DONE]`.
  std::string finish(const GenerationResult& result);
  // An error in the stream (the status line is long gone): {"error": {...}}, then [DONE].
  std::string fail(const ApiError& e);

 private:
  nlohmann::json chunk(nlohmann::json choice) const;
  ResponseMeta meta_;
  size_t text_offset_ = 0;  // bytes of text sent so far (completions' text_offset)
};

// "data: <json>\n\n"
std::string sse_event(const std::string& data);

}  // namespace nexus::server
