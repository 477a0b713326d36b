// Reference converters: round-trip error per type on several distributions, exact decoding
// of hand-built blocks (catches layout mistakes that a self-consistent round trip would not),
// stability of re-quantization, and safe handling of zero rows.
#include "tensor/quants.h"

#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tensor/blocks.h"
#include "util/fp16.h"

namespace nexus {
namespace {

enum class Dist { kNormal, kUniform, kHeavyTail, kOffset };

std::vector<float> make_data(Dist dist, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::student_t_distribution<float> heavy(3.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    switch (dist) {
      case Dist::kNormal: v = 0.02f * normal(rng); break;
      case Dist::kUniform: v = uni(rng); break;
      case Dist::kHeavyTail: v = heavy(rng); break;
      case Dist::kOffset: v = 3.0f + normal(rng); break;  // all-positive-ish, stresses mins
    }
  }
  return x;
}

double relative_rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(a[i]) * a[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

std::vector<float> round_trip(DType t, const std::vector<float>& x, std::vector<uint8_t>* bytes = nullptr) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(row_bytes(t, n));
  quantize_row(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  dequantize_row(t, q.data(), y.data(), n);
  if (bytes) *bytes = q;
  return y;
}

struct Bound {
  DType type;
  double normal;  // bound on relative RMSE for gaussian / uniform data
  double heavy;   // bound for heavy-tailed data (outliers spend range)
};

// Measured errors are well below these (see the RecordedErrors output); the bounds leave
// ~20-30% headroom so a real regression, not noise, fails the test.
const Bound kBounds[] = {
    {DType::F32, 1e-7, 1e-7},    {DType::F16, 1e-3, 1e-3},    {DType::BF16, 5e-3, 5e-3},
    {DType::Q8_0, 0.01, 0.015},  {DType::Q8_1, 0.01, 0.015},  {DType::Q8_K, 0.01, 0.02},
    {DType::Q6_K, 0.02, 0.03},   {DType::Q5_0, 0.06, 0.09},   {DType::Q5_1, 0.06, 0.09},
    {DType::Q5_K, 0.04, 0.06},   {DType::Q4_0, 0.12, 0.17},   {DType::Q4_1, 0.12, 0.17},
    {DType::Q4_K, 0.08, 0.12},   {DType::Q3_K, 0.17, 0.22},   {DType::Q2_K, 0.33, 0.40},
};

TEST(Quants, SupportsEveryListedType) {
  for (const Bound& b : kBounds) {
    EXPECT_TRUE(can_dequantize(b.type)) << dtype_name(b.type);
    EXPECT_TRUE(can_quantize(b.type)) << dtype_name(b.type);
  }
  EXPECT_FALSE(can_dequantize(DType::I32));
}

TEST(Quants, RoundTripErrorWithinBounds) {
  for (const Bound& b : kBounds) {
    const int64_t blk = dtype_traits(b.type).block_elems;
    const int64_t unit = blk == 1 ? 32 : blk;
    for (int nblocks = 1; nblocks <= 7; nblocks += 2) {
      for (Dist dist : {Dist::kNormal, Dist::kUniform, Dist::kHeavyTail, Dist::kOffset}) {
        const auto x = make_data(dist, unit * nblocks, 1000 + nblocks * 7 + static_cast<int>(dist));
        const auto y = round_trip(b.type, x);
        const double err = relative_rmse(x, y);
        const double bound = dist == Dist::kHeavyTail ? b.heavy : b.normal;
        EXPECT_LT(err, bound) << dtype_name(b.type) << " blocks=" << nblocks << " dist=" << static_cast<int>(dist);
        for (float v : y) ASSERT_TRUE(std::isfinite(v));
      }
    }
  }
}

// Prints the measured error per type on a larger gaussian sample (calibration aid, and a
// tighter check on the k-quant search quality).
TEST(Quants, RecordedErrors) {
  const auto x = make_data(Dist::kNormal, 256 * 64, 7);
  for (const Bound& b : kBounds) {
    const double err = relative_rmse(x, round_trip(b.type, x));
    std::printf("  %-5s relative RMSE %.5f\n", std::string(dtype_name(b.type)).c_str(), err);
    EXPECT_LT(err, b.normal);
  }
}

TEST(Quants, ZeroRowsGiveZeros) {
  for (const Bound& b : kBounds) {
    const std::vector<float> x(512, 0.0f);
    const auto y = round_trip(b.type, x);
    for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(b.type);
  }
}

TEST(Quants, ConstantRows) {
  for (const Bound& b : kBounds) {
    for (float c : {0.5f, -0.25f}) {
      const std::vector<float> x(256, c);
      const auto y = round_trip(b.type, x);
      for (float v : y) ASSERT_NEAR(v, c, 0.02f) << dtype_name(b.type);
    }
  }
}

TEST(Quants, NonFiniteInputStaysDefined) {
  // Garbage in must not crash or hang; the output only has to be finite where possible.
  for (const Bound& b : kBounds) {
    auto x = make_data(Dist::kNormal, 256, 3);
    x[5] = NAN;
    x[9] = INFINITY;
    std::vector<uint8_t> q(row_bytes(b.type, 256));
    quantize_row(b.type, x.data(), q.data(), 256);
    std::vector<float> y(256);
    dequantize_row(b.type, q.data(), y.data(), 256);
  }
}

TEST(Quants, RequantizationIsStable) {
  // quantize(dequantize(q)) should reproduce (nearly) the same values: the dequantized
  // values are exactly representable, so a good search finds them again.
  for (const Bound& b : kBounds) {
    const auto x = make_data(Dist::kNormal, 256 * 4, 11);
    const auto y1 = round_trip(b.type, x);
    const auto y2 = round_trip(b.type, y1);
    const double drift = relative_rmse(y1, y2);
    EXPECT_LT(drift, b.normal * 0.5) << dtype_name(b.type);
  }
}

TEST(Quants, ImportanceShiftsError) {
  // Weighting the first half heavily must not make its error worse than unweighted.
  const auto x = make_data(Dist::kHeavyTail, 256 * 8, 5);
  std::vector<float> imp(x.size(), 1.0f);
  for (size_t i = 0; i < imp.size(); ++i)
    if ((i % 256) < 128) imp[i] = 50.0f;
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    std::vector<uint8_t> q(row_bytes(t, 2048));
    std::vector<float> y0(2048), y1(2048);
    quantize_row(t, x.data(), q.data(), 2048);
    dequantize_row(t, q.data(), y0.data(), 2048);
    quantize_row(t, x.data(), q.data(), 2048, imp.data());
    dequantize_row(t, q.data(), y1.data(), 2048);
    double e0 = 0, e1 = 0;
    for (size_t i = 0; i < 2048; ++i)
      if ((i % 256) < 128) {
        e0 += (x[i] - y0[i]) * (x[i] - y0[i]);
        e1 += (x[i] - y1[i]) * (x[i] - y1[i]);
      }
    EXPECT_LE(e1, e0 * 1.02) << dtype_name(t);
  }
}

// ---- Hand-built blocks: expected values computed from the format definitions.

// Decodes of fixed byte patterns, with the expected numbers produced once by an independent
// GGUF implementation (the `gguf` Python package's numpy dequantizers). Each block's bytes
// are ((i * 37 + 11) * (i / 7 + 3)) & 0xff with the fp16 scale fields then overwritten, so
// every bit of the layout is exercised and any mismatch in bit placement changes the sums.
struct Golden {
  DType type;
  double weighted_sum;  // sum over elements of y[i] * (i + 1)
  double abs_sum;
  std::vector<std::pair<int, double>> picks;
};

struct Fp16Field {
  size_t offset;
  float value;
};

std::vector<Fp16Field> fp16_fields(DType t) {
  switch (t) {
    case DType::Q4_0: return {{0, 0.375f}};
    case DType::Q4_1: return {{0, 0.25f}, {2, -1.5f}};
    case DType::Q5_0: return {{0, -0.125f}};
    case DType::Q5_1: return {{0, 0.0625f}, {2, 0.5f}};
    case DType::Q8_0: return {{0, 0.01171875f}};
    case DType::Q2_K: return {{80, 0.5f}, {82, 0.25f}};
    case DType::Q3_K: return {{108, 0.03125f}};
    case DType::Q4_K: return {{0, 0.015625f}, {2, 0.0078125f}};
    case DType::Q5_K: return {{0, 0.0078125f}, {2, 0.00390625f}};
    case DType::Q6_K: return {{208, 0.001953125f}};
    default: return {};
  }
}

TEST(QuantsLayout, MatchesIndependentImplementation) {
  const Golden kGolden[] = {
    {DType::Q4_0, -73.125, 50.625, {{1, 2.25}, {5, 0}, {19, -1.5}, {30, 1.5}}},
    {DType::Q4_1, 191.25, 35.5, {{1, 1.5}, {5, -1.5}, {19, -0.75}, {30, -0.75}}},
    {DType::Q5_0, -63.25, 34, {{1, -1}, {5, -1}, {19, -0.75}, {30, -1.25}}},
    {DType::Q5_1, 773.5625, 47.9375, {{1, 0.5}, {5, 0.5}, {19, 2}, {30, 0.8125}}},
    {DType::Q8_0, -200.8125, 24.9140625, {{1, 1.2890625}, {5, 0.65625}, {19, 1.40625}, {30, -0.97265625}}},
    {DType::Q2_K, 131897, 1428.5, {{1, -0.5}, {5, -0.5}, {131, -3}, {254, 7}}},
    {DType::Q3_K, -3421.125, 304.5625, {{1, -2}, {5, -2}, {131, 2.625}, {254, -0}}},
    {DType::Q4_K, 110717.359, 919.9375, {{1, -0.09375}, {5, 3.53125}, {131, 10.8671875}, {254, -0.25}}},
    {DType::Q5_K, 120095.602, 950, {{1, -0.046875}, {5, 1.765625}, {131, 13.8710938}, {254, 0.09375}}},
    {DType::Q6_K, -2196.53711, 548.898438, {{1, 3.375}, {5, 2.109375}, {131, -5.109375}, {254, 3.375}}},
  };
  for (const Golden& g : kGolden) {
    const size_t nb = dtype_traits(g.type).block_bytes;
    std::vector<uint8_t> bytes(nb);
    for (size_t i = 0; i < nb; ++i) bytes[i] = static_cast<uint8_t>(((i * 37 + 11) * (i / 7 + 3)) & 0xff);
    for (const Fp16Field& f : fp16_fields(g.type)) {
      const uint16_t h = f32_to_fp16(f.value);
      std::memcpy(bytes.data() + f.offset, &h, 2);
    }
    const int64_t n = dtype_traits(g.type).block_elems;
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(g.type, bytes.data(), y.data(), n);
    double ws = 0, as = 0;
    for (int64_t i = 0; i < n; ++i) {
      ws += static_cast<double>(y[i]) * static_cast<double>(i + 1);
      as += std::fabs(static_cast<double>(y[i]));
    }
    EXPECT_NEAR(ws, g.weighted_sum, 1e-6 * std::max(1.0, std::fabs(g.weighted_sum))) << dtype_name(g.type);
    EXPECT_NEAR(as, g.abs_sum, 1e-6 * std::max(1.0, g.abs_sum)) << dtype_name(g.type);
    for (const auto& [i, v] : g.picks) EXPECT_FLOAT_EQ(y[static_cast<size_t>(i)], static_cast<float>(v)) << dtype_name(g.type) << " element " << i;
  }
}

TEST(QuantsLayout, Q4_0) {
  BlockQ4_0 b{};
  b.d = f32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  dequantize_row(DType::Q4_0, &b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8));              // low nibble: element j
    EXPECT_EQ(y[j + 16], 0.5f * ((15 - j) - 8));  // high nibble: element j + 16
  }
  // And the quantizer reproduces exactly these bytes from those values.
  BlockQ4_0 back{};
  quantize_row(DType::Q4_0, y, &back, 32);
  float y2[32];
  dequantize_row(DType::Q4_0, &back, y2, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y2[j], y[j]);
}

