// Which SIMD instruction sets this CPU (and the OS, via XSAVE state) lets us use, and the
// level the kernel table is built for. Detected once; NEXUS_SIMD=scalar|avx2|avx512 caps it.
#pragma once

#include <string>
#include <string_view>

namespace nexus {

// Ordered: a level implies everything below it.
enum class SimdLevel : int {
  kScalar = 0,
  kAvx2 = 1,    // AVX2 + FMA + F16C + BMI2
  kAvx512 = 2,  // AVX-512 F/BW/VL/DQ + VNNI (the *_avx512.cc files are built with these)
};
inline constexpr int kNumSimdLevels = 3;

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool bmi2 = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool os_ymm = false;  // OS saves AVX (ymm) state: XCR0 bits 1-2
  bool os_zmm = false;  // OS saves AVX-512 state: XCR0 bits 5-7
};

// Raw cpuid + xgetbv query (cheap, but callers should prefer cpu_features()).
CpuFeatures detect_cpu_features();

// Detected once per process.
const CpuFeatures& cpu_features();

// Highest level the features allow (ignores NEXUS_SIMD).
SimdLevel max_simd_level(const CpuFeatures& f);

// "scalar", "avx2", "avx512".
std::string_view simd_level_name(SimdLevel level);

// Parses a NEXUS_SIMD value; false for unknown names.
bool parse_simd_level(std::string_view name, SimdLevel* out);

// min(max_simd_level(cpu), NEXUS_SIMD). Unknown NEXUS_SIMD values print one warning to
// stderr and are ignored. Computed once per process.
SimdLevel simd_level();

// For logs / `nexus bench`: e.g. "avx512 (vnni, bf16)" or "avx2 (capped by NEXUS_SIMD)".
std::string simd_description();

}  // namespace nexus
