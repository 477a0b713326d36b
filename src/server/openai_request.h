// OpenAI request bodies -> validated requests -> the scheduler's GenerationRequest.
//
// Two stages, so the first is testable without a model: parse_request() checks a JSON body
// (types, ranges, features this server does not have) and yields an OpenAIRequest;
// build_generation() tokenizes it (chat messages through the model's chat template) into a
// GenerationRequest. Both report problems as an ApiError shaped like OpenAI's
// ({"error": {"message", "type", "code", "param"}}) with the HTTP status to send; nothing throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "decode/chat_prompt.h"
#include "nexus/nexus.h"
#include "server/scheduler.h"

namespace nexus::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string code;   // "" -> null
  std::string param;  // "" -> null
};

ApiError invalid_request(std::string message, std::string param = "", std::string code = "invalid_value");

enum class Endpoint { kChat, kCompletions };

struct OpenAIRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;  // as sent; "" when absent
  // /v1/chat/completions
  std::vector<ChatMessage> messages;
  // /v1/completions: text, or token ids when prompt_is_tokens
  std::string prompt;
  std::vector<int32_t> prompt_tokens;
  bool prompt_is_tokens = false;

  int max_tokens = -1;  // max_tokens / max_completion_tokens; < 0: until end of generation
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  int top_logprobs = 0;  // alternatives per token when logprobs
};

// OpenAI's defaults (temperature 1, top_p 1, no top-k / min-p / repeat penalty, random seed),
// which a request may override; top_k, min_p and repeat_penalty are accepted as extensions.
SamplingParams openai_default_sampling();

// Validates `body`. Unknown fields are ignored; wrong types, out-of-range values, unknown roles
// and unsupported features (n > 1, response_format json_object/json_schema, tools, logit_bias,
// echo, best_of > 1, several prompts) give a 400.
std::optional<ApiError> parse_request(Endpoint endpoint, std::string_view body, OpenAIRequest& out);

// 404 unless `requested` is empty or one of `served` (the alias, the model file's name).
std::optional<ApiError> check_model(const std::string& requested, const std::vector<std::string>& served);

// 400 context_length_exceeded, with the counts, when prompt_tokens plus the tokens asked for
// (at least one) do not fit in n_ctx_seq.
std::optional<ApiError> check_context(int prompt_tokens, int max_tokens, int n_ctx_seq);

// Tokenizes `req` into `out`: chat messages through `chat` (its turn markers become stop
// strings too), completion text with BOS. Template errors (a role the template refuses,
// raise_exception) and empty prompts give a 400.
std::optional<ApiError> build_generation(const OpenAIRequest& req, const Model& model, const ChatPrompt& chat,
                                         GenerationRequest& out);

}  // namespace nexus::server
