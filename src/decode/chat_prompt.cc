#include "decode/chat_prompt.h"

#include <fstream>

#include "decode/utf8_stream.h"
#include "model/model_impl.h"

namespace nexus {

namespace {

// Noncharacters (U+FDD0, U+FDD1) "for internal use": they mark where a message's content
// begins and ends in the rendered text.
constexpr std::string_view kOpen = "\xEF\xB7\x90";
constexpr std::string_view kClose = "\xEF\xB7\x91";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Turn markers of the common template families; those a template renders become stop strings.
const char* const kTurnMarkers[] = {
    "<|im_end|>", "<|im_start|>", "<end_of_turn>", "<start_of_turn>", "<|eot_id|>", "<|start_header_id|>",
};

// Message text made safe to wrap: valid UTF-8 with no sentinel characters in it.
std::string clean_content(std::string_view text) {
  std::string s = sanitize_utf8(text);
  for (std::string_view sentinel : {kOpen, kClose})
    for (size_t at; (at = s.find(sentinel)) != std::string::npos;) s.replace(at, sentinel.size(), kReplacement);
  return s;
}

struct Segment {
  bool content;  // message text (true) or template text
  std::string_view text;
};

// Splits text rendered with wrapped contents; false when the sentinels do not pair up (the
// template sliced or rewrote a content).
bool split_segments(std::string_view s, std::vector<Segment>& out) {
  bool inside = false;
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t open = s.find(kOpen, pos), close = s.find(kClose, pos);
    const size_t at = std::min(open, close);
    const std::string_view text = s.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos);
    if (!text.empty()) out.push_back({inside, text});
    if (at == std::string_view::npos) break;
    const bool is_open = at == open;
    if (is_open == inside) return false;  // open inside a content, or close outside one
    inside = is_open;
    pos = at + kOpen.size();
  }
  return !inside;
}

}  // namespace

ChatPrompt::ChatPrompt(Model& model, ChatTemplate tpl, bool special)
    : model_(&model), tpl_(std::move(tpl)), special_(special) {
  if (model.bos() >= 0) bos_text_ = model.impl().tokenizer->decode_token(model.bos(), true);
  if (model.eos() >= 0) eos_text_ = model.impl().tokenizer->decode_token(model.eos(), true);
}

Result<ChatPrompt> ChatPrompt::create(Model& model, std::string_view template_source, bool special) {
  NX_ASSIGN_OR_RETURN(ChatTemplate tpl, ChatTemplate::parse(template_source));
  ChatPrompt p(model, std::move(tpl), special);
  // A sample exchange shows which turn markers the template writes.
  Result<std::string> sample = p.render({{"user", "a"}, {"assistant", "b"}}, true);
  if (sample.ok())
    for (const char* m : kTurnMarkers)
      if (sample->find(m) != std::string::npos) p.stop_strings_.push_back(m);
  return p;
}

Result<std::string> ChatPrompt::render_wrapped(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                               bool wrap) const {
  std::vector<ChatMessage> msgs;
  msgs.reserve(messages.size());
  for (const ChatMessage& m : messages) {
    std::string content = clean_content(m.content);
    if (wrap) content = std::string(kOpen) + content + std::string(kClose);
    msgs.push_back({m.role, std::move(content)});
  }
  ChatRenderOptions opts;
  opts.add_generation_prompt = add_generation_prompt;
  opts.bos_token = bos_text_;
  opts.eos_token = eos_text_;
  Result<std::string> text = tpl_.render(msgs, opts);
  if (!text.ok()) return make_error("chat template: " + text.error().message);
  return text;
}

Result<std::string> ChatPrompt::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  return render_wrapped(messages, add_generation_prompt, false);
}

std::string ChatPrompt::control_text(int32_t id) const {
  if (!model_->token_to_piece(id).empty()) return {};
  return model_->impl().tokenizer->decode_token(id, true);
}

