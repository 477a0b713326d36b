#include "eval/kl_divergence.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "util/fp16.h"

namespace nexus::eval {

namespace {

constexpr char kMagic[8] = {'N', 'X', 'K', 'L', 'D', 'I', 'V', '1'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderBytes = 8 + 4 * 4;  // magic, version, n_vocab, n_ctx, n_chunks
// Sanity limits so a foreign header never drives a huge allocation.
constexpr uint32_t kMaxVocab = 1u << 22;
constexpr uint32_t kMaxCtx = 1u << 20;

int scored_per_chunk(uint32_t n_ctx) { return static_cast<int>(n_ctx) - 1 - static_cast<int>(n_ctx / 2); }

uint64_t record_bytes(uint32_t n_vocab) { return 4 + 4 + 2ull * n_vocab; }

double log_sum_exp_d(std::span<const double> x) {
  double mx = -INFINITY;
  for (double v : x) mx = std::max(mx, v);
  if (!std::isfinite(mx)) return mx;
  double s = 0;
  for (double v : x) s += std::exp(v - mx);
  return mx + std::log(s);
}

}  // namespace

void log_softmax(std::span<const float> logits, std::span<double> out) {
  NX_CHECK(out.size() == logits.size(), "%zu outputs for %zu logits", out.size(), logits.size());
  double mx = -INFINITY;
  for (float v : logits) mx = std::max(mx, static_cast<double>(v));
  double s = 0;
  for (float v : logits) s += std::exp(static_cast<double>(v) - mx);
  const double lse = mx + std::log(s);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

double kl_divergence(std::span<const double> log_p, std::span<const double> log_q) {
  NX_CHECK(log_p.size() == log_q.size(), "sizes %zu vs %zu", log_p.size(), log_q.size());
  double kl = 0;
  for (size_t i = 0; i < log_p.size(); ++i) {
    const double p = std::exp(log_p[i]);
    if (p > 0) kl += p * (log_p[i] - log_q[i]);  // 0 * log 0 = 0
  }
  // Rounding can leave a tiny negative sum for identical distributions; KL is >= 0.
  return std::max(kl, 0.0);
}

double MeanAccumulator::mean_stderr() const {
  if (n_ < 2) return 0.0;
  const double var = m2_ / static_cast<double>(n_);
  return std::sqrt(var / static_cast<double>(n_ - 1));
}

// ---- writer ----

Result<KldWriter> KldWriter::create(const std::string& path, const KldHeader& h) {
  NX_CHECK(h.tokens.size() == static_cast<size_t>(h.n_chunks) * h.n_ctx, "%zu tokens", h.tokens.size());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return make_error(format("cannot create '%s': %s", path.c_str(), std::strerror(errno)));
  KldWriter w(f, path, h.n_vocab);
  const uint32_t fields[4] = {kVersion, h.n_vocab, h.n_ctx, h.n_chunks};
  bool ok = std::fwrite(kMagic, 1, 8, f) == 8 && std::fwrite(fields, 4, 4, f) == 4 &&
            std::fwrite(h.tokens.data(), 4, h.tokens.size(), f) == h.tokens.size();
  if (!ok) return make_error(format("cannot write '%s': %s", path.c_str(), std::strerror(errno)));
  return w;
}

KldWriter::KldWriter(KldWriter&& o) noexcept
    : f_(o.f_), path_(std::move(o.path_)), n_vocab_(o.n_vocab_), buf_(std::move(o.buf_)) {
  o.f_ = nullptr;
}

KldWriter::~KldWriter() {
  if (f_) std::fclose(f_);
}

Status KldWriter::write(std::span<const double> logprobs, int32_t argmax, double target_logprob) {
  NX_CHECK(f_ && logprobs.size() == n_vocab_, "%zu log-probabilities", logprobs.size());
  buf_.resize(n_vocab_);
  for (uint32_t i = 0; i < n_vocab_; ++i) buf_[i] = f32_to_fp16(static_cast<float>(logprobs[i]));
  const float t = static_cast<float>(target_logprob);
  bool ok = std::fwrite(&argmax, 4, 1, f_) == 1 && std::fwrite(&t, 4, 1, f_) == 1 &&
            std::fwrite(buf_.data(), 2, n_vocab_, f_) == n_vocab_;
  if (!ok) return make_error(format("cannot write '%s': %s", path_.c_str(), std::strerror(errno)));
  return Status::Ok();
}

Status KldWriter::close() {
  if (!f_) return Status::Ok();
  const int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) return make_error(format("cannot write '%s': %s", path_.c_str(), std::strerror(errno)));
  return Status::Ok();
}

// ---- reader ----

Result<KldReader> KldReader::open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return make_error(format("cannot open KL-divergence base '%s': %s", path.c_str(), std::strerror(errno)));
  KldReader r(f, path);
  struct stat st {};
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    return make_error(format("KL-divergence base '%s' is not a regular file", path.c_str()));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char magic[8];
  uint32_t fields[4];
  if (size < kHeaderBytes || std::fread(magic, 1, 8, f) != 8 || std::fread(fields, 4, 4, f) != 4 ||
      std::memcmp(magic, kMagic, 8) != 0)
    return make_error(format("'%s' is not a nexus KL-divergence base file (expected magic NXKLDIV1)", path.c_str()));
  if (fields[0] != kVersion)
    return make_error(format("'%s': KL-divergence base version %u, expected %u", path.c_str(), fields[0], kVersion));
  KldHeader& h = r.header_;
  h.n_vocab = fields[1];
  h.n_ctx = fields[2];
  h.n_chunks = fields[3];
  if (h.n_vocab == 0 || h.n_vocab > kMaxVocab || h.n_ctx < 4 || h.n_ctx > kMaxCtx || h.n_chunks == 0)
    return make_error(format("'%s': implausible header (n_vocab %u, n_ctx %u, n_chunks %u)", path.c_str(),
                             h.n_vocab, h.n_ctx, h.n_chunks));
  // Every term is bounded (n_chunks < 2^32, n_ctx <= 2^20, record < 2^24), so no overflow.
  const uint64_t n_tokens = static_cast<uint64_t>(h.n_chunks) * h.n_ctx;
  const uint64_t expected = kHeaderBytes + 4 * n_tokens +
                            static_cast<uint64_t>(h.n_chunks) * scored_per_chunk(h.n_ctx) * record_bytes(h.n_vocab);
  if (size != expected)
    return make_error(format("'%s': file size %llu bytes, expected %llu for n_vocab %u, n_ctx %u, %u chunks "
                             "(truncated or corrupt)",
                             path.c_str(), (unsigned long long)size, (unsigned long long)expected, h.n_vocab,
                             h.n_ctx, h.n_chunks));
  h.tokens.resize(n_tokens);
  if (std::fread(h.tokens.data(), 4, n_tokens, f) != n_tokens)
    return make_error(format("'%s': cannot read the token list", path.c_str()));
  for (int32_t t : h.tokens)
    if (t < 0 || static_cast<uint32_t>(t) >= h.n_vocab)
      return make_error(format("'%s': token id %d outside the vocabulary of %u", path.c_str(), t, h.n_vocab));
  return r;
}

KldReader::KldReader(KldReader&& o) noexcept
    : f_(o.f_), path_(std::move(o.path_)), header_(std::move(o.header_)), buf_(std::move(o.buf_)) {
  o.f_ = nullptr;
}

KldReader::~KldReader() {
  if (f_) std::fclose(f_);
}

Status KldReader::check_vocab(int32_t n_vocab) const {
  if (static_cast<int64_t>(header_.n_vocab) != n_vocab)
    return make_error(format("KL-divergence base '%s' was made with a vocabulary of %u tokens, this model has %d "
                             "(different model family or tokenizer)",
                             path_.c_str(), header_.n_vocab, n_vocab));
  return Status::Ok();
}

Status KldReader::read(KldRecord& rec) {
  const uint32_t v = header_.n_vocab;
  buf_.resize(v);
  if (std::fread(&rec.argmax, 4, 1, f_) != 1 || std::fread(&rec.target_logprob, 4, 1, f_) != 1 ||
      std::fread(buf_.data(), 2, v, f_) != v)
    return make_error(format("'%s': unexpected end of file", path_.c_str()));
  if (rec.argmax < 0 || static_cast<uint32_t>(rec.argmax) >= v)
    return make_error(format("'%s': stored argmax %d outside the vocabulary", path_.c_str(), rec.argmax));
  rec.logprobs.resize(v);
  for (uint32_t i = 0; i < v; ++i) rec.logprobs[i] = fp16_to_f32(buf_[i]);
  // F16 rounding leaves the probabilities summing to 1 +- 1e-3; renormalise so KL >= 0 holds.
  const double lse = log_sum_exp_d(rec.logprobs);
  if (!std::isfinite(lse)) return make_error(format("'%s': non-finite log-probabilities", path_.c_str()));
  for (double& x : rec.logprobs) x -= lse;
  return Status::Ok();
}

}  // namespace nexus::eval
