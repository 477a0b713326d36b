#include "runtime/cpu_features.h"

#include <cpuid.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace nexus {
namespace {

bool bit(uint32_t reg, int b) { return (reg >> b) & 1u; }

// xgetbv without requiring -mxsave on this file.
uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

struct Choice {
  SimdLevel level;
  bool capped;  // NEXUS_SIMD lowered the level (or asked for more than the CPU has)
};

Choice choose_level() {
  const SimdLevel hw = max_simd_level(cpu_features());
  const char* env = std::getenv("NEXUS_SIMD");
  if (env == nullptr || *env == '\0') return {hw, false};
  SimdLevel want;
  if (!parse_simd_level(env, &want)) {
    std::fprintf(stderr, "nexus: warning: ignoring unknown NEXUS_SIMD=%s (expected scalar, avx2 or avx512)\n",
                 env);
    return {hw, false};
  }
  // Asking for more than the CPU has is capped silently: the request is a ceiling.
  if (static_cast<int>(want) > static_cast<int>(hw)) return {hw, false};
  return {want, want != hw};
}

const Choice& choice() {
  static const Choice c = choose_level();
  return c;
}

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
  uint32_t a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = bit(c, 27);
  f.fma = bit(c, 12);
  f.f16c = bit(c, 29);
  const bool avx = bit(c, 28);
  if (osxsave) {
    const uint64_t xcr0 = read_xcr0();
    f.os_ymm = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
    f.os_zmm = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  }
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = avx && bit(b, 5);
  f.bmi2 = bit(b, 8);
  f.avx512f = bit(b, 16);
  f.avx512dq = bit(b, 17);
  f.avx512bw = bit(b, 30);
  f.avx512vl = bit(b, 31);
  f.avx512vnni = bit(c, 11);
  const uint32_t max_sub = a;
  if (max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512bf16 = bit(a, 5);
  }
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect_cpu_features();
  return f;
}

SimdLevel max_simd_level(const CpuFeatures& f) {
  const bool avx2 = f.os_ymm && f.avx2 && f.fma && f.f16c && f.bmi2;
  if (!avx2) return SimdLevel::kScalar;
  const bool avx512 = f.os_zmm && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni;
  return avx512 ? SimdLevel::kAvx512 : SimdLevel::kAvx2;
}

std::string_view simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
  }
  return "?";
}

bool parse_simd_level(std::string_view name, SimdLevel* out) {
  for (int i = 0; i < kNumSimdLevels; ++i) {
    const auto level = static_cast<SimdLevel>(i);
    if (name == simd_level_name(level)) {
      *out = level;
      return true;
    }
  }
  return false;
}

SimdLevel simd_level() { return choice().level; }

std::string simd_description() {
  const CpuFeatures& f = cpu_features();
  std::string s(simd_level_name(simd_level()));
  std::string extras;
  if (simd_level() == SimdLevel::kAvx512) {
    extras = "vnni";
    if (f.avx512bf16) extras += ", bf16";
  }
  if (choice().capped) extras += extras.empty() ? "capped by NEXUS_SIMD" : ", capped by NEXUS_SIMD";
  if (!extras.empty()) s += " (" + extras + ")";
  return s;
}

}  // namespace nexus
