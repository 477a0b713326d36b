// Dot-product kernels and matmul: every weight type on every instruction set this CPU has,
// on random data at odd sizes. Three levels of reference:
//   SIMD dot      vs scalar dot (same activation bytes)                  -> tight
//   scalar dot    vs double dot of dequantized weights x dequantized act -> tight
//   scalar dot    vs double dot of dequantized weights x original floats -> activation
//                                                                           quantization error
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"
#include "tensor/blocks.h"
#include "tensor/quants.h"
#include "util/fp16.h"

namespace nexus {
namespace {

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<SimdLevel> available_levels() {
  std::vector<SimdLevel> v;
  for (int i = 0; i <= static_cast<int>(max_simd_level(cpu_features())); ++i) v.push_back(static_cast<SimdLevel>(i));
  return v;
}

std::string name_of(DType t) { return std::string(dtype_name(t)); }

void put_f16(uint8_t* p, float v) {
  const fp16_t h = f32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// A weight row of n elements: random bytes for the quants, with the fp16 scale fields
// replaced by sane values (random bytes there would give inf/nan or absurd magnitudes).
std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.5f, 2.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> row(row_bytes(t, n));
  if (t == DType::F32) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = gauss(rng);
      std::memcpy(row.data() + 4 * i, &v, 4);
    }
    return row;
  }
  if (t == DType::F16 || t == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = t == DType::F16 ? f32_to_fp16(gauss(rng)) : f32_to_bf16(gauss(rng));
      std::memcpy(row.data() + 2 * i, &h, 2);
    }
    return row;
  }
  for (auto& b : row) b = static_cast<uint8_t>(byte(rng));
  const size_t bs = dtype_traits(t).block_bytes;
  auto sign = [&] { return byte(rng) & 1 ? 1.0f : -1.0f; };
  for (size_t off = 0; off < row.size(); off += bs) {
    uint8_t* blk = row.data() + off;
    switch (t) {
      case DType::Q4_0: case DType::Q5_0: case DType::Q8_0:
        put_f16(blk + offsetof(BlockQ4_0, d), sign() * uni(rng) * 0.01f);
        break;
      case DType::Q4_1: case DType::Q5_1:
        put_f16(blk + offsetof(BlockQ4_1, d), uni(rng) * 0.01f);
        put_f16(blk + offsetof(BlockQ4_1, m), sign() * uni(rng) * 0.05f);
        break;
      case DType::Q2_K:
        put_f16(blk + offsetof(BlockQ2_K, d), uni(rng) * 0.01f);
        put_f16(blk + offsetof(BlockQ2_K, dmin), uni(rng) * 0.01f);
        break;
      case DType::Q3_K: put_f16(blk + offsetof(BlockQ3_K, d), sign() * uni(rng) * 0.01f); break;
      case DType::Q4_K: case DType::Q5_K:
        put_f16(blk + offsetof(BlockQ4_K, d), uni(rng) * 0.001f);
        put_f16(blk + offsetof(BlockQ4_K, dmin), uni(rng) * 0.001f);
        break;
      case DType::Q6_K: put_f16(blk + offsetof(BlockQ6_K, d), sign() * uni(rng) * 0.001f); break;
      default: ADD_FAILURE() << "no random generator for " << name_of(t);
    }
  }
  return row;
}

// A rows x cols matrix of random_weights rows, with its view (the view points into bytes,
// which a move keeps in place).
struct RandomMatrix {
  std::vector<uint8_t> bytes;
  TensorView view;
};

RandomMatrix random_matrix(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  RandomMatrix m;
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<uint8_t> row = random_weights(t, cols, rng);
    m.bytes.insert(m.bytes.end(), row.begin(), row.end());
  }
  m.view = TensorView::matrix(t, rows, cols, m.bytes.data());
  return m;
}

std::vector<float> random_activations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = gauss(rng);
  // a few outliers, as real activations have
  for (int64_t i = 0; i < n; i += 97) x[i] *= 8.0f;
  return x;
}

