#include "kernels/kernel_table.h"

#include "kernels/dot_kernels.h"
#include "kernels/ops.h"
#include "kernels/quantize_act.h"
#include "nexus/result.h"

namespace nexus {

KernelTable::KernelTable(SimdLevel level) : level_(level) {
  auto set = [&](DType w, DType act, QuantizeActFn q, DotFn dot) {
    kernels_[static_cast<int>(w)] = DotKernel{act, q, dot};
  };
  // Scalar: every supported weight type.
  set(DType::F32, DType::F32, copy_act_f32, scalar::dot_f32_f32);
  set(DType::F16, DType::F32, copy_act_f32, scalar::dot_f16_f32);
  set(DType::BF16, DType::F32, copy_act_f32, scalar::dot_bf16_f32);
  set(DType::Q4_0, DType::Q8_0, quantize_act_q8_0, scalar::dot_q4_0_q8_0);
  set(DType::Q4_1, DType::Q8_1, quantize_act_q8_1, scalar::dot_q4_1_q8_1);
  set(DType::Q5_0, DType::Q8_0, quantize_act_q8_0, scalar::dot_q5_0_q8_0);
  set(DType::Q5_1, DType::Q8_1, quantize_act_q8_1, scalar::dot_q5_1_q8_1);
  set(DType::Q8_0, DType::Q8_0, quantize_act_q8_0, scalar::dot_q8_0_q8_0);
  set(DType::Q2_K, DType::Q8_K, quantize_act_q8_k, scalar::dot_q2_k_q8_k);
  set(DType::Q3_K, DType::Q8_K, quantize_act_q8_k, scalar::dot_q3_k_q8_k);
  set(DType::Q4_K, DType::Q8_K, quantize_act_q8_k, scalar::dot_q4_k_q8_k);
  set(DType::Q5_K, DType::Q8_K, quantize_act_q8_k, scalar::dot_q5_k_q8_k);
  set(DType::Q6_K, DType::Q8_K, quantize_act_q8_k, scalar::dot_q6_k_q8_k);

  auto set_to_f32 = [&](DType w, RowToF32Fn f) { kernels_[static_cast<int>(w)].to_f32 = f; };
  set_to_f32(DType::F32, scalar::f32_to_f32);
  set_to_f32(DType::F16, scalar::f16_to_f32);
  set_to_f32(DType::Q8_0, scalar::q8_0_to_f32);
  attention_ = {scalar::attn_scores_f32, scalar::attn_weighted_sum_f32, scalar::softmax_f32};
  silu_mul_ = silu_mul_inplace;

  // Higher levels replace the dots they have; activation formats stay the same, so a
  // type without a SIMD dot keeps its scalar one.
  // A level's gemm must match its own dot bitwise, so replacing a dot drops any gemm of a
  // lower level; gemms are set after their level's dots.
  auto set_dot = [&](DType w, DotFn dot) {
    kernels_[static_cast<int>(w)].dot = dot;
    kernels_[static_cast<int>(w)].gemm = nullptr;
  };
  auto set_gemm = [&](DType w, GemmFn gemm) { kernels_[static_cast<int>(w)].gemm = gemm; };
  if (level >= SimdLevel::kAvx2) {
    set_dot(DType::F32, avx2::dot_f32_f32);
    set_dot(DType::F16, avx2::dot_f16_f32);
    set_dot(DType::BF16, avx2::dot_bf16_f32);
    set_dot(DType::Q4_0, avx2::dot_q4_0_q8_0);
    set_dot(DType::Q4_1, avx2::dot_q4_1_q8_1);
    set_dot(DType::Q5_0, avx2::dot_q5_0_q8_0);
    set_dot(DType::Q5_1, avx2::dot_q5_1_q8_1);
    set_dot(DType::Q8_0, avx2::dot_q8_0_q8_0);
    set_dot(DType::Q2_K, avx2::dot_q2_k_q8_k);
    set_dot(DType::Q3_K, avx2::dot_q3_k_q8_k);
    set_dot(DType::Q4_K, avx2::dot_q4_k_q8_k);
    set_dot(DType::Q5_K, avx2::dot_q5_k_q8_k);
    set_dot(DType::Q6_K, avx2::dot_q6_k_q8_k);
    for (DType w : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K})
      kernels_[static_cast<int>(w)].quantize_act = avx2::quantize_act_q8_k;
    set_gemm(DType::Q8_0, avx2::gemm_q8_0_q8_0);
    set_gemm(DType::Q4_K, avx2::gemm_q4_k_q8_k);
    set_gemm(DType::Q6_K, avx2::gemm_q6_k_q8_k);
    // Q4_K_R8 has only a gemm (its rows come in groups of 8); it matches this level's Q4_K
    // dot bitwise, so a model may hold either layout and compute the same numbers.
    kernels_[static_cast<int>(DType::Q4_K_R8)] =
        DotKernel{DType::Q8_K, avx2::quantize_act_q8_k, nullptr, avx2::gemm_q4_k_r8_q8_k, nullptr, 8};
    set_to_f32(DType::F16, avx2::f16_to_f32);
    set_to_f32(DType::Q8_0, avx2::q8_0_to_f32);
    attention_ = {avx2::attn_scores_f32, avx2::attn_weighted_sum_f32, avx2::softmax_f32};
    silu_mul_ = avx2::silu_mul_f32;
  }
  if (level >= SimdLevel::kAvx512) {
    // Q8_0, Q4_K and Q6_K keep their AVX2 dot + gemm pairs: a dot alone would read each
    // weight once per token of a batch instead of once per group of 8 tokens. With VNNI dots
    // in their place, 8 streams on B1 Q4_K_M decoded at 1.1-1.4x one stream's tokens/s;
    // with the pairs and Q4_K_R8, 2.9x; with Q6_K_R8 too, 3.3-4.1x (bench/NOTES.md sections
    // 11 and 12).
    set_dot(DType::F32, avx512::dot_f32_f32);
    set_dot(DType::F16, avx512::dot_f16_f32);
    set_dot(DType::BF16, avx512::dot_bf16_f32);
    set_dot(DType::Q4_0, avx512::dot_q4_0_q8_0);
    set_dot(DType::Q4_1, avx512::dot_q4_1_q8_1);
    set_dot(DType::Q5_0, avx512::dot_q5_0_q8_0);
    set_dot(DType::Q5_1, avx512::dot_q5_1_q8_1);
    set_dot(DType::Q5_K, avx512::dot_q5_k_q8_k);
    kernels_[static_cast<int>(DType::Q4_K_R8)].gemm = avx512::gemm_q4_k_r8_q8_k;
    // Q6_K_R8 only here, where vpdpbusd sums a 16-element sub-block per row in one int32
    // lane; the AVX2 level keeps the plain Q6_K gemm (an AVX2 tile for the layout has not
    // been written since its bytes were laid out in reading order, NOTES section 12).
    kernels_[static_cast<int>(DType::Q6_K_R8)] =
        DotKernel{DType::Q8_K, avx2::quantize_act_q8_k, nullptr, avx512::gemm_q6_k_r8_q8_k, nullptr, 8};
  }
}

const DotKernel& KernelTable::entry(DType w) const {
  static const DotKernel kNone{};
  const auto id = static_cast<uint32_t>(w);
  return id < kNumDTypeIds ? kernels_[id] : kNone;
}

const KernelTable& kernels_for(SimdLevel level) {
  static const KernelTable tables[kNumSimdLevels] = {KernelTable(SimdLevel::kScalar), KernelTable(SimdLevel::kAvx2),
                                                     KernelTable(SimdLevel::kAvx512)};
  const SimdLevel hw = max_simd_level(cpu_features());
  const int i = static_cast<int>(level) < static_cast<int>(hw) ? static_cast<int>(level) : static_cast<int>(hw);
  return tables[i];
}

const KernelTable& kernels() { return kernels_for(simd_level()); }

}  // namespace nexus
