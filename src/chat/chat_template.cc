#include "chat/chat_template.h"

#include "chat/jinja_interpreter.h"
#include "chat/jinja_parser.h"

namespace nexus {
namespace {

using jinja::Value;

// Jinja sources of the built-in templates. Each renders byte-for-byte like the model family's
// published template for plain-text messages (checked against transformers in
// tests/data/chat/*.json).
constexpr const char* kChatML =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// Llama 3 Instruct: BOS before the first message, each message's content trimmed.
constexpr const char* kLlama3 =
    "{%- for message in messages %}"
    "{%- if loop.first %}{{- bos_token }}{%- endif %}"
    "{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + message.content | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

// Gemma 3: no system turn (the system text opens the first user turn), assistant is "model",
// user and model must alternate.
constexpr const char* kGemma =
    "{{- bos_token }}"
    "{%- set ns = namespace(prefix='', messages=messages) %}"
    "{%- if messages and messages[0].role == 'system' %}"
    "{%- set ns.prefix = messages[0].content + '\\n\\n' %}"
    "{%- set ns.messages = messages[1:] %}"
    "{%- endif %}"
    "{%- for message in ns.messages %}"
    "{%- if (message.role == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif %}"
    "{{- '<start_of_turn>' + ('model' if message.role == 'assistant' else message.role) + '\\n' }}"
    "{{- (ns.prefix if loop.first else '') + message.content | trim + '<end_of_turn>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}";

}  // namespace

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  NX_ASSIGN_OR_RETURN(auto tpl, jinja::parse_template(source));
  ChatTemplate t;
  t.tpl_ = std::move(tpl);
  return t;
}

Result<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                         const ChatRenderOptions& opts) const {
  jinja::List msgs;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool")
      return make_error(format("chat message %zu: unknown role '%s' (expected system, user, assistant or tool)", i,
                               m.role.c_str()));
    msgs.push_back(Value::dict({{Value::string("role"), Value::string(m.role)},
                                {Value::string("content"), Value::string(m.content)}}));
  }
  jinja::DictEntries vars;
  auto put = [&](const char* k, Value v) { vars.emplace_back(Value::string(k), std::move(v)); };
  put("messages", Value::list(std::move(msgs)));
  put("tools", Value::none());
  put("documents", Value::none());
  put("add_generation_prompt", Value::boolean(opts.add_generation_prompt));
  put("bos_token", Value::string(opts.bos_token));
  put("eos_token", Value::string(opts.eos_token));
  if (!opts.extra_variables.is_null() && !opts.extra_variables.is_object())
    return make_error("chat template: extra variables must be a JSON object");
  if (opts.extra_variables.is_object()) {
    for (const auto& [k, v] : opts.extra_variables.items()) {
      Value key = Value::string(k);
      Value val = jinja::from_json(v);
      bool replaced = false;
      for (auto& [ek, ev] : vars) {
        if (ek.as_string() == k) {
          ev = val;
          replaced = true;
        }
      }
      if (!replaced) vars.emplace_back(std::move(key), std::move(val));
    }
  }
  jinja::RenderOptions ro;
  ro.now = opts.now;
  return jinja::render(*tpl_, vars, ro);
}

Result<std::string> render_chat(const std::string& template_source, const std::vector<ChatMessage>& messages,
                                const ChatRenderOptions& opts) {
  NX_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::parse(template_source));
  return t.render(messages, opts);
}

Result<std::string> builtin_chat_template(std::string_view name) {
  if (name == "chatml") return std::string(kChatML);
  if (name == "llama3") return std::string(kLlama3);
  if (name == "gemma") return std::string(kGemma);
  return make_error("unknown chat template '" + std::string(name) + "' (built-in: chatml, llama3, gemma)");
}

std::vector<std::string> builtin_chat_template_names() { return {"chatml", "llama3", "gemma"}; }

}  // namespace nexus