// Test-local dequantization of the activation formats (they are Nexus-internal).
std::vector<float> dequantize_act(DType t, const std::vector<uint8_t>& a, int64_t n) {
  std::vector<float> y(n);
  if (t == DType::F32) {
    std::memcpy(y.data(), a.data(), 4 * n);
  } else if (t == DType::Q8_0) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(a.data());
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(b[i / 32].d) * b[i / 32].qs[i % 32];
  } else if (t == DType::Q8_1) {
    const auto* b = reinterpret_cast<const BlockQ8_1*>(a.data());
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(b[i / 32].d) * b[i / 32].qs[i % 32];
  } else if (t == DType::Q8_K) {
    const auto* b = reinterpret_cast<const BlockQ8_K*>(a.data());
    for (int64_t i = 0; i < n; ++i) y[i] = b[i / 256].d * b[i / 256].qs[i % 256];
  } else {
    ADD_FAILURE() << "unknown activation type " << name_of(t);
  }
  return y;
}

std::vector<uint8_t> quantize_act(const DotKernel& k, const std::vector<float>& x) {
  std::vector<uint8_t> a(row_bytes(k.act_type, static_cast<int64_t>(x.size())));
  k.quantize_act(static_cast<int>(x.size()), x.data(), a.data());
  return a;
}

// Bound on |dot(w, x) - dot(w, quantized x)|: each activation is off by at most half a
// quantization step (block max / 127 / 2), plus the fp16 rounding of the scales.
double act_quant_bound(DType act, const std::vector<float>& w, const std::vector<float>& x) {
  if (act == DType::F32) return 0.0;
  const int64_t bs = act == DType::Q8_K ? 256 : 32;
  double bound = 0.0;
  for (size_t b0 = 0; b0 < x.size(); b0 += bs) {
    double amax = 0.0;
    for (int64_t i = 0; i < bs; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[b0 + i])));
    for (int64_t i = 0; i < bs; ++i)
      bound += std::fabs(w[b0 + i]) * (amax / 127.0 * 0.51 + std::fabs(x[b0 + i]) * 1e-3);
  }
  return bound;
}

double dot_double(const std::vector<float>& a, const std::vector<float>& b, double* abs_sum) {
  double s = 0.0, m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += static_cast<double>(a[i]) * b[i];
    m += std::fabs(static_cast<double>(a[i]) * b[i]);
  }
  if (abs_sum) *abs_sum = m;
  return s;
}

std::vector<int64_t> test_sizes(DType t) {
  const int64_t be = dtype_traits(t).block_elems;
  if (be == 1) return {1, 3, 7, 33, 257, 1001};
  return {be * 1, be * 3, be * 7, be * 33};
}

TEST(KernelTable, LevelsAndNames) {
  const SimdLevel hw = max_simd_level(cpu_features());
  EXPECT_LE(static_cast<int>(simd_level()), static_cast<int>(hw));
  EXPECT_EQ(kernels().level(), simd_level());
  for (SimdLevel l : available_levels()) {
    EXPECT_EQ(kernels_for(l).level(), l);
    SimdLevel parsed;
    ASSERT_TRUE(parse_simd_level(simd_level_name(l), &parsed));
    EXPECT_EQ(parsed, l);
  }
  // asking for more than the CPU has is capped
  EXPECT_EQ(kernels_for(SimdLevel::kAvx512).level(), hw);
  SimdLevel dummy;
  EXPECT_FALSE(parse_simd_level("sse9", &dummy));
  EXPECT_FALSE(simd_description().empty());
  const char* env = std::getenv("NEXUS_SIMD");
  if (env != nullptr && std::string(env) == "scalar") {
    EXPECT_EQ(simd_level(), SimdLevel::kScalar);
  }
  std::printf("SIMD level: %s (CPU max %s)\n", simd_description().c_str(), std::string(simd_level_name(hw)).c_str());
}

