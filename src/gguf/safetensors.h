// safetensors reader (Hugging Face checkpoint format) over a byte span (fuzzable) or a mapped file.
// Layout: u64 little-endian header length N, N bytes of JSON header
//   {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [d0, d1], "data_offsets": [b, e]}}
// then the data section; offsets are relative to its start, shapes are row-major (d0 outermost).
// Every length, offset and size is validated against the span; bad input yields a one-line Error
// naming the tensor and field, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/result.h"
#include "tensor/dtype.h"

namespace nexus::safetensors {

// Largest JSON header we accept: real headers are a few hundred KB even for 100B models.
inline constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct Tensor {
  std::string name;
  DType dtype = DType::F32;           // F32, F16 or BF16
  std::vector<int64_t> shape;         // row-major, outermost first (the HF / PyTorch order)
  std::span<const uint8_t> data;      // points into the parsed bytes
  int64_t elements() const;
};

class File {
 public:
  // Parses a whole safetensors image. `bytes` must outlive the File.
  static Result<File> parse(std::span<const uint8_t> bytes);
  // Maps `path` read-only and parses it; the mapping lives as long as the File (and its copies).
  static Result<File> open(const std::string& path);

  // Tensors in header order.
  const std::vector<Tensor>& tensors() const { return tensors_; }
  const Tensor* find(std::string_view name) const;
  // "__metadata__" string entries (other value types are skipped).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Mapping;
  std::shared_ptr<Mapping> mapping_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Converts a tensor's elements to float (F32 copy, F16 / BF16 widened exactly).
std::vector<float> to_f32(const Tensor& t);

// A checkpoint that may be split over several files: either a single `model.safetensors`, or
// `model.safetensors.index.json` whose "weight_map" names the shard holding each tensor.
class Checkpoint {
 public:
  // `dir` is a Hugging Face model directory.
  static Result<Checkpoint> open_dir(const std::string& dir);

  const Tensor* find(std::string_view name) const;
  // All tensor names, sorted.
  std::vector<std::string> names() const;

 private:
  std::vector<File> files_;
  std::map<std::string, const Tensor*, std::less<>> index_;
};

}  // namespace nexus::safetensors
