#include "server/openai_response.h"

#include <cmath>

namespace nexus::server {

namespace {

using json = nlohmann::json;

json null_or(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json bytes_json(const std::string& piece) {
  json bytes = json::array();
  for (unsigned char c : piece) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// OpenAI's logprob fields are finite numbers; a -inf (a token the model rules out) would not
// survive JSON, so it is clamped to OpenAI's own floor.
double finite_logprob(float lp) { return std::isfinite(lp) ? lp : -9999.0; }

}  // namespace

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string error_body(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", null_or(e.param)}, {"code", null_or(e.code)}};
  return dump_json(json{{"error", err}});
}

std::string sse_event(const std::string& data) { return "data: " + data + "\n\n"; }

json usage_json(const GenerationResult& r) {
  return json{{"prompt_tokens", r.prompt_tokens},
              {"completion_tokens", r.completion_tokens},
              {"total_tokens", r.prompt_tokens + r.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

json chat_logprobs_json(const std::vector<SampledToken>& tokens) {
  json content = json::array();
  for (const SampledToken& t : tokens) {
    json top = json::array();
    for (const TokenLogprob& alt : t.top)
      top.push_back({{"token", alt.piece}, {"logprob", finite_logprob(alt.logprob)}, {"bytes", bytes_json(alt.piece)}});
    content.push_back({{"token", t.chosen.piece},
                       {"logprob", finite_logprob(t.chosen.logprob)},
                       {"bytes", bytes_json(t.chosen.piece)},
                       {"top_logprobs", std::move(top)}});
  }
  return json{{"content", std::move(content)}};
}

json completion_logprobs_json(const std::vector<SampledToken>& tokens, size_t text_offset) {
  json toks = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const SampledToken& t : tokens) {
    toks.push_back(t.chosen.piece);
    lps.push_back(finite_logprob(t.chosen.logprob));
    json top = json::object();
    for (const TokenLogprob& alt : t.top) top[alt.piece] = finite_logprob(alt.logprob);
    tops.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += t.chosen.piece.size();
  }
  return json{{"tokens", std::move(toks)},
              {"token_logprobs", std::move(lps)},
              {"top_logprobs", std::move(tops)},
              {"text_offset", std::move(offsets)}};
}

std::string completion_body(const ResponseMeta& meta, const std::string& text,
                            const std::vector<SampledToken>& tokens, const GenerationResult& result) {
  json choice = {{"index", 0}, {"finish_reason", result.finish_reason}};
  json body = {{"id", meta.id}, {"created", meta.created}, {"model", meta.model}, {"system_fingerprint", "nexus"}};
  if (meta.endpoint == Endpoint::kChat) {
    body["object"] = "chat.completion";
    choice["message"] = {{"role", "assistant"}, {"content", text}};
    choice["logprobs"] = meta.logprobs ? chat_logprobs_json(tokens) : json(nullptr);
  } else {
    body["object"] = "text_completion";
    choice["text"] = text;
    choice["logprobs"] = meta.logprobs ? completion_logprobs_json(tokens, 0) : json(nullptr);
  }
  body["choices"] = json::array({std::move(choice)});
  body["usage"] = usage_json(result);
  return dump_json(body);
}

json StreamEncoder::chunk(json choice) const {
  json c = {{"id", meta_.id},
            {"object", meta_.endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
            {"created", meta_.created},
            {"model", meta_.model},
            {"system_fingerprint", "nexus"},
            {"choices", json::array({std::move(choice)})}};
  // With include_usage every chunk carries "usage": null and one last chunk the numbers.
  if (meta_.include_usage) c["usage"] = nullptr;
  return c;
}

std::string StreamEncoder::start() {
  if (meta_.endpoint != Endpoint::kChat) return "";
  json choice = {{"index", 0},
                 {"delta", {{"role", "assistant"}, {"content", ""}}},
                 {"logprobs", nullptr},
                 {"finish_reason", nullptr}};
  return sse_event(dump_json(chunk(std::move(choice))));
}

std::string StreamEncoder::delta(const GenerationEvent& ev) {
  const bool with_logprobs = meta_.logprobs && !ev.tokens.empty();
  if (ev.text.empty() && !with_logprobs) return "";
  json choice = {{"index", 0}, {"finish_reason", nullptr}};
  if (meta_.endpoint == Endpoint::kChat) {
    choice["delta"] = {{"content", ev.text}};
    choice["logprobs"] = with_logprobs ? chat_logprobs_json(ev.tokens) : json(nullptr);
  } else {
    choice["text"] = ev.text;
    choice["logprobs"] = with_logprobs ? completion_logprobs_json(ev.tokens, text_offset_) : json(nullptr);
    if (with_logprobs)
      for (const SampledToken& t : ev.tokens) text_offset_ += t.chosen.piece.size();
  }
  return sse_event(dump_json(chunk(std::move(choice))));
}

std::string StreamEncoder::finish(const GenerationResult& result) {
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", result.finish_reason}};
  if (meta_.endpoint == Endpoint::kChat)
    choice["delta"] = json::object();
  else
    choice["text"] = "";
  std::string out = sse_event(dump_json(chunk(std::move(choice))));
  if (meta_.include_usage) {
    json last = chunk(nullptr);
    last["choices"] = json::array();
    last["usage"] = usage_json(result);
    out += sse_event(dump_json(last));
  }
  out += sse_event("[DONE]");
  return out;
}

std::string StreamEncoder::fail(const ApiError& e) { return sse_event(error_body(e)) + sse_event("[DONE]"); }

}  // namespace nexus::server
