#include "server/openai_request.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace nexus::server {

namespace {

using json = nlohmann::json;

// Most stop strings and top_logprobs alternatives a request may ask for (OpenAI allows 4 and 20).
constexpr size_t kMaxStop = 16;
constexpr int kMaxTopLogprobs = 20;

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "an unknown type";
  }
}

ApiError wrong_type(const std::string& key, const char* expected, const json& got) {
  return invalid_request(format("Invalid type for '%s': expected %s, but got %s instead.", key.c_str(), expected,
                                type_name(got)),
                         key, "invalid_type");
}

ApiError unsupported(const std::string& what, const std::string& param) {
  return invalid_request(what + " is not supported by this server.", param, "unsupported_parameter");
}

// A field that is absent or null counts as not given (the SDKs send null for "default").
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<ApiError> get_bool(const json& obj, const char* key, bool& out) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return wrong_type(key, "a boolean", *v);
  out = v->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> get_number(const json& obj, const char* key, double lo, double hi, float& out) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) return wrong_type(key, "a number", *v);
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    return invalid_request(format("Invalid '%s': expected a value between %g and %g, but got %g instead.", key, lo,
                                  hi, x),
                           key);
  out = static_cast<float>(x);
  return std::nullopt;
}

std::optional<ApiError> get_int(const json& obj, const char* key, int64_t lo, int64_t hi, int64_t& out,
                                bool& given) {
  const json* v = field(obj, key);
  given = false;
  if (!v) return std::nullopt;
  if (!v->is_number_integer() && !v->is_number_unsigned()) return wrong_type(key, "an integer", *v);
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return invalid_request(format("Invalid '%s': %s is out of range.", key, v->dump().c_str()), key);
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi)
    return invalid_request(format("Invalid '%s': expected a value between %lld and %lld, but got %lld instead.", key,
                                  static_cast<long long>(lo), static_cast<long long>(hi),
                                  static_cast<long long>(x)),
                           key);
  out = x;
  given = true;
  return std::nullopt;
}