TEST(QuantsLayout, Q5_0AndQ5_1) {
  BlockQ5_0 b{};
  b.d = f32_to_fp16(1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(0x0f & j) | static_cast<uint8_t>(3 << 4);
  const uint32_t qh = (1u << 3) | (1u << 20);  // element 3 and element 20 get bit 4
  std::memcpy(b.qh, &qh, 4);
  float y[32];
  dequantize_row(DType::Q5_0, &b, y, 32);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[3], (3 + 16) - 16.0f);
  EXPECT_EQ(y[4], 4 - 16.0f);
  EXPECT_EQ(y[16], 3 - 16.0f);
  EXPECT_EQ(y[20], (3 + 16) - 16.0f);

  BlockQ5_1 c{};
  c.d = f32_to_fp16(2.0f);
  c.m = f32_to_fp16(-1.0f);
  c.qs[1] = 0x21;
  const uint32_t qh1 = 1u << 17;
  std::memcpy(c.qh, &qh1, 4);
  dequantize_row(DType::Q5_1, &c, y, 32);
  EXPECT_EQ(y[1], 2.0f * 1 - 1.0f);
  EXPECT_EQ(y[17], 2.0f * (2 + 16) - 1.0f);
  EXPECT_EQ(y[0], -1.0f);
}

TEST(QuantsLayout, Q8_0AndQ8_1) {
  BlockQ8_0 b{};
  b.d = f32_to_fp16(0.25f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j - 16);
  float y[32];
  dequantize_row(DType::Q8_0, &b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.25f * (j - 16));

  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j) - 10.0f;
  BlockQ8_1 q{};
  quantize_row(DType::Q8_1, x.data(), &q, 32);
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += q.qs[j];
  EXPECT_NEAR(fp16_to_f32(q.s), fp16_to_f32(q.d) * sum, std::fabs(fp16_to_f32(q.d) * sum) * 2e-3);
  EXPECT_EQ(q.qs[31], 127);  // the largest magnitude (21) maps to 127
}