TEST(KernelTable, EveryWeightTypeSupportedWithSameActivationFormatAtEveryLevel) {
  for (DType t : kWeightTypes) {
    const DotKernel& s = kernels_for(SimdLevel::kScalar).entry(t);
    ASSERT_NE(s.dot, nullptr) << name_of(t);
    ASSERT_NE(s.quantize_act, nullptr) << name_of(t);
    for (SimdLevel l : available_levels()) {
      EXPECT_EQ(kernels_for(l).entry(t).act_type, s.act_type) << name_of(t);
      EXPECT_NE(kernels_for(l).entry(t).dot, nullptr) << name_of(t);
    }
  }
  EXPECT_FALSE(kernels().supports(DType::I32));
  EXPECT_FALSE(kernels().supports(static_cast<DType>(1000)));
}

class DotTest : public ::testing::TestWithParam<DType> {};

TEST_P(DotTest, SimdMatchesScalarAndScalarMatchesDequantizedFloat) {
  const DType t = GetParam();
  ASSERT_TRUE(can_dequantize(t)) << "quants.cc has no dequantizer for " << name_of(t);
  std::mt19937 rng(1234 + static_cast<int>(t));
  const DotKernel& ref = kernels_for(SimdLevel::kScalar).entry(t);
  for (int64_t n : test_sizes(t)) {
    for (int rep = 0; rep < 4; ++rep) {
      const std::vector<uint8_t> wq = random_weights(t, n, rng);
      const std::vector<float> x = random_activations(n, rng);
      std::vector<float> w(n);
      dequantize_row(t, wq.data(), w.data(), n);
      const std::vector<uint8_t> a = quantize_act(ref, x);
      const std::vector<float> xa = dequantize_act(ref.act_type, a, n);

      const float scalar = ref.dot(static_cast<int>(n), wq.data(), a.data());
      double mag = 0.0;
      const double exact_q = dot_double(w, xa, &mag);
      // Q8_1's s = d * sum(q) is stored as fp16, so the min term of _1 types rounds more.
      const double tight = (ref.act_type == DType::Q8_1 ? 2e-3 : 2e-5) * mag + 1e-6;
      EXPECT_NEAR(scalar, exact_q, tight) << name_of(t) << " n=" << n << ": scalar dot vs dequantized";

      double mag_x = 0.0;
      const double exact = dot_double(w, x, &mag_x);
      const double loose = act_quant_bound(ref.act_type, w, x) + 2e-3 * mag_x + 1e-5;
      EXPECT_NEAR(scalar, exact, loose) << name_of(t) << " n=" << n << ": scalar dot vs float activations";

      for (SimdLevel l : available_levels()) {
        const DotKernel& k = kernels_for(l).entry(t);
        // every level's quantizer must give the same bytes
        EXPECT_EQ(quantize_act(k, x), a) << name_of(t) << " at " << simd_level_name(l);
        const float v = k.dot(static_cast<int>(n), wq.data(), a.data());
        EXPECT_NEAR(v, scalar, 2e-5 * mag + 1e-6)
            << name_of(t) << " n=" << n << " at " << simd_level_name(l) << " vs scalar";
      }
    }
  }
}

