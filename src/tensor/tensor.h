// A non-owning view of a tensor's bytes, in GGUF/ggml dimension order: ne[0] is the
// innermost (contiguous) dimension, i.e. the row length of a weight matrix.
// A weight W of shape [rows = ne[1], cols = ne[0]] computes y = W x with x of length cols.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace nexus {

struct TensorView {
  DType type = DType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  const void* data = nullptr;
  size_t nbytes = 0;

  // A rows x cols matrix of `type` stored at data, rows * row_bytes(type, cols) bytes.
  static TensorView matrix(DType type, int64_t rows, int64_t cols, const void* data) {
    TensorView v;
    v.type = type;
    v.ne[0] = cols;
    v.ne[1] = rows;
    v.data = data;
    v.nbytes = static_cast<size_t>(rows) * row_bytes(type, cols);
    return v;
  }

  int64_t cols() const { return ne[0]; }
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
  int64_t elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  size_t row_stride() const { return row_bytes(type, ne[0]); }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_stride(); }
};

}  // namespace nexus