TEST(QuantsLayout, Q4_K) {
  BlockQ4_K b{};
  b.d = f32_to_fp16(1.0f);
  b.dmin = f32_to_fp16(0.5f);
  // Chosen 6-bit scales / mins per sub-block.
  const int sc[8] = {1, 2, 3, 63, 17, 33, 48, 5};
  const int mn[8] = {0, 4, 7, 1, 60, 2, 19, 32};
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  // qs byte k of chunk c holds element 64c + k (low nibble) and 64c + 32 + k (high nibble).
  for (int k = 0; k < 128; ++k) b.qs[k] = static_cast<uint8_t>((k % 16) | (((k + 5) % 16) << 4));
  float y[256];
  dequantize_row(DType::Q4_K, &b, y, 256);
  for (int e = 0; e < 256; ++e) {
    const int chunk = e / 64, within = e % 64;
    const int byte = chunk * 32 + within % 32;
    const int q = within < 32 ? byte % 16 : (byte + 5) % 16;
    const int j = e / 32;
    EXPECT_EQ(y[e], 1.0f * sc[j] * q - 0.5f * mn[j]) << "element " << e;
  }
}

TEST(QuantsLayout, Q5_K) {
  BlockQ5_K b{};
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.0f);
  for (int j = 0; j < 4; ++j) b.scales[j] = 2;                             // scales 0..3 = 2
  for (int j = 8; j < 12; ++j) b.scales[j] = 3;                            // scales 4..7 = 3
  b.qh[7] = 0x81;  // element 7 (sub-block 0) and element 7 + 224 (sub-block 7) get bit 4
  b.qs[7] = 0x21;  // element 7: 1, element 39: 2
  float y[256];
  dequantize_row(DType::Q5_K, &b, y, 256);
  EXPECT_EQ(y[7], 0.5f * 2 * (1 + 16));
  EXPECT_EQ(y[39], 0.5f * 2 * 2);
  EXPECT_EQ(y[231], 0.5f * 3 * 16);
  EXPECT_EQ(y[0], 0.0f);
}

