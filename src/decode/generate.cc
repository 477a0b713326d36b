// generate(): the one generation loop (STYLE.md #14) shared by `nexus run`, the server and
// tests: prompt -> prefill -> sample / decode until EOS, a stop string, max_tokens or a
// full context.
#include <algorithm>
#include <chrono>

#include "decode/sampler.h"
#include "decode/utf8_stream.h"
#include "nexus/nexus.h"

namespace nexus {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Length of the longest suffix of `s` that is a proper prefix of some stop string: text
// that may turn out to be the start of a stop string, so it is not streamed yet.
size_t stop_prefix_tail(std::string_view s, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const std::string& stop : stops) {
    for (size_t len = std::min(s.size(), stop.size() - 1); len > best; --len) {
      if (s.substr(s.size() - len) == std::string_view(stop).substr(0, len)) {
        best = len;
        break;
      }
    }
  }
  return best;
}

}  // namespace

Result<std::string> generate(Session& session, std::string_view prompt, const GenerateOptions& options,
                             const std::function<bool(std::string_view)>& on_text, GenerateStats* stats) {
  const std::vector<int32_t> tokens = session.model().tokenize(prompt, options.add_bos);
  if (tokens.empty()) return make_error("the prompt is empty (no tokens to start from)");
  return generate_from_tokens(session, tokens, options, on_text, stats);
}

Result<std::string> generate_from_tokens(Session& session, std::span<const int32_t> tokens,
                                         const GenerateOptions& options,
                                         const std::function<bool(std::string_view)>& on_text,
                                         GenerateStats* stats) {
  Model& model = session.model();
  GenerateStats st;
  std::vector<std::string> stops;
  for (const std::string& s : options.stop)
    if (!s.empty()) stops.push_back(s);

  if (tokens.empty()) return make_error("the prompt is empty (no tokens to start from)");
  st.prompt_tokens = static_cast<int>(tokens.size());
  if (session.n_past() + st.prompt_tokens > session.n_ctx())
    return make_error(format("the prompt is %d tokens but the context holds %d (%d already used)",
                             st.prompt_tokens, session.n_ctx(), session.n_past()));

  Sampler sampler(options.sampling);
  st.seed = sampler.seed();
  for (int32_t t : tokens) sampler.accept(t);

  const Clock::time_point t_prompt = Clock::now();
  NX_ASSIGN_OR_RETURN(std::span<const float> logits, session.eval(tokens));
  st.prompt_seconds = seconds_since(t_prompt);

  const Clock::time_point t_gen = Clock::now();
  Utf8Stream utf8;      // token bytes -> valid UTF-8, holding back a split character
  std::string text;     // everything generated so far (stop string cut off at the end)
  size_t streamed = 0;  // bytes of `text` already passed to on_text
  bool cancelled = false;
  bool stopped = false;  // a stop string was found (and cut off)

  // Appends valid text; cuts `text` at a stop string and returns true when one is found.
  auto append = [&](std::string_view valid) {
    // A stop string may straddle the previous piece: search from where it could begin.
    const size_t search_from = text.size();
    text += valid;
    size_t stop_at = std::string::npos;
    for (const std::string& s : stops) {
      const size_t from = search_from >= s.size() - 1 ? search_from - (s.size() - 1) : 0;
      const size_t at = text.find(s, std::max(from, streamed));
      if (at != std::string::npos) stop_at = std::min(stop_at, at);
    }
    if (stop_at == std::string::npos) return false;
    text.resize(stop_at);
    return true;
  };

  st.finish_reason = "length";
  for (;;) {
    if (options.max_tokens >= 0 && st.generated_tokens >= options.max_tokens) break;
    const int32_t token = sampler.sample(logits);
    if (model.is_end_of_generation(token)) {
      st.finish_reason = "stop";
      break;
    }
    sampler.accept(token);
    st.tokens.push_back(token);
    ++st.generated_tokens;
    if (append(utf8.push(model.token_to_piece(token)))) {
      stopped = true;
      st.finish_reason = "stop";
      break;
    }

    if (on_text) {
      std::string_view pending = std::string_view(text).substr(streamed);
      const size_t hold = stop_prefix_tail(pending, stops);
      if (pending.size() > hold) {
        if (!on_text(pending.substr(0, pending.size() - hold))) cancelled = true;
        streamed += pending.size() - hold;
      }
    }
    if (cancelled) {
      st.finish_reason = "stop";
      break;
    }
    if (session.n_past() >= session.n_ctx()) break;  // context full: "length"
    if (options.max_tokens >= 0 && st.generated_tokens >= options.max_tokens) break;
    const int32_t next[1] = {token};
    NX_ASSIGN_OR_RETURN(logits, session.eval(next));
  }
  // A character still incomplete when generation ended is one U+FFFD.
  if (!stopped && !cancelled && append(utf8.finish())) st.finish_reason = "stop";
  if (on_text && !cancelled && streamed < text.size()) on_text(std::string_view(text).substr(streamed));
  st.generate_seconds = seconds_since(t_gen);
  if (stats) *stats = std::move(st);
  return text;
}

}  // namespace nexus
