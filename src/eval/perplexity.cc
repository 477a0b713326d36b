#include "eval/perplexity.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>

#include "util/progress.h"

namespace nexus::eval {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error(format("cannot open '%s'", path.c_str()));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return make_error(format("cannot read '%s'", path.c_str()));
  std::string text = std::move(ss).str();
  if (text.empty()) return make_error(format("'%s' is empty", path.c_str()));
  return text;
}

// Tokenizes enough of `text` to provide more than `needed` tokens (everything when
// needed <= 0). Tokenizing a 1 MB file can take a while, and a run of a few chunks needs
// only its start: we tokenize a prefix ending at a line break and grow it until it yields a
// margin of extra tokens, so the tokens used lie well before the cut and equal those of the
// whole file's tokenization.
std::vector<int32_t> tokenize_prefix(const Model& model, const std::string& text, int64_t needed) {
  if (needed <= 0) return model.tokenize(text, /*add_bos=*/true);
  constexpr int64_t kMargin = 64;
  size_t len = static_cast<size_t>(needed + kMargin) * 8 + 4096;
  for (;;) {
    if (len >= text.size()) return model.tokenize(text, true);
    const size_t nl = text.find('\n', len);
    if (nl == std::string::npos) return model.tokenize(text, true);
    std::vector<int32_t> tokens = model.tokenize(std::string_view(text).substr(0, nl + 1), true);
    if (static_cast<int64_t>(tokens.size()) >= needed + kMargin) return tokens;
    len = (nl + 1) * 2;
  }
}

void print_line_break(std::FILE* out, bool& pending) {
  if (pending) std::fputc('\n', out);
  pending = false;
}

}  // namespace

double log_sum_exp(std::span<const float> logits) {
  double mx = -std::numeric_limits<double>::infinity();
  for (float v : logits) mx = std::max(mx, static_cast<double>(v));
  if (!std::isfinite(mx)) return mx;
  double s = 0;
  for (float v : logits) s += std::exp(static_cast<double>(v) - mx);
  return mx + std::log(s);
}

double nll_of_target(std::span<const float> logits, int32_t target) {
  NX_CHECK(target >= 0 && static_cast<size_t>(target) < logits.size(), "target %d, vocab %zu", target,
           logits.size());
  return log_sum_exp(logits) - static_cast<double>(logits[target]);
}

