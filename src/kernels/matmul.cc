#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <span>
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
// Distinct activation formats one shared-input call can need (F32, Q8_0, Q8_1, Q8_K).
constexpr int kMaxActFormats = 4;

// Per-thread scratch for the quantized activations of one call, grown on demand and
// reused, so the hot path does not allocate once warm.
std::vector<uint8_t>& activation_scratch() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}

// One weight of a call with its kernel and its activations in the kernel's format.
struct BoundWeight {
  const TensorView* w;
  const DotKernel* k;
  float* y;
  const uint8_t* act = nullptr;
  size_t act_stride = 0;
};

const DotKernel& checked_kernel(const TensorView& w) {
  const DotKernel& k = kernels().entry(w.type);
  NX_CHECK(k.dot != nullptr || k.gemm != nullptr, "matmul: no dot kernel for weight type %s",
           std::string(dtype_name(w.type)).c_str());
  const int64_t cols = w.cols();
  NX_CHECK(cols % dtype_traits(w.type).block_elems == 0 && cols % dtype_traits(k.act_type).block_elems == 0,
           "matmul: %lld columns is not a multiple of the %s block", static_cast<long long>(cols),
           std::string(dtype_name(w.type)).c_str());
  NX_CHECK(w.rows() % k.row_group == 0, "matmul: %lld rows of %s is not a multiple of %d",
           static_cast<long long>(w.rows()), std::string(dtype_name(w.type)).c_str(), k.row_group);
  return k;
}

// Points each weight at x in its kernel's activation format: F32 dots read x in place,
// others share one quantized copy per format, made once (in parallel over tokens).
void bind_activations(std::span<BoundWeight> ws, const float* x, int64_t n_tokens, ThreadPool& pool) {
  struct Format {
    DType type;
    QuantizeActFn quantize;
    size_t offset;  // in the scratch buffer
  };
  const int64_t cols = ws[0].w->cols();
  const size_t n = static_cast<size_t>(cols);
  Format formats[kMaxActFormats];
  int n_formats = 0;
  size_t total = 0;
  for (const BoundWeight& b : ws) {
    NX_CHECK(b.w->cols() == cols, "matmul: weights sharing an input have %lld and %lld columns",
             static_cast<long long>(cols), static_cast<long long>(b.w->cols()));
    const DType t = b.k->act_type;
    if (t == DType::F32 || std::any_of(formats, formats + n_formats, [&](const Format& f) { return f.type == t; }))
      continue;
    NX_CHECK(n_formats < kMaxActFormats, "matmul: too many activation formats");
    formats[n_formats++] = {t, b.k->quantize_act, total};
    total += row_bytes(t, n) * n_tokens;
  }
  std::vector<uint8_t>& buf = activation_scratch();
  if (buf.size() < total) buf.resize(total);
  for (BoundWeight& b : ws) {
    const DType t = b.k->act_type;
    b.act_stride = row_bytes(t, n);
    b.act = reinterpret_cast<const uint8_t*>(x);
    for (int f = 0; f < n_formats; ++f)
      if (formats[f].type == t) b.act = buf.data() + formats[f].offset;
  }
  if (n_formats == 0) return;
  uint8_t* scratch = buf.data();
  pool.parallel_for(n_tokens, 1, [&](int64_t t0, int64_t t1) {
    for (int f = 0; f < n_formats; ++f) {
      const size_t stride = row_bytes(formats[f].type, n);
      for (int64_t t = t0; t < t1; ++t)
        formats[f].quantize(static_cast<int>(cols), x + t * cols, scratch + formats[f].offset + t * stride);
    }
  });
}

