// Q4_K_R8 and Q6_K_R8, the run-time layouts of Q4_K and Q6_K with rows interleaved by 8
// (tensor/interleaved_rows.h), and the order of arithmetic every kernel of a type shares so
// that both layouts give the same bits: the interleavings round-trip; every level's plain dot
// of the type equals the scalar one bit for
// bit; the interleaved gemm equals the plain dot bit for bit at odd sizes, token counts and
// extreme values; matmul accepts interleaved views beside plain ones; and a model loaded
// with repacking computes the same logits as without it and as a streamed (budgeted) load.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <regex>
#include <span>
#include <string>
#include <vector>

#include "kernels/dot_kernels.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "model/model_impl.h"
#include "memory/tiered_weights.h"
#include "model/synthetic.h"
#include "nexus/nexus.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"
#include "tensor/blocks.h"
#include "tensor/interleaved_rows.h"
#include "util/fp16.h"
#include "test_util.h"

namespace nexus {
namespace {

std::vector<SimdLevel> available_levels() {
  std::vector<SimdLevel> v;
  for (int i = 0; i <= static_cast<int>(max_simd_level(cpu_features())); ++i) v.push_back(static_cast<SimdLevel>(i));
  return v;
}

// The blocks of a plain type's rows, to set their float scales.
template <class Block>
std::span<Block> blocks_of(std::vector<uint8_t>& w) {
  return {reinterpret_cast<Block*>(w.data()), w.size() / sizeof(Block)};
}

// `rows` rows of `cols` of plain type t (Q4_K, Q6_K): random quants and scales, sane d (and dmin).
std::vector<uint8_t> random_rows(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> uni(0.5f, 2.0f);
  std::vector<uint8_t> w(rows * row_bytes(t, cols));
  for (uint8_t& x : w) x = static_cast<uint8_t>(byte(rng));
  if (t == DType::Q4_K) {
    for (BlockQ4_K& b : blocks_of<BlockQ4_K>(w)) {
      b.d = f32_to_fp16(uni(rng) * 0.001f);
      b.dmin = f32_to_fp16(uni(rng) * 0.001f);
    }
  } else {
    for (BlockQ6_K& b : blocks_of<BlockQ6_K>(w)) b.d = f32_to_fp16(uni(rng) * 0.001f);
  }
  return w;
}

// The reference gemm of an interleaved layout.
GemmFn scalar_gemm_of(DType interleaved) {
  switch (interleaved) {
    case DType::Q4_K_R8: return scalar::gemm_q4_k_r8_q8_k;
    case DType::Q6_K_R8: return scalar::gemm_q6_k_r8_q8_k;
    default: return nullptr;
  }
}
std::string name_of(DType t) { return std::string(dtype_name(t)); }

std::vector<BlockQ8_K> q8_k_rows(int64_t n_tok, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<BlockQ8_K> a(static_cast<size_t>(n_tok * cols / kQK_K));
  std::vector<float> x(static_cast<size_t>(cols));
  for (int64_t t = 0; t < n_tok; ++t) {
    for (float& v : x) v = gauss(rng);
    kernels_for(SimdLevel::kScalar).entry(DType::Q4_K).quantize_act(static_cast<int>(cols), x.data(),
                                                                     &a[static_cast<size_t>(t * cols / kQK_K)]);
  }
  return a;
}

std::vector<uint8_t> interleave(const InterleavedLayout& l, const std::vector<uint8_t>& w, int64_t rows, int64_t cols) {
  std::vector<uint8_t> out(w.size());
  const size_t group = 8 * row_bytes(l.plain, cols);
  for (int64_t g = 0; g < rows / 8; ++g) l.interleave(&w[g * group], cols, &out[g * group]);
  return out;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

TEST(InterleavedRows, InterleavingRoundTrips) {
  std::mt19937 rng(1);
  for (const InterleavedLayout& l : kInterleavedLayouts)
    for (int64_t cols : {256, 768}) {
      const std::vector<uint8_t> w = random_rows(l.plain, 16, cols, rng);
      const std::vector<uint8_t> x = interleave(l, w, 16, cols);
      ASSERT_NE(w, x);
      const size_t rb = row_bytes(l.plain, cols);
      std::vector<uint8_t> row(rb);
      for (int64_t r = 0; r < 16; ++r) {
        l.row(&x[(r / 8) * 8 * rb], cols, static_cast<int>(r % 8), row.data());
        EXPECT_EQ(std::memcmp(row.data(), &w[r * rb], rb), 0) << name_of(l.plain) << " row " << r << ", cols " << cols;
      }
    }
}

TEST(InterleavedRows, AreNotFileTypes) {
  for (const InterleavedLayout& l : kInterleavedLayouts) {
    EXPECT_FALSE(dtype_from_gguf(static_cast<uint32_t>(l.interleaved)).has_value());
    EXPECT_FALSE(dtype_from_name(dtype_name(l.interleaved)).has_value());
    EXPECT_EQ(row_bytes(l.interleaved, 512), row_bytes(l.plain, 512));
  }
}

// Exact integer sums and one fixed float order per super-block: the SIMD dots equal the
// scalar reference bit for bit (other types only agree within a tolerance).
TEST(InterleavedRows, EveryLevelsPlainDotEqualsTheScalarBitwise) {
  std::mt19937 rng(2);
  for (const InterleavedLayout& l : kInterleavedLayouts) {
    const DotFn ref = kernels_for(SimdLevel::kScalar).entry(l.plain).dot;
    for (SimdLevel level : available_levels()) {
      const DotFn dot = kernels_for(level).entry(l.plain).dot;
      for (int64_t cols : {256, 768, 1792, 8448}) {
        const std::vector<uint8_t> w = random_rows(l.plain, 3, cols, rng);
        const std::vector<BlockQ8_K> a = q8_k_rows(2, cols, rng);
        const size_t rb = row_bytes(l.plain, cols);
        const int64_t nb = cols / kQK_K;
        for (int r = 0; r < 3; ++r)
          for (int t = 0; t < 2; ++t) {
            const float want = ref(static_cast<int>(cols), &w[r * rb], &a[t * nb]);
            const float got = dot(static_cast<int>(cols), &w[r * rb], &a[t * nb]);
            EXPECT_TRUE(same_bits(got, want))
                << name_of(l.plain) << " " << simd_level_name(level) << " cols " << cols << ": " << got << " vs " << want;
          }
      }
    }
  }
}

// The interleaved gemm of every level that has one against the plain dot: rows in 1-5
// groups, 1-17 tokens (groups of 8, 4 and tails), padded strides, nothing written past the
// rows asked for. The scalar reference gemm is checked the same way.
TEST(InterleavedRows, GemmEqualsPlainDotBitwise) {
  std::mt19937 rng(3);
  for (const InterleavedLayout& l : kInterleavedLayouts) {
    ASSERT_NE(scalar_gemm_of(l.interleaved), nullptr) << name_of(l.interleaved);
    std::vector<std::pair<std::string, GemmFn>> gemms = {{"scalar", scalar_gemm_of(l.interleaved)}};
    for (SimdLevel level : available_levels())
      if (GemmFn g = kernels_for(level).entry(l.interleaved).gemm) gemms.emplace_back(simd_level_name(level), g);
    const DotFn dot = kernels_for(SimdLevel::kScalar).entry(l.plain).dot;
    for (const auto& [name, gemm] : gemms) {
      for (int64_t rows : {8, 40}) {
        for (int64_t cols : {256, 1280}) {
          const size_t rb = row_bytes(l.plain, cols);
          const int64_t nb = cols / kQK_K;
          const std::vector<uint8_t> w = random_rows(l.plain, rows, cols, rng);
          const std::vector<uint8_t> x = interleave(l, w, rows, cols);
          for (int n_tok : {1, 2, 3, 5, 8, 13, 17}) {
            const std::vector<BlockQ8_K> a = q8_k_rows(n_tok, cols, rng);
            const size_t y_stride = static_cast<size_t>(rows) + 3;
            std::vector<float> y(y_stride * n_tok, NAN);
            gemm(static_cast<int>(cols), x.data(), rb, static_cast<int>(rows), a.data(), nb * sizeof(BlockQ8_K), n_tok,
                 y.data(), y_stride);
            for (int t = 0; t < n_tok; ++t) {
              for (int64_t r = 0; r < rows; ++r) {
                const float want = dot(static_cast<int>(cols), &w[r * rb], &a[t * nb]);
                ASSERT_TRUE(same_bits(y[t * y_stride + r], want))
                    << name_of(l.interleaved) << " " << name << ": rows " << rows << " cols " << cols << " tokens "
                    << n_tok << " at (" << t << ", " << r << "): " << y[t * y_stride + r] << " vs " << want;
              }
              for (size_t r = rows; r < y_stride; ++r) EXPECT_TRUE(std::isnan(y[t * y_stride + r])) << name;
            }
          }
        }
      }
    }
  }
}

// The kernels sum products in narrow lanes before the scales (int16 for Q4_K on AVX2, one
// int32 lane per sub-block and row for Q6_K): with the largest quants, scales and
// activations (+-127) the sums sit at their largest and must still equal the plain dot (an
// overflow would change them by a power of two). Q4_K: every nibble 15, scales and mins 63,
// each weight d * 63 * 15 - dmin * 63. Q6_K: every q 63, scales -128, each weight
// d * -128 * (63 - 32).
TEST(InterleavedRows, LargestSumsDoNotOverflow) {
  const int64_t rows = 8, cols = 512, nb = cols / kQK_K;
  for (const InterleavedLayout& l : kInterleavedLayouts) {
    std::vector<uint8_t> w(rows * row_bytes(l.plain, cols), 0xFF);
    double weight = 0;
    if (l.plain == DType::Q4_K) {
      for (BlockQ4_K& b : blocks_of<BlockQ4_K>(w)) {
        b.d = f32_to_fp16(1.0f);
        b.dmin = f32_to_fp16(0.5f);
      }
      weight = 15 * 63 - 0.5 * 63;
    } else {
      for (BlockQ6_K& b : blocks_of<BlockQ6_K>(w)) {
        b.d = f32_to_fp16(1.0f);
        for (int8_t& sc : b.scales) sc = -128;
      }
      weight = -128.0 * 31;
    }
    const std::vector<uint8_t> x = interleave(l, w, rows, cols);
    const DotFn dot = kernels_for(SimdLevel::kScalar).entry(l.plain).dot;
    for (float sign : {1.0f, -1.0f}) {
      const std::vector<float> f(static_cast<size_t>(cols), sign);
      std::vector<BlockQ8_K> a(static_cast<size_t>(nb));
      kernels_for(SimdLevel::kScalar).entry(l.plain).quantize_act(static_cast<int>(cols), f.data(), a.data());
      ASSERT_EQ(a[0].qs[0], static_cast<int8_t>(127 * sign));
      const float want = dot(static_cast<int>(cols), w.data(), a.data());
      const double exact = sign * cols * weight;
      EXPECT_NEAR(want, exact, 1e-6 * std::fabs(exact)) << name_of(l.plain);
      for (SimdLevel level : available_levels()) {
        const GemmFn gemm = kernels_for(level).entry(l.interleaved).gemm;
        if (!gemm) continue;
        std::vector<float> y(rows);
        gemm(static_cast<int>(cols), x.data(), row_bytes(l.plain, cols), static_cast<int>(rows), a.data(),
             nb * sizeof(BlockQ8_K), 1, y.data(), rows);
        for (float v : y)
          EXPECT_TRUE(same_bits(v, want)) << name_of(l.interleaved) << " " << simd_level_name(level) << ": " << v << " vs " << want;
      }
    }
  }
}

// matmul, matmul_rows and matmul_shared_input on interleaved views beside a plain one of an
// odd row count: the same bits as on the plain views, on 1 and 2 threads.
TEST(InterleavedRows, MatmulOnInterleavedViewsEqualsPlain) {
  for (const InterleavedLayout& l : kInterleavedLayouts) {
    if (kernels().entry(l.interleaved).gemm == nullptr) continue;  // no such kernel at this level
    std::mt19937 rng(4);
    const int64_t cols = 768;
    const std::vector<uint8_t> wa = random_rows(l.plain, 40, cols, rng), wb = random_rows(l.plain, 16, cols, rng);
    const std::vector<uint8_t> xa = interleave(l, wa, 40, cols), xb = interleave(l, wb, 16, cols);
    const TensorView pa = TensorView::matrix(l.plain, 40, cols, wa.data());
    const TensorView pb = TensorView::matrix(l.plain, 16, cols, wb.data());
    const TensorView ia = TensorView::matrix(l.interleaved, 40, cols, xa.data());
    const TensorView ib = TensorView::matrix(l.interleaved, 16, cols, xb.data());
    const std::vector<uint8_t> wc = random_rows(l.plain, 13, cols, rng);
    const TensorView pc = TensorView::matrix(l.plain, 13, cols, wc.data());
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      for (int64_t n_tok : {1, 9}) {
        std::vector<float> x(static_cast<size_t>(n_tok * cols));
        for (float& v : x) v = gauss(rng);
        std::vector<float> want_a(n_tok * 40), want_b(n_tok * 16), want_c(n_tok * 13);
        matmul(pa, x.data(), n_tok, want_a.data(), pool);
        matmul(pb, x.data(), n_tok, want_b.data(), pool);
        matmul(pc, x.data(), n_tok, want_c.data(), pool);
        std::vector<float> ya(want_a.size()), yb(want_b.size()), yc(want_c.size());
        matmul(ia, x.data(), n_tok, ya.data(), pool);
        EXPECT_EQ(std::memcmp(ya.data(), want_a.data(), 4 * ya.size()), 0) << name_of(l.interleaved) << ", " << threads
                                                                           << " threads, " << n_tok << " tokens";
        std::fill(ya.begin(), ya.end(), -1.0f);
        matmul_shared_input({{&ia, ya.data()}, {&pc, yc.data()}, {&ib, yb.data()}}, x.data(), n_tok, pool);
        EXPECT_EQ(std::memcmp(ya.data(), want_a.data(), 4 * ya.size()), 0) << "shared input, a";
        EXPECT_EQ(std::memcmp(yb.data(), want_b.data(), 4 * yb.size()), 0) << "shared input, b";
        EXPECT_EQ(std::memcmp(yc.data(), want_c.data(), 4 * yc.size()), 0) << "shared input, plain c";
        std::vector<float> part(want_a.size(), -7.0f);
        matmul_rows(ia, x.data(), n_tok, part.data(), 8, 32, pool);
        for (int64_t t = 0; t < n_tok; ++t)
          for (int64_t r = 0; r < 40; ++r)
            EXPECT_EQ(part[t * 40 + r], r >= 8 && r < 32 ? want_a[t * 40 + r] : -7.0f) << "row range, row " << r;
      }
    }
  }
}

TEST(InterleavedRowsDeathTest, RowRangeSplittingAGroupAborts) {
  if (kernels().entry(DType::Q4_K_R8).gemm == nullptr) GTEST_SKIP() << "no Q4_K_R8 kernel at this level";
  std::mt19937 rng(5);
  const std::vector<uint8_t> w = interleave(kInterleavedLayouts[0], random_rows(DType::Q4_K, 16, 256, rng), 16, 256);
  const TensorView v = TensorView::matrix(DType::Q4_K_R8, 16, 256, w.data());
  std::vector<float> x(256, 1.0f), y(16);
  EXPECT_DEATH(
      {
        ThreadPool pool(1);
        matmul_rows(v, x.data(), 1, y.data(), 4, 16, pool);
      },
      "split a group");
}

// A Q4_K_M model: repacked, plain and streamed under a budget give the same logits, bit for bit.
const std::string& q4_k_m_model() {
  static const std::string path = [] {
    SynthSpec spec;
    spec.dim = 512;  // about 1.8 MB per layer
    spec.layers = 4;
    spec.ffn = 1536;
    spec.heads = 8;
    spec.kv_heads = 2;
    spec.vocab = 512;
    spec.ctx = 256;
    spec.seed = 7;
    spec.mix = quant::Mix::Q4_K_M;
    return test::synth_model(spec, "interleaved_rows_model.gguf");
  }();
  return path;
}

std::vector<float> greedy_logits(const std::shared_ptr<Model>& model) {
  Result<std::unique_ptr<Session>> s = Session::create(model, 64);
  NX_CHECK(s.ok(), "session: %s", s.error().message.c_str());
  std::vector<float> all;
  std::vector<int32_t> next = {1, 70, 80, 90, 100, 110, 120, 130, 140};  // a 9-token prefill, then decode
  for (int i = 0; i < 8; ++i) {
    Result<std::span<const float>> l = (*s)->eval(next);
    NX_CHECK(l.ok(), "eval: %s", l.error().message.c_str());
    all.insert(all.end(), l->begin(), l->end());
    next = {static_cast<int32_t>(std::max_element(l->begin(), l->end()) - l->begin())};
  }
  return all;
}

TEST(InterleavedRows, RepackedModelComputesTheSameLogits) {
  LoadOptions plain;
  plain.threads = 2;
  plain.repack = false;
  Result<std::shared_ptr<Model>> a = Model::load(q4_k_m_model(), plain);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ((*a)->impl().interleaved.n_tensors, 0u);
  LoadOptions repacked = plain;
  repacked.repack = true;
  Result<std::shared_ptr<Model>> b = Model::load(q4_k_m_model(), repacked);
  ASSERT_TRUE(b.ok()) << b.error().message;
  const bool has_kernel = kernels().entry(DType::Q4_K_R8).gemm != nullptr;
  if (has_kernel) {
    EXPECT_GT((*b)->impl().interleaved.n_tensors, 12u);
    EXPECT_EQ((*b)->impl().weights.layers[0].ffn_gate.type, DType::Q4_K_R8);
  }
  // the token embeddings are read row by row and stay as they are
  EXPECT_NE((*b)->impl().weights.token_embd.type, DType::Q4_K_R8);
  const std::vector<float> la = greedy_logits(*a), lb = greedy_logits(*b);
  ASSERT_EQ(la.size(), lb.size());
  EXPECT_EQ(std::memcmp(la.data(), lb.data(), 4 * la.size()), 0) << "repacked logits differ";

  // Under a budget nothing is repacked and most layers stream from the file as stored.
  // The budget is the minimum the error names plus 1 MiB. The minimum counts the process's
  // resident set, which can grow between the probe and the load (under AddressSanitizer it
  // once grew past the 1 MiB): then the probe is taken again.
  LoadOptions budget = plain;
  budget.budget_ctx = 64;
  Result<std::shared_ptr<Model>> c = make_error("not loaded");
  for (int attempt = 0; attempt < 3 && !c.ok(); ++attempt) {
    budget.mem_budget = 1;
    const Result<std::shared_ptr<Model>> probe = Model::load(q4_k_m_model(), budget);
    ASSERT_FALSE(probe.ok());
    std::smatch m;
    ASSERT_TRUE(std::regex_search(probe.error().message, m, std::regex("the minimum is ([0-9.]+) MiB")))
        << probe.error().message;
    budget.mem_budget = static_cast<uint64_t>(std::stod(m[1]) * (1 << 20)) + (1 << 20);
    c = Model::load(q4_k_m_model(), budget);
    if (!c.ok()) {
      ASSERT_NE(c.error().message.find("too small"), std::string::npos) << c.error().message;
    }
  }
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_NE((*c)->impl().layer_source(), nullptr) << (*c)->impl().tiered->describe();
  EXPECT_EQ((*c)->impl().interleaved.n_tensors, 0u);
  const std::vector<float> lc = greedy_logits(*c);
  ASSERT_EQ(la.size(), lc.size());
  EXPECT_EQ(std::memcmp(lc.data(), lb.data(), 4 * lc.size()), 0) << "streamed logits differ from repacked ones";
}

}  // namespace
}  // namespace nexus
