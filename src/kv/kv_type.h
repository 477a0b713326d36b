// Element types of the KV cache: F32 (exact), F16 (half the memory, ~1e-3 relative error) and
// Q8_0 (about a quarter, 8-bit blocks of 32 with an fp16 scale). Decode at long context reads
// the whole cache once per token per layer, so its size sets the speed there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nexus/result.h"
#include "tensor/dtype.h"

namespace nexus {

// "f32", "f16" or "q8_0".
Result<DType> parse_kv_type(std::string_view name);

// Q8_0 blocks must not straddle attention heads: head_dim a multiple of 32.
Status check_kv_type(DType type, int head_dim);

// Keys and values of n_ctx positions in every layer.
uint64_t kv_cache_bytes(DType type, int n_layer, int kv_dim, int n_ctx);

// x (n floats) -> one row of `type` at row.
void encode_kv_row(DType type, const float* x, void* row, int n);

}  // namespace nexus