TEST_P(DotTest, ZeroActivationsGiveZero) {
  const DType t = GetParam();
  std::mt19937 rng(99);
  const int64_t n = test_sizes(t)[1];
  const std::vector<uint8_t> wq = random_weights(t, n, rng);
  const std::vector<float> x(n, 0.0f);
  for (SimdLevel l : available_levels()) {
    const DotKernel& k = kernels_for(l).entry(t);
    const std::vector<uint8_t> a = quantize_act(k, x);
    EXPECT_EQ(k.dot(static_cast<int>(n), wq.data(), a.data()), 0.0f) << name_of(t) << " at " << simd_level_name(l);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DotTest, ::testing::ValuesIn(kWeightTypes),
                         [](const ::testing::TestParamInfo<DType>& info) { return name_of(info.param); });

class MatmulTest : public ::testing::TestWithParam<DType> {};

// Every level's activation quantizer writes the scalar one's bytes, also on rounding ties,
// zeros, NaN and infinite elements, and tiny or huge blocks.
TEST(QuantizeAct, SameBytesAtEveryLevelOnEdgeValues) {
  std::mt19937 rng(8);
  const int n = 1024;
  std::vector<std::vector<float>> rows;
  std::vector<float> ties(n);
  for (int i = 0; i < n; ++i) ties[i] = static_cast<float>(i % 255 - 127) + 0.5f * static_cast<float>(i % 2);
  ties[0] = 127.0f;  // max 127: iscale 1, so x.5 values are exact ties
  rows.push_back(ties);
  // Near-ties under an inexact scale (127 / 3): x * iscale rounds to k + 0.5 in float for
  // some of these, so a fused multiply-add (one rounding) would differ from the reference.
  std::vector<float> near(n);
  const float iscale = 127.0f / 3.0f;
  for (int i = 0; i < n; ++i) {
    const float x = (static_cast<float>(i / 3 % 250) - 124.5f) / iscale;
    near[i] = i % 256 == 0 ? 3.0f : std::nextafter(x, i % 3 == 0 ? -INFINITY : i % 3 == 1 ? x : INFINITY);
  }
  rows.push_back(near);
  rows.push_back(std::vector<float>(n, 0.0f));
  std::vector<float> odd = random_activations(n, rng);
  odd[3] = NAN;
  odd[255] = NAN;  // the last element of a block: a NaN must not become the block's maximum
  odd[300] = -NAN;
  odd[600] = INFINITY;
  odd[900] = -1e-39f;  // denormal
  rows.push_back(odd);
  std::vector<float> scaled = random_activations(n, rng);
  for (int i = 0; i < n; ++i) scaled[i] *= i < 512 ? 1e-30f : 1e30f;
  rows.push_back(scaled);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q6_K}) {
    const DotKernel& ref = kernels_for(SimdLevel::kScalar).entry(t);
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::vector<uint8_t> a = quantize_act(ref, rows[r]);
      for (SimdLevel l : available_levels())
        EXPECT_EQ(quantize_act(kernels_for(l).entry(t), rows[r]), a) << name_of(t) << " row " << r << " at "
                                                                     << simd_level_name(l);
    }
  }
}

// Every level's SwiGLU kernel stays within 1e-6 relative of the scalar one (std::exp) at
// odd sizes and saturating inputs, keeps NaN, and gives each element the same value
// wherever a call's range starts (threads split the batch at different points).
TEST(SiluMul, EveryLevelMatchesScalarAndIgnoresSplits) {
  std::mt19937 rng(12);
  std::normal_distribution<float> g(0.0f, 4.0f);
  for (int n : {1, 7, 8, 9, 100, 1027}) {
    std::vector<float> gate(n), up(n);
    for (int i = 0; i < n; ++i) gate[i] = g(rng), up[i] = g(rng);
    gate[0] = n > 3 ? -100.0f : gate[0];
    if (n > 5) gate[5] = 95.0f;
    if (n > 6) gate[6] = NAN;
    std::vector<float> ref = gate;
    silu_mul_inplace(ref.data(), up.data(), n);
    for (SimdLevel l : available_levels()) {
      const SiluMulFn f = kernels_for(l).silu_mul();
      std::vector<float> got = gate;
      f(got.data(), up.data(), n);
      for (int i = 0; i < n; ++i) {
        if (std::isnan(ref[i])) {
          EXPECT_TRUE(std::isnan(got[i])) << simd_level_name(l) << " n=" << n << " i=" << i;
          continue;
        }
        EXPECT_NEAR(got[i], ref[i], 1e-6f * std::fabs(ref[i]) + 1e-30f)
            << simd_level_name(l) << " n=" << n << " i=" << i << " a=" << gate[i];
      }
      for (int cut = 1; cut < std::min(n, 40); ++cut) {
        std::vector<float> split = gate;
        f(split.data(), up.data(), cut);
        f(split.data() + cut, up.data() + cut, n - cut);
        ASSERT_EQ(std::memcmp(split.data(), got.data(), 4 * n), 0) << simd_level_name(l) << " n=" << n << " cut " << cut;
      }
    }
  }
}