TEST(QuantsLayout, Q6_K) {
  BlockQ6_K b{};
  b.d = f32_to_fp16(0.125f);
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(j - 8);
  // Element with q = 32 dequantizes to 0; set everything to 32 = 0b100000: low nibble 0,
  // high 2 bits 2 for every element.
  std::memset(b.qh, 0xaa, sizeof(b.qh));
  // Then give a few chosen elements other values.
  // Element 130 (half 1, group 0, l=2): ql[64 + 2] low nibble, qh[32 + 2] bits 0-1.
  b.ql[66] = 0x05;
  b.qh[34] = static_cast<uint8_t>((b.qh[34] & ~0x03) | 0x03);  // q = 5 | 3 << 4 = 53
  // Element 100 (half 0, group 3, l=4): ql[32 + 4] high nibble, qh[4] bits 6-7.
  b.ql[36] = 0x70;
  b.qh[4] = static_cast<uint8_t>((b.qh[4] & 0x3f) | (0 << 6));  // q = 7 | 0 << 4 = 7
  float y[256];
  dequantize_row(DType::Q6_K, &b, y, 256);
  EXPECT_EQ(y[130], 0.125f * (130 / 16 - 8) * (53 - 32));
  EXPECT_EQ(y[100], 0.125f * (100 / 16 - 8) * (7 - 32));
  for (int e : {0, 31, 64, 99, 101, 255}) EXPECT_EQ(y[e], 0.0f) << e;
}

