#include "kv/kv_type.h"

#include <cstring>
#include <string>

#include "kernels/quantize_act.h"
#include "tensor/quants.h"
#include "util/fp16.h"

namespace nexus {

Result<DType> parse_kv_type(std::string_view name) {
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "q8_0") return DType::Q8_0;
  return make_error("KV cache type '" + std::string(name) + "': expected f32, f16 or q8_0");
}

Status check_kv_type(DType type, int head_dim) {
  if (type != DType::F32 && type != DType::F16 && type != DType::Q8_0)
    return make_error("KV cache type " + std::string(dtype_name(type)) + " is not supported (f32, f16, q8_0)");
  if (type == DType::Q8_0 && head_dim % 32 != 0)
    return make_error("KV cache type q8_0 needs a head dimension that is a multiple of 32; this model's is " +
                      std::to_string(head_dim) + " (use f16)");
  return {};
}

uint64_t kv_cache_bytes(DType type, int n_layer, int kv_dim, int n_ctx) {
  return uint64_t{2} * row_bytes(type, kv_dim) * static_cast<uint64_t>(n_layer) * static_cast<uint64_t>(n_ctx);
}

void encode_kv_row(DType type, const float* x, void* row, int n) {
  switch (type) {
    case DType::F32:
      std::memcpy(row, x, sizeof(float) * n);
      return;
    case DType::F16: {
      auto* h = static_cast<uint16_t*>(row);
      for (int i = 0; i < n; ++i) h[i] = f32_to_fp16(x[i]);
      return;
    }
    case DType::Q8_0:
      quantize_act_q8_0(n, x, row);  // round to nearest, d = max|x| / 127 per 32
      return;
    default:
      NX_CHECK(false, "KV cache type %s", std::string(dtype_name(type)).c_str());
  }
}

}  // namespace nexus
