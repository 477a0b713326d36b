// Chat prompts from a model's own Jinja chat template (GGUF `tokenizer.chat_template`, HF
// `tokenizer_config.json`), rendered like transformers' apply_chat_template, or from a built-in
// template chosen by name (`--chat-template chatml|llama3|gemma`).
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "nexus/result.h"

namespace nexus {

namespace jinja {
struct Template;
}

struct ChatMessage {
  std::string role;  // system, user, assistant or tool
  std::string content;
};

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  // More template variables, e.g. {"tools": [...], "enable_thinking": false}; key order is
  // kept (tojson prints in that order). `tools` and `documents` are none unless given here.
  nlohmann::ordered_json extra_variables = nlohmann::ordered_json::object();
  // Time strftime_now() reports; the current local time when unset.
  std::optional<std::time_t> now;
};

// A parsed template, reusable across renders.
class ChatTemplate {
 public:
  // Syntax errors and unsupported statements name the construct and its line and column.
  static Result<ChatTemplate> parse(std::string_view source);
  // Unknown roles, unsupported filters/tests/methods, raise_exception() in the template, and
  // run-away templates (output, steps, nesting) give an Error; nothing aborts.
  Result<std::string> render(const std::vector<ChatMessage>& messages, const ChatRenderOptions& opts) const;

 private:
  std::shared_ptr<const jinja::Template> tpl_;
};

Result<std::string> render_chat(const std::string& template_source, const std::vector<ChatMessage>& messages,
                                const ChatRenderOptions& opts);

// Jinja source of a built-in template: "chatml", "llama3" or "gemma".
Result<std::string> builtin_chat_template(std::string_view name);
std::vector<std::string> builtin_chat_template_names();

}  // namespace nexus