// Output rows [r_begin, r_end) of one weight for every token, on the calling thread.
void run_rows(const BoundWeight& b, int64_t n_tokens, int64_t r_begin, int64_t r_end) {
  const TensorView& w = *b.w;
  const int n = static_cast<int>(w.cols());
  const int64_t rows = w.rows();
  if (b.k->gemm != nullptr) {
    // Row tiles sized so a tile's weights stay in L2 while every token group of the batch
    // streams past them; each (row, token) result is computed the same way whatever the
    // tile or thread split (GemmFn matches the dot bitwise), so results are deterministic.
    // Interleaved layouts (row_group > 1) are only ever given ranges of whole groups, and
    // tiles of an even number of groups where they fit: their batch kernels take groups in
    // pairs, and an odd group left at the end of each tile ran the slower single-group tile
    // (4.6 % of an 8-stream step on B1, bench/NOTES.md section 12).
    const size_t w_stride = w.row_stride();
    const int64_t g = b.k->row_group;
    const int64_t unit = g > 1 ? 2 * g : 1;
    const int64_t fit = std::clamp<int64_t>(static_cast<int64_t>(kGemmTileBytes / w_stride), 4, 256);
    const int64_t tile = fit >= unit ? fit / unit * unit : g;
    for (int64_t r0 = r_begin; r0 < r_end; r0 += tile) {
      const int64_t r1 = std::min(r0 + tile, r_end);
      b.k->gemm(n, w.row(r0), w_stride, static_cast<int>(r1 - r0), b.act, b.act_stride, static_cast<int>(n_tokens),
                b.y + r0, static_cast<size_t>(rows));
    }
    return;
  }
  // Each output element is one dot call with a fixed order, so the result does not depend
  // on how rows are split across threads.
  const DotFn dot = b.k->dot;
  for (int64_t r0 = r_begin; r0 < r_end; r0 += kRowTile) {
    const int64_t r1 = std::min(r0 + kRowTile, r_end);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const uint8_t* a = b.act + t * b.act_stride;
      float* yt = b.y + t * rows;
      for (int64_t r = r0; r < r1; ++r) yt[r] = dot(n, w.row(r), a);
    }
  }
}

}  // namespace

void matmul_rows(const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end, ThreadPool& pool) {
  BoundWeight b{&w, &checked_kernel(w), y};
  NX_CHECK(0 <= row_begin && row_begin <= row_end && row_end <= w.rows(), "matmul: bad row range");
  const int64_t g = b.k->row_group;
  NX_CHECK(row_begin % g == 0 && row_end % g == 0, "matmul: rows [%lld, %lld) split a group of %lld (%s)",
           static_cast<long long>(row_begin), static_cast<long long>(row_end), static_cast<long long>(g),
           std::string(dtype_name(w.type)).c_str());
  if (n_tokens <= 0 || row_begin == row_end) return;
  bind_activations({&b, 1}, x, n_tokens, pool);
  // split in whole groups of rows
  pool.parallel_for((row_end - row_begin) / g, std::max<int64_t>(1, kRowGrain / g), [&](int64_t begin, int64_t end) {
    run_rows(b, n_tokens, row_begin + begin * g, row_begin + end * g);
  });
}

void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  matmul_rows(w, x, n_tokens, y, 0, w.rows(), pool);
}

void matmul_shared_input(std::initializer_list<MatmulOut> outs, const float* x, int64_t n_tokens, ThreadPool& pool) {
  NX_CHECK(outs.size() <= 8, "matmul: %zu weights in one shared-input call", outs.size());
  BoundWeight ws[8];
  size_t i = 0;
  int64_t g = 1;  // the joint range is split in units of the largest row group
  for (const MatmulOut& o : outs) {
    ws[i] = {o.w, &checked_kernel(*o.w), o.y};
    g = std::max<int64_t>(g, ws[i].k->row_group);
    ++i;
  }
  // weight i owns rows [first_row[i], first_row[i] + rows) of the joint range; each starts
  // on a whole unit, so no unit holds part of an interleaved group
  int64_t first_row[9] = {0};
  for (i = 0; i < outs.size(); ++i) first_row[i + 1] = first_row[i] + (ws[i].w->rows() + g - 1) / g * g;
  const size_t n_w = outs.size();
  if (n_tokens <= 0 || first_row[n_w] == 0) return;
  bind_activations({ws, n_w}, x, n_tokens, pool);
  pool.parallel_for(first_row[n_w] / g, std::max<int64_t>(1, kRowGrain / g), [&](int64_t begin, int64_t end) {
    for (size_t i = 0; i < n_w; ++i) {
      const int64_t lo = std::max(begin * g, first_row[i]), hi = std::min(end * g, first_row[i] + ws[i].w->rows());
      if (lo < hi) run_rows(ws[i], n_tokens, lo - first_row[i], hi - first_row[i]);
    }
  });
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
