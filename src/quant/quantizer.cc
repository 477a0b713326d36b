#include "quant/quantizer.h"

#include <cstdio>
#include <algorithm>
#include <cstring>

#include "tensor/quants.h"

namespace nexus::quant {
namespace {

constexpr int64_t kRowGrain = 4;  // rows per task: enough work to amortize the dispatch

void default_log(const std::string& line) { std::fprintf(stderr, "nexus: %s\n", line.c_str()); }

}  // namespace

std::vector<uint8_t> convert_tensor(const TensorView& src, DType to, ThreadPool& pool) {
  const int64_t cols = src.cols(), rows = src.rows();
  const size_t out_stride = row_bytes(to, cols);
  std::vector<uint8_t> out(out_stride * static_cast<size_t>(rows));
  if (src.type == to) {  // same type: bytes pass through untouched (no double rounding)
    std::memcpy(out.data(), src.data, out.size());
    return out;
  }
  pool.parallel_for(rows, kRowGrain, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = begin; r < end; ++r) {
      const float* x;
      if (src.type == DType::F32) {
        x = reinterpret_cast<const float*>(src.row(r));
      } else {
        dequantize_row(src.type, src.row(r), row.data(), cols);
        x = row.data();
      }
      quantize_row(to, x, out.data() + static_cast<size_t>(r) * out_stride, cols);
    }
  });
  return out;
}

Status quantize_model(const gguf::File& in, gguf::Writer& out, const QuantizeOptions& opts, ThreadPool& pool,
                      std::vector<TensorResult>* results) {
  const auto& log = opts.log ? opts.log : default_log;
  const MixInfo& mix = mix_info(opts.mix);

  std::vector<std::string> names;
  for (const gguf::TensorInfo& t : in.tensors()) names.push_back(t.name);
  const ModelLayout layout = layout_from_names(names);

  out.copy_metadata_from(in);
  out.set_u32("general.file_type", mix.file_type);
  if (dtype_traits(mix.base).block_elems > 1) out.set_u32("general.quantization_version", 2);

  int requantized = 0;
  const int total = static_cast<int>(in.tensors().size());
  for (int i = 0; i < total; ++i) {
    const gguf::TensorInfo& info = in.tensors()[i];
    const TensorView view = in.view(info);
    TensorResult res;
    res.index = i + 1;
    res.total = total;
    res.name = info.name;
    res.from = info.type;

    const bool is_float_like = info.type == DType::F32 || info.type == DType::F16 || info.type == DType::BF16;
    if (!can_dequantize(info.type)) {
      // Integer tensors and the like are not weights: carried over byte for byte.
      res.to = res.wanted = info.type;
      out.add_tensor(info.name, info.type, std::vector<int64_t>(info.ne, info.ne + std::max(1, info.n_dims)),
                     view.data, view.nbytes);
    } else {
      const TypeChoice c = choose_type(opts.mix, layout, info.name, info.n_dims, info.ne[0]);
      res.to = c.type;
      res.wanted = c.wanted;
      res.fallback = c.fallback;
      if (c.fallback)
        log(format("%s: row length %lld is not a multiple of the %s block (%lld), using %s",
                   info.name.c_str(), static_cast<long long>(info.ne[0]), std::string(dtype_name(c.wanted)).c_str(),
                   static_cast<long long>(dtype_traits(c.wanted).block_elems), std::string(dtype_name(c.type)).c_str()));
      if (!is_float_like && info.type != c.type) ++requantized;
      const std::vector<uint8_t> data = convert_tensor(view, c.type, pool);
      out.add_tensor(info.name, c.type, std::vector<int64_t>(info.ne, info.ne + std::max(1, info.n_dims)),
                     data.data(), data.size());
    }
    if (opts.on_tensor) opts.on_tensor(res);
    if (results) results->push_back(res);
  }
  if (requantized > 0)
    log(format("warning: %d tensor(s) were already quantized and were requantized; quality will be lower "
               "than quantizing from F32/F16/BF16", requantized));
  return Status::Ok();
}

Status quantize_file(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opts,
                     ThreadPool& pool, std::vector<TensorResult>* results) {
  NX_ASSIGN_OR_RETURN(gguf::File in, gguf::File::open(in_path));
  gguf::Writer out;
  NX_TRY(quantize_model(in, out, opts, pool, results));
  return out.write(out_path);
}

}  // namespace nexus::quant
