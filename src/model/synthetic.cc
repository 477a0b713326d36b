#include "model/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "tensor/quants.h"

namespace nexus {
namespace {

// Elements above which a quantized tensor is tiled from the block pool instead of being
// quantized element by element (k-quant search costs ~0.3 us per element).
constexpr int64_t kDirectLimit = int64_t{1} << 18;
constexpr int kPoolBlocks = 1024;
constexpr int64_t kMaxDim = int64_t{1} << 20;
constexpr double kMaxParams = 2e11;  // refuse specs beyond any machine's memory

// splitmix64: tiny, fast, and good enough for weights; seeded per (tensor, row) so the
// output does not depend on the thread count.
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Rng {
  uint64_t state;
  uint64_t next() {
    state += 0x9e3779b97f4a7c15ull;
    return mix64(state);
  }
  // Approximately standard normal: the sum of four 16-bit uniforms (Irwin-Hall), unit
  // variance after scaling. One 64-bit draw per value keeps generation memory-bound.
  float normal() {
    const uint64_t r = next();
    const float s = static_cast<float>(r & 0xffff) + static_cast<float>((r >> 16) & 0xffff) +
                    static_cast<float>((r >> 32) & 0xffff) + static_cast<float>(r >> 48);
    return (s - 4 * 32767.5f) * (1.7320508f / 65536.0f);
  }
};

Rng rng_for(uint64_t seed, uint64_t tensor, uint64_t row) {
  return Rng{mix64(seed ^ mix64(tensor * 0x100000001b3ull ^ mix64(row)))};
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && std::string_view(s).substr(s.size() - suffix.size()) == suffix;
}

enum class Init { kOnes, kBias, kWeight };

Init init_of(const std::string& name) {
  if (ends_with(name, "norm.weight")) return Init::kOnes;
  if (ends_with(name, ".bias")) return Init::kBias;
  return Init::kWeight;
}

// Standard deviation of a tensor's values: 1/sqrt(fan_in) keeps activations at unit scale
// through each matmul; biases are small.
float std_of(Init init, int64_t ne0) {
  switch (init) {
    case Init::kOnes: return 0.0f;
    case Init::kBias: return 0.02f;
    case Init::kWeight: return 1.0f / std::sqrt(static_cast<float>(ne0));
  }
  return 0.0f;
}

void fill_row(Init init, float stdev, Rng& rng, float* row, int64_t n) {
  if (init == Init::kOnes) {
    std::fill(row, row + n, 1.0f);
    return;
  }
  for (int64_t i = 0; i < n; ++i) row[i] = stdev * rng.normal();
}

int head_dim_of(const SynthSpec& s) { return s.head_dim > 0 ? s.head_dim : s.dim / std::max(1, s.heads); }

struct ArchParams {
  float rms_eps;
  float rope_base;
};

ArchParams arch_params(const std::string& arch) {
  if (arch == "llama") return {1e-5f, 10000.0f};
  return {1e-6f, 1000000.0f};  // qwen2 / qwen3
}

}  // namespace

Status validate_synth_spec(const SynthSpec& s) {
  if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3")
    return make_error(format("synth: unknown architecture '%s' (expected llama, qwen2 or qwen3)", s.arch.c_str()));
  auto check = [](const char* what, int64_t v, int64_t lo, int64_t hi) -> Status {
    if (v < lo || v > hi)
      return make_error(format("synth: %s must be in [%lld, %lld], got %lld", what, static_cast<long long>(lo),
                               static_cast<long long>(hi), static_cast<long long>(v)));
    return Status::Ok();
  };
  NX_TRY(check("--dim", s.dim, 1, kMaxDim));
  NX_TRY(check("--layers", s.layers, 1, 4096));
  NX_TRY(check("--ffn", s.ffn, 1, kMaxDim));
  NX_TRY(check("--heads", s.heads, 1, 4096));
  NX_TRY(check("--kv-heads", s.kv_heads, 1, s.heads));
  NX_TRY(check("--vocab", s.vocab, 259, int64_t{1} << 22));
  NX_TRY(check("--ctx", s.ctx, 1, int64_t{1} << 24));
  NX_TRY(check("--head-dim", s.head_dim, 0, 65536));
  if (s.heads % s.kv_heads != 0)
    return make_error(format("synth: --heads (%d) must be a multiple of --kv-heads (%d)", s.heads, s.kv_heads));
  if (s.head_dim == 0 && s.dim % s.heads != 0)
    return make_error(format("synth: --dim (%d) must be a multiple of --heads (%d), or give --head-dim", s.dim, s.heads));
  if (head_dim_of(s) % 2 != 0) return make_error(format("synth: head dimension %d must be even (RoPE)", head_dim_of(s)));
  double params = 0;
  for (const SynthTensor& t : synth_tensor_list(s)) {
    double n = 1;
    for (int64_t d : t.ne) n *= static_cast<double>(d);
    params += n;
  }
  if (params > kMaxParams) return make_error(format("synth: %.3g parameters is more than this tool allows", params));
  return Status::Ok();
}

std::vector<SynthTensor> synth_tensor_list(const SynthSpec& s) {
  const int64_t D = s.dim, F = s.ffn, V = s.vocab, hd = head_dim_of(s);
  const int64_t q = s.heads * hd, kv = s.kv_heads * hd;
  std::vector<SynthTensor> t;
  t.push_back({"token_embd.weight", {D, V}});
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    t.push_back({p + "attn_norm.weight", {D}});
    t.push_back({p + "attn_q.weight", {D, q}});
    if (s.arch == "qwen2") t.push_back({p + "attn_q.bias", {q}});
    t.push_back({p + "attn_k.weight", {D, kv}});
    if (s.arch == "qwen2") t.push_back({p + "attn_k.bias", {kv}});
    t.push_back({p + "attn_v.weight", {D, kv}});
    if (s.arch == "qwen2") t.push_back({p + "attn_v.bias", {kv}});
    if (s.arch == "qwen3") {
      t.push_back({p + "attn_q_norm.weight", {hd}});
      t.push_back({p + "attn_k_norm.weight", {hd}});
    }
    t.push_back({p + "attn_output.weight", {q, D}});
    t.push_back({p + "ffn_norm.weight", {D}});
    t.push_back({p + "ffn_gate.weight", {D, F}});
    t.push_back({p + "ffn_up.weight", {D, F}});
    t.push_back({p + "ffn_down.weight", {F, D}});
  }
  t.push_back({"output_norm.weight", {D}});
  t.push_back({"output.weight", {D, V}});
  return t;
}

