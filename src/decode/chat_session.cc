#include "decode/chat_session.h"

#include <algorithm>

namespace nexus {

namespace {

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

ChatSession::ChatSession(Session& session, ChatPrompt prompt, ChatOptions options)
    : session_(session), prompt_(std::move(prompt)), options_(std::move(options)) {
  for (const std::string& s : prompt_.stop_strings()) options_.generate.stop.push_back(s);
  reset();
}

Result<std::unique_ptr<ChatSession>> ChatSession::create(Session& session, const ChatOptions& options) {
  NX_ASSIGN_OR_RETURN(ChatPrompt prompt, ChatPrompt::create(session.model(), options.template_source, options.special));
  std::unique_ptr<ChatSession> chat(new ChatSession(session, std::move(prompt), options));
  // A template that cannot render a plain first turn would fail on every message: say so now.
  std::vector<ChatMessage> probe = chat->messages_;
  probe.push_back({"user", "hello"});
  Result<std::vector<int32_t>> tokens = chat->prompt_.tokenize(probe, true);
  if (!tokens.ok()) return tokens.error();
  return chat;
}

void ChatSession::reset() {
  messages_.clear();
  const std::string_view system = trim(options_.system);
  if (!system.empty()) messages_.push_back({"system", std::string(system)});
  cached_.clear();
  session_.reset();
}

Result<std::string> ChatSession::send(std::string_view user_text,
                                      const std::function<bool(std::string_view)>& on_text, ChatTurnStats* stats) {
  const std::string_view text = trim(user_text);
  if (text.empty()) return make_error("empty message");
  std::vector<ChatMessage> next = messages_;
  next.push_back({"user", std::string(text)});
  NX_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, prompt_.tokenize(next, true));

  const int n_ctx = session_.n_ctx();
  // The prompt and at least one token of answer must fit.
  if (static_cast<int64_t>(tokens.size()) >= n_ctx)
    return make_error(format("the conversation is %zu tokens and the context holds %d: /reset to start a new "
                             "one, or a larger -c",
                             tokens.size(), n_ctx));

  // Keep the longest common prefix of what the cache holds and the new prompt; at least the
  // last prompt token is evaluated again, since its logits start the answer.
  NX_CHECK(static_cast<int>(cached_.size()) == session_.n_past(), "chat cache %zu tokens, session %d",
           cached_.size(), session_.n_past());
  size_t common = 0;
  while (common < cached_.size() && common < tokens.size() && cached_[common] == tokens[common]) ++common;
  if (common == tokens.size()) --common;
  session_.truncate(static_cast<int>(common));
  cached_.resize(common);

  ChatTurnStats st;
  st.conversation_tokens = static_cast<int>(tokens.size());
  st.reused_tokens = static_cast<int>(common);
  const std::span<const int32_t> suffix = std::span<const int32_t>(tokens).subspan(common);
  Result<std::string> answer = generate_from_tokens(session_, suffix, options_.generate, on_text, &st.generate);
  if (!answer.ok()) {
    // Evaluation failed part-way at worst: forget what the cache may hold past the prefix.
    session_.truncate(static_cast<int>(common));
    return answer.error();
  }
  // The cache now holds the prompt and the sampled tokens that were fed back.
  cached_ = std::move(tokens);
  cached_.insert(cached_.end(), st.generate.tokens.begin(), st.generate.tokens.end());
  NX_CHECK(session_.n_past() <= static_cast<int>(cached_.size()), "session %d tokens, chat knows %zu",
           session_.n_past(), cached_.size());
  cached_.resize(session_.n_past());

  messages_ = std::move(next);
  messages_.push_back({"assistant", std::string(trim(*answer))});
  if (stats) *stats = std::move(st);
  return answer;
}

}  // namespace nexus