// Every level's GemmFn (row x token blocks) equals that level's dot bit for bit, for odd
// row and token counts (token groups of 8 and 4 plus a tail) and padded strides.
TEST(Gemm, MatchesDotBitwiseAtEveryLevel) {
  for (SimdLevel level : available_levels()) {
    for (DType t : kWeightTypes) {
      const DotKernel& k = kernels_for(level).entry(t);
      if (k.gemm == nullptr) continue;
      std::mt19937 rng(99 + static_cast<int>(t));
      const int64_t cols = dtype_traits(t).block_elems == 256 ? 512 : 96;
      const int rows = 5, n_tok = 15;  // 8 + 4 + 3
      const size_t w_stride = row_bytes(t, cols) + 16, a_stride = row_bytes(k.act_type, cols) + 8, y_stride = 9;
      std::vector<uint8_t> w(w_stride * rows), a(a_stride * n_tok);
      for (int r = 0; r < rows; ++r) {
        const std::vector<uint8_t> row = random_weights(t, cols, rng);
        std::memcpy(w.data() + r * w_stride, row.data(), row.size());
      }
      for (int i = 0; i < n_tok; ++i) {
        const std::vector<uint8_t> q = quantize_act(k, random_activations(cols, rng));
        std::memcpy(a.data() + i * a_stride, q.data(), q.size());
      }
      std::vector<float> y(y_stride * n_tok, NAN);
      k.gemm(static_cast<int>(cols), w.data(), w_stride, rows, a.data(), a_stride, n_tok, y.data(), y_stride);
      for (int i = 0; i < n_tok; ++i)
        for (int r = 0; r < rows; ++r) {
          const float d = k.dot(static_cast<int>(cols), w.data() + r * w_stride, a.data() + i * a_stride);
          ASSERT_EQ(std::memcmp(&y[i * y_stride + r], &d, 4), 0)
              << name_of(t) << " at " << simd_level_name(level) << ": token " << i << " row " << r << " gemm "
              << y[i * y_stride + r] << " dot " << d;
        }
      for (int i = 0; i < n_tok; ++i)
        for (size_t r = rows; r < y_stride; ++r) EXPECT_TRUE(std::isnan(y[i * y_stride + r])) << "wrote past n_rows";
    }
  }
}

TEST_P(MatmulTest, MatchesNaiveLoopAndIsThreadCountIndependent) {
  const DType t = GetParam();
  ASSERT_TRUE(can_dequantize(t));
  std::mt19937 rng(777 + static_cast<int>(t));
  const int64_t rows = 37, cols = 768;  // 3 k-quant super-blocks, 24 legacy blocks
  const RandomMatrix m = random_matrix(t, rows, cols, rng);
  const TensorView& w = m.view;
  std::vector<float> wf(rows * cols);
  for (int64_t r = 0; r < rows; ++r) dequantize_row(t, w.row(r), wf.data() + r * cols, cols);

  ThreadPool pool1(1), pool2(2);
  const DotKernel& k = kernels().entry(t);
  for (int64_t n_tokens : {1, 3, 17}) {
    const std::vector<float> x = random_activations(n_tokens * cols, rng);
    std::vector<float> y1(n_tokens * rows, NAN), y2(n_tokens * rows, NAN);
    matmul(w, x.data(), n_tokens, y1.data(), pool1);
    matmul(w, x.data(), n_tokens, y2.data(), pool2);
    for (int64_t t_i = 0; t_i < n_tokens; ++t_i) {
      const std::vector<float> xt(x.begin() + t_i * cols, x.begin() + (t_i + 1) * cols);
      const std::vector<uint8_t> a = quantize_act(k, xt);
      for (int64_t r = 0; r < rows; ++r) {
        const size_t i = t_i * rows + r;
        ASSERT_EQ(std::memcmp(&y1[i], &y2[i], 4), 0) << name_of(t) << ": 1 vs 2 threads differ at " << i;
        // exactly the table's dot, bit for bit
        const float d = k.dot(static_cast<int>(cols), w.row(r), a.data());
        ASSERT_EQ(std::memcmp(&y1[i], &d, 4), 0) << name_of(t) << " token " << t_i << " row " << r;
        const std::vector<float> wr(wf.begin() + r * cols, wf.begin() + (r + 1) * cols);
        double mag = 0.0;
        const double exact = dot_double(wr, xt, &mag);
        EXPECT_NEAR(y1[i], exact, act_quant_bound(k.act_type, wr, xt) + 2e-3 * mag + 1e-5)
            << name_of(t) << " token " << t_i << " row " << r;
      }
    }
  }
}