SynthVocab synth_vocab(int n_vocab) {
  SynthVocab v;
  auto add = [&](std::string piece, float score, int32_t type) {
    if (static_cast<int>(v.tokens.size()) >= n_vocab) return;
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0.0f, 2);
  add("<s>", 0.0f, 3);
  add("</s>", 0.0f, 3);
  for (int b = 0; b < 256; ++b) add(format("<0x%02X>", b), 0.0f, 6);

  // Normal pieces, most preferred (highest score) first: the word-start marker, single
  // printable characters, word-start + letter, then ever longer lowercase strings with and
  // without the marker. Every piece is distinct, so the list is a valid vocabulary.
  const std::string kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's word-start marker
  float score = -1.0f;
  auto piece = [&](const std::string& p) { add(p, score, 1), score -= 1.0f; };
  piece(kSpace);
  for (int c = 33; c < 127; ++c) piece(std::string(1, static_cast<char>(c)));
  for (char c = 'a'; c <= 'z'; ++c) piece(kSpace + c);
  for (char c = 'A'; c <= 'Z'; ++c) piece(kSpace + c);
  for (int len = 2; static_cast<int>(v.tokens.size()) < n_vocab; ++len) {
    std::string s(static_cast<size_t>(len), 'a');
    for (;;) {
      piece(kSpace + s);
      piece(s);
      if (static_cast<int>(v.tokens.size()) >= n_vocab) break;
      int i = len - 1;  // odometer increment over a..z
      while (i >= 0 && s[static_cast<size_t>(i)] == 'z') s[static_cast<size_t>(i--)] = 'a';
      if (i < 0) break;
      ++s[static_cast<size_t>(i)];
    }
  }
  return v;
}

