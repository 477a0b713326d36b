// A multi-turn chat over one Session: the message history and a KV cache that carries over
// between turns, so each turn evaluates only its new tokens. Kept apart from the terminal
// front-end (src/cli/cmd_chat.cc) so tests and a server can drive it.
//
// Each turn renders the whole conversation with the chat template (decode/chat_prompt.h),
// compares its tokens with those the cache holds and evaluates only the suffix after the common
// prefix. Usually the cache holds the previous prompt and answer and the suffix is the end of
// the assistant turn plus the new user turn; when the template re-renders earlier turns
// differently (or the answer's text tokenizes differently from how it was sampled), the cache
// is cut back to the common prefix and the rest is evaluated again.
//
// Context full: send() returns an error ("/reset" to start over) and leaves the history as it
// was; old turns are not dropped silently. An answer that fills the context ends early
// (finish_reason "length") and is kept.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "decode/chat_prompt.h"
#include "nexus/nexus.h"

namespace nexus {

struct ChatOptions {
  std::string template_source;  // Jinja source (default_chat_template / load_chat_template)
  std::string system;           // system message; empty: none
  bool special = false;         // parse control-token texts in messages too (--special)
  GenerateOptions generate;     // max_tokens, sampling, extra stop strings (add_bos unused)
};

struct ChatTurnStats {
  GenerateStats generate;  // prompt_tokens = tokens evaluated for this turn
  int conversation_tokens = 0;  // tokens of the whole rendered conversation
  int reused_tokens = 0;        // of those, already in the KV cache
};

class ChatSession {
 public:
  // `session` must outlive the chat; the chat resets it.
  static Result<std::unique_ptr<ChatSession>> create(Session& session, const ChatOptions& options);

  // Adds a user message (surrounding whitespace trimmed), generates the answer streaming it to
  // on_text (return false to stop the answer early; what was produced is kept), adds the
  // answer to the history and returns it. On error the history is unchanged.
  Result<std::string> send(std::string_view user_text,
                           const std::function<bool(std::string_view)>& on_text = {},
                           ChatTurnStats* stats = nullptr);

  // Back to the system message alone, with an empty cache.
  void reset();

  const std::vector<ChatMessage>& messages() const { return messages_; }
  const std::vector<int32_t>& cached_tokens() const { return cached_; }  // what the KV cache holds
  const ChatPrompt& prompt() const { return prompt_; }
  Session& session() { return session_; }

 private:
  ChatSession(Session& session, ChatPrompt prompt, ChatOptions options);

  Session& session_;
  ChatPrompt prompt_;
  ChatOptions options_;
  std::vector<ChatMessage> messages_;
  std::vector<int32_t> cached_;  // token ids at positions 0..n_past() of the session
};

}  // namespace nexus