TEST_P(MatmulTest, RowRangeWritesOnlyThoseRows) {
  const DType t = GetParam();
  std::mt19937 rng(4242);
  const int64_t rows = 37, cols = 256;
  const RandomMatrix m = random_matrix(t, rows, cols, rng);
  const TensorView& w = m.view;
  ThreadPool pool(2);
  const int64_t n_tokens = 3;
  const std::vector<float> x = random_activations(n_tokens * cols, rng);
  std::vector<float> full(n_tokens * rows), part(n_tokens * rows, -12345.0f);
  matmul(w, x.data(), n_tokens, full.data(), pool);
  matmul_rows(w, x.data(), n_tokens, part.data(), 5, 30, pool);
  for (int64_t ti = 0; ti < n_tokens; ++ti)
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = ti * rows + r;
      if (r >= 5 && r < 30) {
        EXPECT_EQ(part[i], full[i]) << "row " << r;
      } else {
        EXPECT_EQ(part[i], -12345.0f) << "row " << r << " outside the range was written";
      }
    }
}

// Weights of three activation formats (this type's, Q8_0's, F32's) sharing one input give
// what separate matmul calls give, bit for bit, for a decode token and a batch.
TEST_P(MatmulTest, SharedInputEqualsSeparateCalls) {
  const DType t = GetParam();
  std::mt19937 rng(31 + static_cast<int>(t));
  const int64_t cols = 768;
  const RandomMatrix a = random_matrix(t, 37, cols, rng), b = random_matrix(DType::Q8_0, 21, cols, rng),
                     c = random_matrix(DType::F32, 5, cols, rng);
  ThreadPool pool(2);
  for (int64_t n_tokens : {1, 9}) {
    const std::vector<float> x = random_activations(n_tokens * cols, rng);
    std::vector<float> ya(n_tokens * 37), yb(n_tokens * 21), yc(n_tokens * 5);
    std::vector<float> sa(ya.size(), NAN), sb(yb.size(), NAN), sc(yc.size(), NAN);
    matmul(a.view, x.data(), n_tokens, ya.data(), pool);
    matmul(b.view, x.data(), n_tokens, yb.data(), pool);
    matmul(c.view, x.data(), n_tokens, yc.data(), pool);
    matmul_shared_input({{&a.view, sa.data()}, {&b.view, sb.data()}, {&c.view, sc.data()}}, x.data(), n_tokens, pool);
    EXPECT_EQ(std::memcmp(ya.data(), sa.data(), 4 * ya.size()), 0) << name_of(t) << ", " << n_tokens << " tokens";
    EXPECT_EQ(std::memcmp(yb.data(), sb.data(), 4 * yb.size()), 0) << "Q8_0 beside " << name_of(t);
    EXPECT_EQ(std::memcmp(yc.data(), sc.data(), 4 * yc.size()), 0) << "F32 beside " << name_of(t);
  }
}

TEST_P(MatmulTest, GetRowMatchesDequantize) {
  const DType t = GetParam();
  std::mt19937 rng(5);
  const int64_t rows = 3, cols = 512;
  const RandomMatrix m = random_matrix(t, rows, cols, rng);
  const TensorView& w = m.view;
  std::vector<float> got(cols), want(cols);
  get_row(w, 2, got.data());
  dequantize_row(t, w.row(2), want.data(), cols);
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTest, ::testing::ValuesIn(kWeightTypes),
                         [](const ::testing::TestParamInfo<DType>& info) { return name_of(info.param); });

}  // namespace
}  // namespace nexus