Status synth_model(const SynthSpec& spec, gguf::Writer& out, ThreadPool& pool) {
  NX_TRY(validate_synth_spec(spec));
  const std::string& a = spec.arch;
  const ArchParams ap = arch_params(a);
  const int hd = head_dim_of(spec);
  const quant::MixInfo& mix = quant::mix_info(spec.mix);

  out.set_string("general.architecture", a);
  out.set_string("general.name", spec.name.empty() ? "synthetic-" + a : spec.name);
  out.set_u32("general.file_type", mix.file_type);
  if (dtype_traits(mix.base).block_elems > 1) out.set_u32("general.quantization_version", 2);
  out.set_u32(a + ".context_length", static_cast<uint32_t>(spec.ctx));
  out.set_u32(a + ".embedding_length", static_cast<uint32_t>(spec.dim));
  out.set_u32(a + ".block_count", static_cast<uint32_t>(spec.layers));
  out.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(spec.ffn));
  out.set_u32(a + ".attention.head_count", static_cast<uint32_t>(spec.heads));
  out.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(spec.kv_heads));
  if (hd * spec.heads != spec.dim) {
    out.set_u32(a + ".attention.key_length", static_cast<uint32_t>(hd));
    out.set_u32(a + ".attention.value_length", static_cast<uint32_t>(hd));
  }
  out.set_f32(a + ".attention.layer_norm_rms_epsilon", ap.rms_eps);
  out.set_f32(a + ".rope.freq_base", ap.rope_base);
  out.set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(hd));

  SynthVocab vocab = synth_vocab(spec.vocab);
  out.set_string("tokenizer.ggml.model", "llama");
  out.set_strings("tokenizer.ggml.tokens", std::move(vocab.tokens));
  out.set_f32s("tokenizer.ggml.scores", std::move(vocab.scores));
  out.set_i32s("tokenizer.ggml.token_type", std::move(vocab.types));
  out.set_u32("tokenizer.ggml.bos_token_id", 1);
  out.set_u32("tokenizer.ggml.eos_token_id", 2);
  out.set_u32("tokenizer.ggml.unknown_token_id", 0);
  out.set_bool("tokenizer.ggml.add_bos_token", true);
  out.set_bool("tokenizer.ggml.add_eos_token", false);

  const std::vector<SynthTensor> tensors = synth_tensor_list(spec);
  std::vector<std::string> names;
  for (const SynthTensor& t : tensors) names.push_back(t.name);
  const quant::ModelLayout layout = quant::layout_from_names(names);

  // Pools of genuinely quantized random blocks, one per (type, row length) since the
  // row length sets the weights' scale.
  std::map<std::pair<DType, int64_t>, std::vector<uint8_t>> pools;
  auto pool_for = [&](DType type, int64_t ne0, float stdev) -> const std::vector<uint8_t>& {
    auto [it, inserted] = pools.try_emplace({type, ne0});
    if (inserted) {
      const DTypeTraits& tr = dtype_traits(type);
      std::vector<uint8_t>& blocks = it->second;
      blocks.resize(static_cast<size_t>(kPoolBlocks) * tr.block_bytes);
      pool.parallel_for(kPoolBlocks, 16, [&](int64_t b0, int64_t b1) {
        std::vector<float> x(static_cast<size_t>(tr.block_elems));
        for (int64_t b = b0; b < b1; ++b) {
          Rng rng = rng_for(spec.seed, 0xb10c5ull + static_cast<uint64_t>(ne0), static_cast<uint64_t>(b));
          fill_row(Init::kWeight, stdev, rng, x.data(), tr.block_elems);
          quantize_row(type, x.data(), blocks.data() + static_cast<size_t>(b) * tr.block_bytes, tr.block_elems);
        }
      });
    }
    return it->second;
  };

  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const SynthTensor& t = tensors[ti];
    const int64_t cols = t.ne[0];
    const int64_t rows = t.ne.size() > 1 ? t.ne[1] : 1;
    const quant::TypeChoice c =
        quant::choose_type(spec.mix, layout, t.name, static_cast<int>(t.ne.size()), cols);
    const Init init = init_of(t.name);
    const float stdev = std_of(init, cols);
    const size_t stride = row_bytes(c.type, cols);
    std::vector<uint8_t> data(stride * static_cast<size_t>(rows));
    const DTypeTraits& tr = dtype_traits(c.type);
    const bool tiled = tr.block_elems > 1 && init == Init::kWeight && cols * rows > kDirectLimit;
    if (tiled) {
      const std::vector<uint8_t>& blocks = pool_for(c.type, cols, stdev);
      const int64_t blocks_per_row = cols / tr.block_elems;
      pool.parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          Rng rng = rng_for(spec.seed, ti, static_cast<uint64_t>(r));
          uint8_t* dst = data.data() + static_cast<size_t>(r) * stride;
          for (int64_t b = 0; b < blocks_per_row; ++b) {
            const size_t pick = static_cast<size_t>(rng.next() % kPoolBlocks);
            std::memcpy(dst + static_cast<size_t>(b) * tr.block_bytes, blocks.data() + pick * tr.block_bytes,
                        tr.block_bytes);
          }
        }
      });
    } else {
      pool.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
        std::vector<float> x(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          Rng rng = rng_for(spec.seed, ti, static_cast<uint64_t>(r));
          fill_row(init, stdev, rng, x.data(), cols);
          quantize_row(c.type, x.data(), data.data() + static_cast<size_t>(r) * stride, cols);
        }
      });
    }
    out.add_tensor(t.name, c.type, t.ne, data.data(), data.size());
  }
  return Status::Ok();
}

Status synth_model_file(const SynthSpec& spec, const std::string& path, ThreadPool& pool) {
  gguf::Writer out;
  NX_TRY(synth_model(spec, out, pool));
  return out.write(path);
}

}  // namespace nexus
