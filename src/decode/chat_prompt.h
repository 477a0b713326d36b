// A conversation -> prompt tokens, through a chat template, with the template's control tokens
// (<start_of_turn>, <|im_start|>, the BOS text ...) parsed as single tokens but message text
// never: a user typing "<|im_end|>" gets the characters, not the control token (unless
// `special`, the CLI's --special).
//
// How: each message's content is wrapped in two sentinels (the noncharacters U+FDD0 and
// U+FDD1, replaced by U+FFFD in messages) before rendering, so the rendered text splits
// exactly into template text and message text. Control-token texts are looked for only in
// template text; what lies between two control tokens (template and message text alike) is
// tokenized as one run with parse_special off, so the tokens are those of the whole rendered
// text tokenized with parse_special, except that message text cannot contain control tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "nexus/nexus.h"

namespace nexus {

class ChatPrompt {
 public:
  // `template_source`: Jinja source of the chat template. Errors: template syntax.
  static Result<ChatPrompt> create(Model& model, std::string_view template_source, bool special = false);

  // Tokens of `messages` rendered by the template, with the assistant's generation prompt when
  // add_generation_prompt, BOS first when the vocabulary wants one and the template did not
  // render it. Errors: unknown role, raise_exception() in the template, a template that cuts
  // into message text (slices, replaces) when a message holds control-token text.
  Result<std::vector<int32_t>> tokenize(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  // Rendered text (sentinels removed), for --verbose and tests.
  Result<std::string> render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  // Turn markers this template renders ("<|im_end|>", "<end_of_turn>", ...): stop strings for a
  // vocabulary that has no control token for them (the answer then ends on the text).
  const std::vector<std::string>& stop_strings() const { return stop_strings_; }

 private:
  ChatPrompt(Model& model, ChatTemplate tpl, bool special);
  // Render with each content wrapped in sentinels (sentinels kept when `wrap`).
  Result<std::string> render_wrapped(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                     bool wrap) const;
  // Whether tokenizing `text` with parse_special would produce a control token.
  bool has_control_text(std::string_view text) const;
  // The text a control token stands for ("" for an ordinary token).
  std::string control_text(int32_t id) const;

  Model* model_;
  ChatTemplate tpl_;
  bool special_;
  std::string bos_text_, eos_text_;
  std::vector<std::string> stop_strings_;
};

// The template for `model` when none is asked for: its GGUF tokenizer.chat_template, else the
// built-in "gemma" for gemma-family architectures (base models ship none), else "chatml".
// `origin` (may be null) gets "the model's" or the built-in's name, for messages.
Result<std::string> default_chat_template(Model& model, std::string* origin = nullptr);

// --chat-template NAME|FILE: a built-in template's name (chatml, llama3, gemma) or the path of
// a file holding Jinja source.
Result<std::string> load_chat_template(const std::string& name_or_path);

}  // namespace nexus
