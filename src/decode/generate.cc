// generate(): the one generation loop (STYLE.md #14) shared by `nexus run`, the server and
// tests: prompt -> prefill -> sample / decode until EOS, a stop string, max_tokens or a
// full context.
#include <algorithm>
#include <chrono>

#include "decode/sampler.h"
#include "decode/text_stream.h"
#include "nexus/nexus.h"

namespace nexus {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
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
  TextStream text(options.stop);  // valid UTF-8, cut at a stop string
  bool cancelled = false;         // on_text returned false
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
    const std::string piece = text.push(model.token_to_piece(token));
    if (on_text && !piece.empty() && !on_text(piece)) {
      cancelled = true;
      st.finish_reason = "stop";
      break;
    }
    if (text.stopped()) {
      st.finish_reason = "stop";
      break;
    }
    if (session.n_past() >= session.n_ctx()) break;  // context full: "length"
    if (options.max_tokens >= 0 && st.generated_tokens >= options.max_tokens) break;
    const int32_t next[1] = {token};
    NX_ASSIGN_OR_RETURN(logits, session.eval(next));
  }
  if (!cancelled) {
    const bool stopped_before = text.stopped();
    const std::string rest = text.finish();  // held-back text; an incomplete character is one U+FFFD
    if (!stopped_before && text.stopped()) st.finish_reason = "stop";
    if (on_text && !rest.empty()) on_text(rest);
  }
  st.generate_seconds = seconds_since(t_gen);
  if (stats) *stats = std::move(st);
  return text.text();
}

}  // namespace nexus