TEST(QuantsLayout, Q3_K) {
  BlockQ3_K b{};
  b.d = f32_to_fp16(1.0f);
  // Scale i stored as i + 40 - 32 = i + 8 after the -32 bias: stored value i + 40 (6 bits).
  for (int i = 0; i < 16; ++i) {
    const int l = i + 40;
    if (i < 8) b.scales[i] |= static_cast<uint8_t>(l & 15);
    else b.scales[i - 8] |= static_cast<uint8_t>((l & 15) << 4);
    b.scales[8 + i % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (i / 4)));
  }
  std::memset(b.hmask, 0xff, sizeof(b.hmask));  // high bit set: q = low bits, no -4
  // Element 200 = half 1, group 2, l = 8: qs[32 + 8] bits 4-5; hmask[8] bit 6.
  b.qs[40] = 0x30;        // low bits 3 -> q = 3
  b.hmask[8] &= ~(1 << 6);  // clear: q = 3 - 4 = -1
  // Element 45 = half 0, group 1, l = 13: qs[13] bits 2-3 = 2, high bit set -> q = 2.
  b.qs[13] = 0x08;
  float y[256];
  dequantize_row(DType::Q3_K, &b, y, 256);
  EXPECT_EQ(y[200], static_cast<float>(200 / 16 + 8) * -1.0f);
  EXPECT_EQ(y[45], static_cast<float>(45 / 16 + 8) * 2.0f);
  EXPECT_EQ(y[0], 0.0f);
}

TEST(QuantsLayout, Q2_K) {
  BlockQ2_K b{};
  b.d = f32_to_fp16(2.0f);
  b.dmin = f32_to_fp16(1.0f);
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>((j % 16) | ((15 - j) << 4));
  // Element 177 = half 1, group 1 (bits 2-3), l = 17: qs[32 + 17].
  b.qs[49] = 0x0c;  // q = 3
  float y[256];
  dequantize_row(DType::Q2_K, &b, y, 256);
  EXPECT_EQ(y[177], 2.0f * (177 / 16) * 3 - 1.0f * (15 - 177 / 16));
  EXPECT_EQ(y[17], -1.0f * (15 - 1));
}

TEST(QuantsLayout, Q8_KBsums) {
  auto x = make_data(Dist::kUniform, 512, 9);
  std::vector<BlockQ8_K> q(2);
  quantize_row(DType::Q8_K, x.data(), q.data(), 512);
  for (const auto& b : q) {
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += b.qs[j * 16 + l];
      EXPECT_EQ(b.bsums[j], s);
    }
    int amax = 0;
    for (int8_t v : b.qs) amax = std::max(amax, std::abs(static_cast<int>(v)));
    EXPECT_EQ(amax, 127);
  }
}

TEST(QuantsLayout, Fp16AndBf16Rows) {
  const float x[4] = {1.0f, -2.5f, 65504.0f, 1e-8f};
  uint16_t h[4];
  quantize_row(DType::F16, x, h, 4);
  EXPECT_EQ(h[0], 0x3c00);
  EXPECT_EQ(h[1], 0xc100);
  EXPECT_EQ(h[2], 0x7bff);
  quantize_row(DType::BF16, x, h, 4);
  EXPECT_EQ(h[0], 0x3f80);
  EXPECT_EQ(h[1], 0xc020);
  float y[4];
  dequantize_row(DType::BF16, h, y, 2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.5f);
}

}  // namespace
}  // namespace nexus
