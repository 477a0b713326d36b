// Tensor element types. Numeric values are the GGUF/ggml type ids, so a DType read from a
// GGUF tensor table can be cast directly (after range checking with dtype_from_gguf).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace nexus {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
  // Run-time layouts: made from a file type when a model loads, never read from or written
  // to a file (dtype_from_gguf and dtype_from_name refuse them).
  Q4_K_R8 = 31,  // Q4_K, rows interleaved in groups of 8 (BlockQ4_Kx8)
  Q6_K_R8 = 32,  // Q6_K, rows interleaved in groups of 8 (BlockQ6_Kx8)
};

inline constexpr int kNumDTypeIds = 33;  // table size indexed by the numeric id

struct DTypeTraits {
  std::string_view name;   // "Q4_K", as GGUF tools print it
  int64_t block_elems = 0;  // elements per block (1 for plain types); 0 = unsupported id
  size_t block_bytes = 0;   // bytes per block
  bool runtime_layout = false;  // never in a file (see DType::Q4_K_R8)
};

// Traits of a type; block_elems == 0 for ids Nexus does not know.
const DTypeTraits& dtype_traits(DType t);

// Validates a raw GGUF type id. nullopt for unknown / unsupported ids.
std::optional<DType> dtype_from_gguf(uint32_t id);

// Parses "Q4_K", "f16", ... (case-insensitive). nullopt if unknown.
std::optional<DType> dtype_from_name(std::string_view name);

// The ASCII case-insensitive comparison dtype_from_name uses; type-like names elsewhere
// (quantization mixes) match by the same rule.
bool type_name_equals(std::string_view a, std::string_view b);

inline std::string_view dtype_name(DType t) { return dtype_traits(t).name; }

// Bytes of one row of n elements. n must be a multiple of the block size.
inline size_t row_bytes(DType t, int64_t n) {
  const DTypeTraits& tr = dtype_traits(t);
  return static_cast<size_t>(n / tr.block_elems) * tr.block_bytes;
}

}  // namespace nexus