namespace nexus {
namespace {

// KV rows to floats: every level equals the dequantizer exactly.
TEST(KvKernels, RowToF32MatchesDequantize) {
  std::mt19937 rng(21);
  for (DType t : {DType::F32, DType::F16, DType::Q8_0})
    for (int n : {32, 96, 256}) {
      const std::vector<uint8_t> row = random_weights(t, n, rng);
      std::vector<float> ref(n);
      dequantize_row(t, row.data(), ref.data(), n);
      for (SimdLevel l : available_levels()) {
        std::vector<float> got(n, NAN);
        kernels_for(l).entry(t).to_f32(n, row.data(), got.data());
        EXPECT_EQ(std::memcmp(got.data(), ref.data(), 4 * n), 0) << name_of(t) << " n=" << n << " at " << simd_level_name(l);
      }
    }
}

// Attention scores and weighted sums against a double reference, at head sizes that are and
// are not multiples of 8, head counts around the 4-head tiles, and padded strides.
TEST(KvKernels, AttentionKernelsMatchReference) {
  std::mt19937 rng(22);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto randv = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = nd(rng);
    return v;
  };
  for (int hd : {8, 10, 64, 72})
    for (int n_q : {1, 3, 4, 5, 8})
      for (int n_pos : {1, 7, 16}) {
        const int stride = hd + 5, s_stride = n_pos + 3;
        const std::vector<float> q = randv(static_cast<size_t>(n_q) * hd), k = randv(static_cast<size_t>(n_pos) * stride);
        const std::vector<float> w = randv(static_cast<size_t>(n_q) * s_stride), out0 = randv(static_cast<size_t>(n_q) * hd);
        for (SimdLevel l : available_levels()) {
          const AttentionKernels& ak = kernels_for(l).attention();
          std::vector<float> s(static_cast<size_t>(n_q) * s_stride, NAN), out = out0;
          ak.scores(hd, q.data(), n_q, k.data(), stride, n_pos, 0.25f, s.data(), s_stride);
          ak.weighted_sum(hd, w.data(), s_stride, n_q, k.data(), stride, n_pos, out.data());
          for (int i = 0; i < n_q; ++i) {
            for (int j = 0; j < n_pos; ++j) {
              double ref = 0, mag = 0;
              for (int d = 0; d < hd; ++d) {
                ref += double(q[i * hd + d]) * k[j * stride + d];
                mag += std::fabs(double(q[i * hd + d]) * k[j * stride + d]);
              }
              EXPECT_NEAR(s[i * s_stride + j], 0.25 * ref, 1e-5 * mag + 1e-6)
                  << "scores hd " << hd << " n_q " << n_q << " at " << simd_level_name(l);
            }
            for (int d = 0; d < hd; ++d) {
              double ref = out0[i * hd + d], mag = std::fabs(ref);
              for (int j = 0; j < n_pos; ++j) {
                ref += double(w[i * s_stride + j]) * k[j * stride + d];
                mag += std::fabs(double(w[i * s_stride + j]) * k[j * stride + d]);
              }
              EXPECT_NEAR(out[i * hd + d], ref, 1e-5 * mag + 1e-6)
                  << "weighted sum hd " << hd << " n_q " << n_q << " at " << simd_level_name(l);
            }
          }
        }
      }
}

}  // namespace
}  // namespace nexus

namespace nexus {
namespace {

// Every level's softmax against a double reference: odd lengths, large and very negative
// scores (exp underflow), a single element.
TEST(KvKernels, SoftmaxMatchesReference) {
  std::mt19937 rng(23);
  std::normal_distribution<float> nd(0.0f, 6.0f);
  for (int n : {1, 7, 8, 33, 1000}) {
    std::vector<float> x(n);
    for (float& v : x) v = nd(rng);
    x[0] = -200.0f;
    if (n > 2) x[2] = 90.0f;
    double mx = -1e300;
    for (float v : x) mx = std::max(mx, double(v));
    std::vector<double> ref(n);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += (ref[i] = std::exp(double(x[i]) - mx));
    for (SimdLevel l : available_levels()) {
      std::vector<float> y = x;
      kernels_for(l).attention().softmax(n, y.data());
      for (int i = 0; i < n; ++i) EXPECT_NEAR(y[i], ref[i] / sum, 1e-6 * ref[i] / sum + 1e-9) << "n " << n << " i " << i << " at " << simd_level_name(l);
    }
  }
}

}  // namespace
}  // namespace nexus