bool ChatPrompt::has_control_text(std::string_view text) const {
  for (int32_t id : model_->tokenize(text, false, true))
    if (!control_text(id).empty()) return true;
  return false;
}

Result<std::vector<int32_t>> ChatPrompt::tokenize(const std::vector<ChatMessage>& messages,
                                                  bool add_generation_prompt) const {
  std::vector<int32_t> out;
  std::vector<Segment> segments;
  NX_ASSIGN_OR_RETURN(std::string wrapped, render_wrapped(messages, add_generation_prompt, true));
  if (special_ || !split_segments(wrapped, segments)) {
    // Whole text with parse_special: asked for (--special), or the only way left when the
    // template rewrote a content, which is safe as long as no message holds control text.
    if (!special_) {
      for (size_t i = 0; i < messages.size(); ++i)
        if (has_control_text(clean_content(messages[i].content)))
          return make_error(format("chat message %zu holds control-token text and the chat template rewrites "
                                   "message text, so it cannot be kept apart (--special parses it as control tokens)",
                                   i));
    }
    NX_ASSIGN_OR_RETURN(std::string text, render_wrapped(messages, add_generation_prompt, false));
    out = model_->tokenize(text, false, true);
  } else {
    std::string run;  // text since the last control token
    auto flush = [&] {
      if (run.empty()) return;
      const std::vector<int32_t> ids = model_->tokenize(run, false, false);
      out.insert(out.end(), ids.begin(), ids.end());
      run.clear();
    };
    for (const Segment& seg : segments) {
      if (seg.content) {
        run += seg.text;
        continue;
      }
      // The tokenizer finds the control tokens of the template text; they are located in it in
      // order, and the text around them joins the current run.
      size_t pos = 0;
      for (int32_t id : model_->tokenize(seg.text, false, true)) {
        const std::string ct = control_text(id);
        if (ct.empty()) continue;
        const size_t at = seg.text.find(ct, pos);
        if (at == std::string_view::npos) continue;
        run += seg.text.substr(pos, at - pos);
        flush();
        out.push_back(id);
        pos = at + ct.size();
      }
      run += seg.text.substr(pos);
    }
    flush();
  }
  // BOS when the vocabulary wants one and the template did not write it.
  const int32_t bos = model_->bos();
  const std::vector<int32_t> prefix = model_->tokenize("", true, false);
  if (bos >= 0 && !prefix.empty() && prefix[0] == bos && (out.empty() || out[0] != bos)) out.insert(out.begin(), bos);
  return out;
}

Result<std::string> default_chat_template(Model& model, std::string* origin) {
  if (std::optional<std::string> t = model.impl().file.get_string("tokenizer.chat_template"); t && !t->empty()) {
    if (origin) *origin = "the model's";
    return *t;
  }
  const char* name = model.info().arch.rfind("gemma", 0) == 0 ? "gemma" : "chatml";
  if (origin) *origin = name;
  return builtin_chat_template(name);
}

Result<std::string> load_chat_template(const std::string& name_or_path) {
  for (const std::string& name : builtin_chat_template_names())
    if (name == name_or_path) return builtin_chat_template(name);
  constexpr size_t kMaxBytes = 1 << 20;  // real templates are a few KiB
  std::ifstream in(name_or_path, std::ios::binary);
  if (!in)
    return make_error("chat template '" + name_or_path + "': not a built-in template (chatml, llama3, gemma) " +
                      "and no such file");
  std::string source(kMaxBytes + 1, '\0');
  in.read(source.data(), static_cast<std::streamsize>(source.size()));
  if (in.bad()) return make_error("chat template '" + name_or_path + "': read error");
  source.resize(static_cast<size_t>(in.gcount()));
  if (source.empty()) return make_error("chat template '" + name_or_path + "': empty file (or not a file)");
  if (source.size() > kMaxBytes)
    return make_error(format("chat template '%s': larger than %zu bytes", name_or_path.c_str(), kMaxBytes));
  return source;
}

}  // namespace nexus
