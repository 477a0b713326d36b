#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/kernel_table.h"
#include "nexus/result.h"
#include "tensor/quants.h"

namespace nexus {
namespace {

// Weight rows handled together: each row tile stays in L1/L2 while every token's
// activation row streams past it, so prefill reads each weight row from memory once.
constexpr int64_t kRowTile = 4;
// Minimum rows per thread: below this, waking a worker costs more than the dots.
constexpr int64_t kRowGrain = 16;
// Weight bytes per gemm row tile: about half a 256 KiB-1 MiB L2, leaving room for the
// activations of a token group.
constexpr size_t kGemmTileBytes = 96 * 1024;

// Per-thread scratch for the quantized activations of one call, grown on demand and
// reused, so the hot path does not allocate once warm.
std::vector<uint8_t>& activation_scratch() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}

}  // namespace

void matmul_rows(const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end, ThreadPool& pool) {
  const DotKernel& k = kernels().entry(w.type);
  NX_CHECK(k.dot != nullptr, "matmul: no dot kernel for weight type %s", std::string(dtype_name(w.type)).c_str());
  const int64_t cols = w.cols(), rows = w.rows();
  NX_CHECK(cols % dtype_traits(w.type).block_elems == 0 && cols % dtype_traits(k.act_type).block_elems == 0,
           "matmul: %lld columns is not a multiple of the %s block", static_cast<long long>(cols),
           std::string(dtype_name(w.type)).c_str());
  NX_CHECK(0 <= row_begin && row_begin <= row_end && row_end <= rows, "matmul: bad row range");
  if (n_tokens <= 0 || row_begin == row_end) return;

  // Activations in the dot's format: F32 dots read x in place, others quantize each token
  // row once here (in parallel over tokens for prefill).
  const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
  const size_t act_stride = row_bytes(k.act_type, cols);
  if (k.act_type != DType::F32) {
    std::vector<uint8_t>& buf = activation_scratch();
    if (buf.size() < act_stride * n_tokens) buf.resize(act_stride * n_tokens);
    uint8_t* out = buf.data();
    pool.parallel_for(n_tokens, 8, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) k.quantize_act(static_cast<int>(cols), x + t * cols, out + t * act_stride);
    });
    act = out;
  }

  const int n = static_cast<int>(cols);
  if (k.gemm != nullptr) {
    // Row tiles sized so a tile's weights stay in L2 while every token group of the batch
    // streams past them; each (row, token) result is computed the same way whatever the
    // tile or thread split (GemmFn matches the dot bitwise), so results are deterministic.
    const size_t w_stride = w.row_stride();
    const int64_t tile = std::clamp<int64_t>(static_cast<int64_t>(kGemmTileBytes / w_stride), 4, 256);
    const GemmFn gemm = k.gemm;
    pool.parallel_for(row_end - row_begin, kRowGrain, [&](int64_t begin, int64_t end) {
      for (int64_t r0 = row_begin + begin; r0 < row_begin + end; r0 += tile) {
        const int64_t r1 = std::min(r0 + tile, row_begin + end);
        gemm(n, w.row(r0), w_stride, static_cast<int>(r1 - r0), act, act_stride, static_cast<int>(n_tokens), y + r0,
             static_cast<size_t>(rows));
      }
    });
    return;
  }

  // Each output element is one dot call with a fixed order, so the result does not depend
  // on how rows are split across threads.
  const DotFn dot = k.dot;
  pool.parallel_for(row_end - row_begin, kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r0 = row_begin + begin; r0 < row_begin + end; r0 += kRowTile) {
      const int64_t r1 = std::min(r0 + kRowTile, row_begin + end);
      for (int64_t t = 0; t < n_tokens; ++t) {
        const uint8_t* a = act + t * act_stride;
        float* yt = y + t * rows;
        for (int64_t r = r0; r < r1; ++r) yt[r] = dot(n, w.row(r), a);
      }
    }
  });
}

void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  matmul_rows(w, x, n_tokens, y, 0, w.rows(), pool);
}

void get_row(const TensorView& w, int64_t r, float* out) {
  NX_CHECK(0 <= r && r < w.rows(), "get_row: row %lld out of %lld", static_cast<long long>(r),
           static_cast<long long>(w.rows()));
  if (w.type == DType::F32) {
    std::memcpy(out, w.row(r), sizeof(float) * w.cols());
    return;
  }
  NX_CHECK(can_dequantize(w.type), "get_row: cannot dequantize %s", std::string(dtype_name(w.type)).c_str());
  dequantize_row(w.type, w.row(r), out, w.cols());
}

}  // namespace nexus