// "content": a string, or an array of {"type": "text", "text": ...} parts (joined).
std::optional<ApiError> get_content(const json& msg, const std::string& where, bool required, std::string& out) {
  const json* v = field(msg, "content");
  const std::string key = where + ".content";
  if (!v) {
    if (required) return invalid_request(format("Missing required parameter: '%s'.", key.c_str()), key,
                                         "missing_required_parameter");
    return std::nullopt;
  }
  if (v->is_string()) {
    out = v->get<std::string>();
    return std::nullopt;
  }
  if (!v->is_array()) return wrong_type(key, "a string or an array of content parts", *v);
  for (size_t i = 0; i < v->size(); ++i) {
    const json& part = (*v)[i];
    const std::string pkey = format("%s[%zu]", key.c_str(), i);
    if (!part.is_object()) return wrong_type(pkey, "an object", part);
    const json* type = field(part, "type");
    if (!type || !type->is_string()) return invalid_request(format("Missing or invalid '%s.type'.", pkey.c_str()), pkey);
    if (type->get<std::string>() != "text")
      return unsupported(format("Content part type '%s'", type->get<std::string>().c_str()), pkey + ".type");
    const json* text = field(part, "text");
    if (!text || !text->is_string()) return wrong_type(pkey + ".text", "a string", text ? *text : json());
    out += text->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const json& body, std::vector<ChatMessage>& out) {
  const json* v = field(body, "messages");
  if (!v) return invalid_request("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
  if (!v->is_array()) return wrong_type("messages", "an array", *v);
  if (v->empty()) return invalid_request("'messages' must hold at least one message.", "messages");
  for (size_t i = 0; i < v->size(); ++i) {
    const json& m = (*v)[i];
    const std::string where = format("messages[%zu]", i);
    if (!m.is_object()) return wrong_type(where, "an object", m);
    const json* role = field(m, "role");
    if (!role)
      return invalid_request(format("Missing required parameter: '%s.role'.", where.c_str()), where + ".role",
                             "missing_required_parameter");
    if (!role->is_string()) return wrong_type(where + ".role", "a string", *role);
    ChatMessage msg;
    msg.role = role->get<std::string>();
    if (msg.role == "developer") msg.role = "system";  // OpenAI's newer name for the system role
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool")
      return invalid_request(format("Invalid value for '%s.role': '%s'. Supported values are: 'system', "
                                    "'developer', 'user', 'assistant' and 'tool'.",
                                    where.c_str(), role->get<std::string>().c_str()),
                             where + ".role");
    // An assistant turn may carry tool calls instead of content; everything else needs text.
    if (auto e = get_content(m, where, msg.role != "assistant", msg.content)) return e;
    if (const json* name = field(m, "name"); name && !name->is_string())
      return wrong_type(where + ".name", "a string", *name);
    out.push_back(std::move(msg));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_prompt(const json& body, OpenAIRequest& out) {
  const json* v = field(body, "prompt");
  if (!v) return invalid_request("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
  if (v->is_string()) {
    out.prompt = v->get<std::string>();
    return std::nullopt;
  }
  if (!v->is_array()) return wrong_type("prompt", "a string, an array of strings or an array of token ids", *v);
  if (v->empty()) return invalid_request("'prompt' must not be empty.", "prompt");
  if (v->size() == 1 && (*v)[0].is_string()) {
    out.prompt = (*v)[0].get<std::string>();
    return std::nullopt;
  }
  if ((*v)[0].is_string() || (*v)[0].is_array()) return unsupported("More than one prompt per request", "prompt");
  for (const json& t : *v) {
    if (!t.is_number_integer() && !t.is_number_unsigned())
      return wrong_type("prompt", "a string, an array of strings or an array of token ids", *v);
    const int64_t id = t.get<int64_t>();
    if (id < 0 || id > std::numeric_limits<int32_t>::max())
      return invalid_request(format("Invalid token id %lld in 'prompt'.", static_cast<long long>(id)), "prompt");
    out.prompt_tokens.push_back(static_cast<int32_t>(id));
  }
  out.prompt_is_tokens = true;
  return std::nullopt;
}

std::optional<ApiError> parse_stop(const json& body, std::vector<std::string>& out) {
  const json* v = field(body, "stop");
  if (!v) return std::nullopt;
  if (v->is_string()) {
    if (!v->get<std::string>().empty()) out.push_back(v->get<std::string>());
    return std::nullopt;
  }
  if (!v->is_array()) return wrong_type("stop", "a string or an array of strings", *v);
  if (v->size() > kMaxStop)
    return invalid_request(format("Invalid 'stop': at most %zu stop strings, got %zu.", kMaxStop, v->size()), "stop");
  for (const json& s : *v) {
    if (!s.is_string()) return wrong_type("stop", "a string or an array of strings", s);
    if (!s.get<std::string>().empty()) out.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

// Features this server lacks: refused clearly rather than silently ignored.
std::optional<ApiError> refuse_unsupported(Endpoint endpoint, const json& body) {
  int64_t n = 1;
  bool given = false;
  if (auto e = get_int(body, "n", 1, 128, n, given)) return e;
  if (n != 1) return unsupported("'n' greater than 1", "n");
  if (const json* rf = field(body, "response_format")) {
    if (!rf->is_object()) return wrong_type("response_format", "an object", *rf);
    const json* type = field(*rf, "type");
    if (!type || !type->is_string())
      return invalid_request("Missing or invalid 'response_format.type'.", "response_format.type");
    const std::string t = type->get<std::string>();
    if (t != "text")
      return unsupported(format("response_format '%s' (constrained JSON output)", t.c_str()), "response_format");
  }
  for (const char* key : {"tools", "functions"}) {
    if (const json* v = field(body, key)) {
      if (!v->is_array()) return wrong_type(key, "an array", *v);
      if (!v->empty()) return unsupported(format("'%s' (function calling)", key), key);
    }
  }
  if (const json* v = field(body, "logit_bias")) {
    if (!v->is_object()) return wrong_type("logit_bias", "an object", *v);
    if (!v->empty()) return unsupported("'logit_bias'", "logit_bias");
  }
  if (endpoint == Endpoint::kCompletions) {
    bool echo = false;
    if (auto e = get_bool(body, "echo", echo)) return e;
    if (echo) return unsupported("'echo'", "echo");
    int64_t best_of = 1;
    if (auto e = get_int(body, "best_of", 1, 128, best_of, given)) return e;
    if (best_of != 1) return unsupported("'best_of' greater than 1", "best_of");
    if (const json* v = field(body, "suffix")) {
      if (!v->is_string()) return wrong_type("suffix", "a string", *v);
      if (!v->get<std::string>().empty()) return unsupported("'suffix'", "suffix");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> parse_sampling(const json& body, OpenAIRequest& out) {
  SamplingParams& s = out.sampling;
  if (auto e = get_number(body, "temperature", 0, 2, s.temperature)) return e;
  if (auto e = get_number(body, "top_p", 0, 1, s.top_p)) return e;
  if (auto e = get_number(body, "presence_penalty", -2, 2, s.presence_penalty)) return e;
  if (auto e = get_number(body, "frequency_penalty", -2, 2, s.frequency_penalty)) return e;
  if (auto e = get_number(body, "min_p", 0, 1, s.min_p)) return e;
  if (auto e = get_number(body, "repeat_penalty", 0.01, 100, s.repeat_penalty)) return e;
  int64_t v = 0;
  bool given = false;
  if (auto e = get_int(body, "top_k", -1, 1 << 30, v, given)) return e;
  if (given) s.top_k = static_cast<int>(v);
  // Any 64-bit integer, signed or not: only its bits matter.
  if (const json* seed = field(body, "seed")) {
    if (seed->is_number_unsigned())
      s.seed = seed->get<uint64_t>();
    else if (seed->is_number_integer())
      s.seed = static_cast<uint64_t>(seed->get<int64_t>());
    else
      return wrong_type("seed", "an integer", *seed);
  }
  return std::nullopt;
}

std::optional<ApiError> parse_object(Endpoint endpoint, const json& body, OpenAIRequest& out) {
  out.endpoint = endpoint;
  out.sampling = openai_default_sampling();
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) return wrong_type("model", "a string", *m);
    out.model = m->get<std::string>();
  }
  if (auto e = refuse_unsupported(endpoint, body)) return e;
  if (endpoint == Endpoint::kChat) {
    if (auto e = parse_messages(body, out.messages)) return e;
  } else {
    if (auto e = parse_prompt(body, out)) return e;
  }
  if (auto e = parse_sampling(body, out)) return e;
  if (auto e = parse_stop(body, out.stop)) return e;

  int64_t v = 0;
  bool given = false;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (auto e = get_int(body, key, 1, std::numeric_limits<int32_t>::max(), v, given)) return e;
    if (given) out.max_tokens = static_cast<int>(v);
  }

  if (auto e = get_bool(body, "stream", out.stream)) return e;
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
    if (!out.stream)
      return invalid_request("'stream_options' is only allowed when 'stream' is true.", "stream_options");
    if (auto e = get_bool(*so, "include_usage", out.include_usage)) return e;
  }

  if (endpoint == Endpoint::kChat) {
    if (auto e = get_bool(body, "logprobs", out.logprobs)) return e;
    if (auto e = get_int(body, "top_logprobs", 0, kMaxTopLogprobs, v, given)) return e;
    if (given) {
      if (!out.logprobs)
        return invalid_request("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
      out.top_logprobs = static_cast<int>(v);
    }
  } else {
    // Completions: logprobs is the number of alternatives (0: only the chosen token's).
    if (auto e = get_int(body, "logprobs", 0, kMaxTopLogprobs, v, given)) return e;
    if (given) {
      out.logprobs = true;
      out.top_logprobs = static_cast<int>(v);
    }
  }
  if (const json* u = field(body, "user"); u && !u->is_string()) return wrong_type("user", "a string", *u);
  return std::nullopt;
}

}  // namespace

ApiError invalid_request(std::string message, std::string param, std::string code) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

SamplingParams openai_default_sampling() {
  SamplingParams s;
  s.temperature = 1.0f;
  s.top_k = 0;
  s.top_p = 1.0f;
  s.min_p = 0.0f;
  s.repeat_penalty = 1.0f;
  s.presence_penalty = 0.0f;
  s.frequency_penalty = 0.0f;
  s.seed = 0xFFFFFFFFu;
  return s;
}

std::optional<ApiError> parse_request(Endpoint endpoint, std::string_view body, OpenAIRequest& out) {
  out = OpenAIRequest{};
  // allow_exceptions = false: a parse error yields a discarded value instead of throwing.
  const json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return invalid_request("We could not parse the JSON body of your request: it is not valid JSON.", "",
                           "invalid_json");
  if (!j.is_object()) return invalid_request("The request body must be a JSON object.", "", "invalid_json");
  try {
    return parse_object(endpoint, j, out);
  } catch (const std::exception& e) {  // a json accessor on an unexpected type: still the client's input
    return invalid_request(std::string("Invalid request: ") + e.what());
  }
}

std::optional<ApiError> check_model(const std::string& requested, const std::vector<std::string>& served) {
  if (requested.empty()) return std::nullopt;
  for (const std::string& name : served)
    if (requested == name) return std::nullopt;
  ApiError e;
  e.status = 404;
  e.message = format("The model '%s' does not exist. This server serves '%s'.", requested.c_str(),
                     served.empty() ? "" : served.front().c_str());
  e.param = "model";
  e.code = "model_not_found";
  return e;
}

std::optional<ApiError> check_context(int prompt_tokens, int max_tokens, int n_ctx_seq) {
  const int64_t wanted = static_cast<int64_t>(prompt_tokens) + std::max(max_tokens, 1);
  if (wanted <= n_ctx_seq) return std::nullopt;
  std::string msg;
  if (max_tokens > 0)
    msg = format("This model's maximum context length is %d tokens. However, you requested %lld tokens (%d in the "
                 "prompt, %d in the completion). Please reduce the length of the prompt or the completion.",
                 n_ctx_seq, static_cast<long long>(wanted), prompt_tokens, max_tokens);
  else
    msg = format("This model's maximum context length is %d tokens. However, your prompt is %d tokens, which "
                 "leaves no room for the completion. Please reduce the length of the prompt.",
                 n_ctx_seq, prompt_tokens);
  return invalid_request(std::move(msg), "messages", "context_length_exceeded");
}

std::optional<ApiError> build_generation(const OpenAIRequest& req, const Model& model, const ChatPrompt& chat,
                                         GenerationRequest& out) {
  out = GenerationRequest{};
  if (req.endpoint == Endpoint::kChat) {
    Result<std::vector<int32_t>> tokens = chat.tokenize(req.messages, /*add_generation_prompt=*/true);
    if (!tokens.ok()) return invalid_request("The chat template refused the messages: " + tokens.error().message,
                                             "messages");
    out.prompt = std::move(*tokens);
    out.stop = req.stop;
    for (const std::string& s : chat.stop_strings()) out.stop.push_back(s);
  } else {
    out.prompt = req.prompt_is_tokens ? req.prompt_tokens
                                      : model.tokenize(req.prompt, /*add_bos=*/true, /*parse_special=*/false);
    out.stop = req.stop;
  }
  if (out.prompt.empty()) return invalid_request("The prompt is empty.", "prompt");
  const int32_t n_vocab = model.info().n_vocab;
  for (int32_t id : out.prompt)
    if (id < 0 || id >= n_vocab)
      return invalid_request(format("Token id %d in the prompt is out of range (vocabulary of %d).", id, n_vocab),
                             "prompt");
  out.max_tokens = req.max_tokens;
  out.sampling = req.sampling;
  out.top_logprobs = req.logprobs ? req.top_logprobs : -1;
  return std::nullopt;
}

}  // namespace nexus::server
