// Converting a model to another quantization mix: every tensor is read (dequantized to
// float if needed), given the type its mix rules choose (quant_mix.h), and re-encoded row by
// row on a thread pool. Metadata is copied, with general.file_type set to the mix.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "nexus/result.h"
#include "quant/quant_mix.h"
#include "runtime/thread_pool.h"
#include "tensor/tensor.h"

namespace nexus::quant {

// What happened to one tensor, for progress display and tests.
struct TensorResult {
  int index = 0;  // 1-based position in the file
  int total = 0;
  std::string name;
  DType from = DType::F32;
  DType to = DType::F32;
  bool fallback = false;  // the mix's type did not fit the row length
  DType wanted = DType::F32;
};

struct QuantizeOptions {
  Mix mix = Mix::Q8_0;
  // Called after each tensor is converted (from the calling thread).
  std::function<void(const TensorResult&)> on_tensor;
  // One-line notes (fallbacks, requantization warnings). Default: stderr "nexus: ...".
  std::function<void(const std::string&)> log;
};

// Re-encodes a tensor's data as `to`. Rows are dequantized to float first when the source
// is not F32. `src` must hold whole rows of its own type.
std::vector<uint8_t> convert_tensor(const TensorView& src, DType to, ThreadPool& pool);

// Converts every tensor of `in` into `out` (metadata copied first). Errors: a tensor whose
// type cannot be decoded.
Status quantize_model(const gguf::File& in, gguf::Writer& out, const QuantizeOptions& opts, ThreadPool& pool,
                      std::vector<TensorResult>* results = nullptr);

// Opens `in_path`, converts, writes `out_path`.
Status quantize_file(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opts,
                     ThreadPool& pool, std::vector<TensorResult>* results = nullptr);

}  // namespace nexus::quant