int32_t argmax(std::span<const float> logits) {
  NX_CHECK(!logits.empty(), "argmax of nothing");
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

double NllAccumulator::ppl() const { return std::exp(mean()); }

Result<std::vector<int32_t>> make_chunks(std::span<const int32_t> tokens, int n_ctx, int max_chunks,
                                         int32_t bos) {
  if (n_ctx < 4) return make_error(format("context of %d tokens is too small (minimum 4)", n_ctx));
  int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (n_chunks == 0)
    return make_error(format("the text has %zu tokens, fewer than one chunk of %d (use a longer file or a smaller -c)",
                             tokens.size(), n_ctx));
  if (max_chunks > 0) n_chunks = std::min<int64_t>(n_chunks, max_chunks);
  std::vector<int32_t> out(tokens.begin(), tokens.begin() + n_chunks * n_ctx);
  if (bos >= 0)
    for (int64_t c = 0; c < n_chunks; ++c) out[c * n_ctx] = bos;
  return out;
}

Result<PerplexityResult> run_perplexity(std::shared_ptr<Model> model, const PerplexityOptions& opt,
                                        std::FILE* out, std::FILE* log) {
  const ModelInfo& info = model->info();
  const int n_vocab = info.n_vocab;
  NX_CHECK(n_vocab > 0, "n_vocab %d", n_vocab);

  std::optional<KldReader> base;
  int n_ctx = opt.n_ctx;
  std::vector<int32_t> tokens;  // n_chunks * n_ctx, BOS-substituted
  if (opt.kl_divergence) {
    if (opt.kld_base_file.empty())
      return make_error("--kl-divergence needs --kl-divergence-base FILE written by an earlier run");
    NX_ASSIGN_OR_RETURN(KldReader reader, KldReader::open(opt.kld_base_file));
    NX_TRY(reader.check_vocab(n_vocab));
    const KldHeader& h = reader.header();
    if (n_ctx != 0 && n_ctx != static_cast<int>(h.n_ctx))
      return make_error(format("-c %d differs from the context of the KL-divergence base (%u)", n_ctx, h.n_ctx));
    n_ctx = static_cast<int>(h.n_ctx);
    int n_chunks = static_cast<int>(h.n_chunks);
    if (opt.max_chunks > 0) n_chunks = std::min(n_chunks, opt.max_chunks);
    tokens.assign(h.tokens.begin(), h.tokens.begin() + static_cast<int64_t>(n_chunks) * n_ctx);
    if (!opt.text_file.empty()) {
      // Optional cross-check: the text must tokenize to what the base evaluated.
      NX_ASSIGN_OR_RETURN(std::string text, read_text_file(opt.text_file));
      std::vector<int32_t> all = tokenize_prefix(*model, text, static_cast<int64_t>(tokens.size()));
      NX_ASSIGN_OR_RETURN(std::vector<int32_t> mine, make_chunks(all, n_ctx, n_chunks, model->bos()));
      if (mine != tokens)
        return make_error(format("'%s' does not tokenize to the tokens stored in '%s' (different text or tokenizer)",
                                 opt.text_file.c_str(), opt.kld_base_file.c_str()));
    }
    base.emplace(std::move(reader));
  } else {
    if (opt.text_file.empty()) return make_error("no text file given (-f FILE)");
    if (n_ctx == 0) n_ctx = info.n_ctx_train > 0 ? std::min(512, info.n_ctx_train) : 512;
    if (n_ctx < 4) return make_error(format("context of %d tokens is too small (minimum 4)", n_ctx));
    if (info.n_ctx_train > 0 && n_ctx > info.n_ctx_train)
      std::fprintf(log, "perplexity: warning: context %d exceeds the training context %d\n", n_ctx,
                   info.n_ctx_train);
    NX_ASSIGN_OR_RETURN(std::string text, read_text_file(opt.text_file));
    const auto t0 = Clock::now();
    const int64_t needed = opt.max_chunks > 0 ? static_cast<int64_t>(opt.max_chunks) * n_ctx : 0;
    std::vector<int32_t> all = tokenize_prefix(*model, text, needed);
    std::fprintf(log, "perplexity: tokenized %zu tokens in %.2f s\n", all.size(), seconds_since(t0));
    for (int32_t t : all)
      if (t < 0 || t >= n_vocab) return make_error(format("tokenizer produced id %d outside the vocabulary", t));
    NX_ASSIGN_OR_RETURN(tokens, make_chunks(all, n_ctx, opt.max_chunks, model->bos()));
    if (opt.max_chunks > 0 && static_cast<int64_t>(tokens.size()) < needed)
      std::fprintf(log, "perplexity: only %zu chunks available\n", tokens.size() / n_ctx);
  }
  const int n_chunks = static_cast<int>(tokens.size() / n_ctx);
  const int first = first_scored(n_ctx);

  std::optional<KldWriter> writer;
  if (!opt.kl_divergence && !opt.kld_base_file.empty()) {
    KldHeader h;
    h.n_vocab = static_cast<uint32_t>(n_vocab);
    h.n_ctx = static_cast<uint32_t>(n_ctx);
    h.n_chunks = static_cast<uint32_t>(n_chunks);
    h.tokens = tokens;
    NX_ASSIGN_OR_RETURN(KldWriter w, KldWriter::create(opt.kld_base_file, h));
    writer.emplace(std::move(w));
  }
  // A base file cut short by an error would only fail later comparisons: remove it.
  struct RemoveUnlessKept {
    const std::string* path;
    bool keep = false;
    ~RemoveUnlessKept() {
      if (path && !keep) std::remove(path->c_str());
    }
  } partial_base{writer ? &opt.kld_base_file : nullptr};

  NX_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, n_ctx));
  const int n_batch = std::max(1, std::min(opt.n_batch, n_ctx));
  std::fprintf(log, "perplexity: %d chunks of %d tokens, scoring %d positions each, batch %d\n", n_chunks, n_ctx,
               scored_per_chunk(n_ctx), n_batch);

  NllAccumulator nll, base_nll;
  MeanAccumulator kld, top1;
  std::vector<double> cur_lp(n_vocab);
  KldRecord rec;
  // The per-chunk line and a progress line would fight over one terminal.
  std::optional<Progress> progress;
  if (!isatty(fileno(out))) progress.emplace("perplexity", n_chunks);
  bool line_pending = false;
  double eval_seconds = 0;
  const auto t_start = Clock::now();

  for (int c = 0; c < n_chunks; ++c) {
    const int32_t* chunk = tokens.data() + static_cast<int64_t>(c) * n_ctx;
    session->reset();
    for (int b = 0; b < n_ctx; b += n_batch) {
      const int len = std::min(n_batch, n_ctx - b);
      const auto t0 = Clock::now();
      auto logits = session->eval(std::span<const int32_t>(chunk + b, len), /*all_logits=*/true);
      eval_seconds += seconds_since(t0);
      if (!logits.ok()) {
        print_line_break(out, line_pending);
        return make_error(format("chunk %d: %s", c + 1, logits.error().message.c_str()));
      }
      NX_CHECK(logits->size() == static_cast<size_t>(len) * n_vocab, "eval returned %zu logits", logits->size());
      for (int j = std::max(b, first); j < std::min(b + len, n_ctx - 1); ++j) {
        std::span<const float> row = logits->subspan(static_cast<size_t>(j - b) * n_vocab, n_vocab);
        const int32_t target = chunk[j + 1];
        if (!writer && !base) {
          nll.add(nll_of_target(row, target));
          continue;
        }
        log_softmax(row, cur_lp);
        nll.add(-cur_lp[target]);
        const int32_t top = argmax(row);
        if (writer) {
          NX_TRY(writer->write(cur_lp, top, cur_lp[target]));
        } else {
          NX_TRY(base->read(rec));
          kld.add(kl_divergence(rec.logprobs, cur_lp));
          top1.add(rec.argmax == top ? 1.0 : 0.0);
          base_nll.add(-static_cast<double>(rec.target_logprob));
        }
      }
    }
    if (!std::isfinite(nll.mean())) {
      print_line_break(out, line_pending);
      return make_error(format("chunk %d: non-finite log-likelihood (the model produced NaN/inf logits)", c + 1));
    }
    std::fprintf(out, "[%d]%.4f,", c + 1, nll.ppl());
    std::fflush(out);
    line_pending = true;
    if (progress) progress->update(c + 1, format("PPL %.4f", nll.ppl()));
    if (c == 0 && n_chunks > 1)
      std::fprintf(log, "perplexity: %.2f s per chunk, ETA %.1f s\n", seconds_since(t_start),
                   seconds_since(t_start) * (n_chunks - 1));
  }
  if (progress) progress->finish();
  print_line_break(out, line_pending);
  if (writer) {
    NX_TRY(writer->close());
    partial_base.keep = true;
  }

  const double total = seconds_since(t_start);
  std::fprintf(log, "perplexity: evaluated %lld tokens in %.2f s (%.1f tokens/s in eval), %lld scored\n",
               static_cast<long long>(n_chunks) * n_ctx, total,
               eval_seconds > 0 ? static_cast<double>(n_chunks) * n_ctx / eval_seconds : 0.0,
               static_cast<long long>(nll.count()));
  if (writer) std::fprintf(log, "perplexity: saved base log-probabilities to '%s'\n", opt.kld_base_file.c_str());

  PerplexityResult r;
  r.ppl = nll.ppl();
  r.ppl_stderr = nll.ppl_stderr();
  r.n_scored = nll.count();
  r.n_chunks = n_chunks;
  r.n_ctx = n_ctx;
  if (base) {
    r.kld_mean = kld.mean();
    r.kld_stderr = kld.mean_stderr();
    r.top1_agreement = top1.mean();
    r.top1_stderr = top1.mean_stderr();
    r.base_ppl = base_nll.ppl();
    std::fprintf(out, "PPL(base) = %.4f +/- %.5f\n", base_nll.ppl(), base_nll.ppl_stderr());
    std::fprintf(out, "ln(PPL/PPL(base)) = %.6f\n", nll.mean() - base_nll.mean());
    std::fprintf(out, "Mean KLD = %.6f +/- %.6f\n", r.kld_mean, r.kld_stderr);
    std::fprintf(out, "Same top-1 = %.3f%% +/- %.3f%%\n", 100.0 * r.top1_agreement, 100.0 * r.top1_stderr);
  }
  std::fprintf(out, "PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
  std::fflush(out);
  return r;
}

}  // namespace nexus::eval
