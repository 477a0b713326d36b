// Session: one sequence's KV cache and scratch, fed through the forward pass in batches.
#include <unistd.h>

#include <algorithm>
#include <new>

#include "kv/kv_type.h"
#include "memory/tiered_weights.h"
#include "model/model_impl.h"

namespace nexus {

namespace {
constexpr int kMaxCtx = 1 << 20;       // refuse absurd context sizes before allocating
constexpr int kDefaultCtxCap = 4096;  // n_ctx = 0: training context, capped here
}  // namespace

SessionImpl::SessionImpl(std::shared_ptr<Model> model_, int n_ctx_)
    : model(std::move(model_)),
      m(model->impl()),
      n_ctx(n_ctx_),
      pool(m.threads),
      kv_pool(m.config.n_layer, m.config.kv_dim(), kKvBlockTokens, (n_ctx_ + kKvBlockTokens - 1) / kKvBlockTokens,
              m.kv_type, m.config.head_dim),
      cache(kv_pool),
      state(m.config, std::min(kMaxBatch, n_ctx_), n_ctx_, pool.size()),
      logits(m.config.n_vocab) {
  NX_CHECK(cache.reserve(n_ctx_), "KV pool of %d blocks short for %d positions", kv_pool.n_blocks(), n_ctx_);
}

Session::Session(std::unique_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<Model> model, int n_ctx) {
  if (!model) return make_error("Session::create: no model");
  if (n_ctx < 0 || n_ctx > kMaxCtx)
    return make_error(format("context size %d: expected 0 (model default) or 1..%d", n_ctx, kMaxCtx));
  if (n_ctx == 0) n_ctx = std::min(model->info().n_ctx_train, kDefaultCtxCap);
  // Refuse a cache that cannot fit in RAM up front: zero-filling it would get the process
  // killed instead of returning an error.
  const ModelConfig& c = model->impl().config;
  const double kv_bytes = static_cast<double>(kv_cache_bytes(model->impl().kv_type, c.n_layer, c.kv_dim(), n_ctx));
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (ram > 0 && kv_bytes > ram)
    return make_error(format("a context of %d tokens needs a %.0f MiB KV cache, more than the %.0f MiB of RAM",
                             n_ctx, kv_bytes / (1 << 20), ram / (1 << 20)));
  // A model loaded under a memory budget planned its KV cache for one context size.
  if (const TieredWeights* t = model->impl().tiered.get(); t && n_ctx > t->planned_ctx())
    return make_error(format("context size %d exceeds the %d tokens the memory budget was planned for "
                             "(load the model with a larger budget context)", n_ctx, t->planned_ctx()));
  try {
    return std::unique_ptr<Session>(new Session(std::make_unique<SessionImpl>(std::move(model), n_ctx)));
  } catch (const std::bad_alloc&) {
    return make_error(format("out of memory allocating the KV cache (%.0f MiB) for %d tokens", kv_bytes / (1 << 20), n_ctx));
  }
}

Result<std::span<const float>> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  SessionImpl& s = *impl_;
  const ModelConfig& c = s.m.config;
  const int n = static_cast<int>(tokens.size());
  if (n == 0) return make_error("eval: no tokens");
  if (static_cast<int64_t>(s.n_past) + n > s.n_ctx)
    return make_error(format("context overflow: %d tokens in the context + %d new > context size %d",
                             s.n_past, n, s.n_ctx));
  for (int32_t t : tokens)
    if (t < 0 || t >= c.n_vocab) return make_error(format("token id %d out of range [0, %d)", t, c.n_vocab));

  const size_t V = c.n_vocab;
  s.logits.resize(all_logits ? n * V : V);
  for (int done = 0; done < n;) {
    const int chunk = std::min(n - done, s.state.max_batch);
    // Without all_logits only the final token's logits are wanted: earlier chunks skip the
    // output projection.
    float* out = all_logits ? s.logits.data() + done * V : (done + chunk == n ? s.logits.data() : nullptr);
    const LogitsWanted wanted = all_logits ? LogitsWanted::kAll : (out ? LogitsWanted::kLast : LogitsWanted::kNone);
    const SeqBatch run{&s.cache, s.n_past, chunk, wanted};
    NX_TRY(llama_forward(c, s.m.weights, s.state, s.pool, tokens.subspan(done, chunk), std::span(&run, 1), out,
                         s.m.layer_source()));
    s.n_past += chunk;
    done += chunk;
  }
  return std::span<const float>(s.logits);
}

int Session::n_past() const { return impl_->n_past; }
int Session::n_ctx() const { return impl_->n_ctx; }
void Session::reset() { impl_->n_past = 0; }
void Session::truncate(int n_keep) { impl_->n_past = std::clamp(n_keep, 0, impl_->n_past); }
Model& Session::model() { return *impl_->model; }

}  // namespace nexus
