// GGUF v2/v3 reader over a byte span (fuzzable) or an mmapped file, and a writer.
// Layout: magic "GGUF", u32 version, u64 tensor count, u64 kv count, kvs, tensor infos,
// padding to general.alignment (default 32), tensor data. Every size, count and offset is
// validated against the span before use; hostile files yield an Error, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/tensor.h"
#include "nexus/result.h"

namespace nexus::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

// "u32", "string", "array", ... as `nexus inspect` prints them.
std::string_view value_type_name(ValueType t);

// The strings of a string array, packed into one buffer with their end offsets: a vocabulary
// of 128k tokens is two allocations instead of 128k std::string objects (4 MiB of fresh pages
// for the headers alone, about 2 ms of page faults on load).
class StringList {
 public:
  StringList() = default;
  StringList(std::initializer_list<std::string_view> items);
  explicit StringList(const std::vector<std::string>& items);

  size_t size() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  std::string_view operator[](size_t i) const {
    const size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(bytes_).substr(begin, ends_[i] - begin);
  }
  void reserve(size_t count, size_t total_bytes) {
    ends_.reserve(count);
    bytes_.reserve(total_bytes);
  }
  void push_back(std::string_view s) {
    bytes_.append(s);
    ends_.push_back(bytes_.size());
  }
  std::vector<std::string> to_vector() const;
  bool operator==(const StringList& o) const { return ends_ == o.ends_ && bytes_ == o.bytes_; }

 private:
  std::string bytes_;
  std::vector<size_t> ends_;
};

// An array value: elements all of elem_type. Integers are widened to int64/uint64, floats to
// double, so consumers read one representation per kind. Arrays of arrays are refused by the
// parser with an error naming the key: this flat type cannot hold them and no supported model
// uses them.
struct Array {
  ValueType elem_type = ValueType::UINT8;
  std::vector<int64_t> ints;      // signed integer and bool elements
  std::vector<uint64_t> uints;    // unsigned integer elements
  std::vector<double> floats;     // FLOAT32 / FLOAT64 elements
  StringList strings;
  size_t size() const;
};

struct Value {
  ValueType type = ValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v;
};

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] innermost
  uint64_t offset = 0;           // from the start of the data section
  size_t nbytes = 0;
};

// Called by the parser with byte ranges of the image it is about to read.
using PrefetchFn = std::function<void(size_t offset, size_t len)>;

class File {
 public:
  // Parses a whole GGUF image. The bytes must outlive the File (tensor views point into them).
  static Result<File> parse(std::span<const uint8_t> bytes);
  // The same, asking `prefetch` for the bytes ahead of the parser as it goes.
  static Result<File> parse(std::span<const uint8_t> bytes, const PrefetchFn* prefetch);
  // mmaps `path` read-only and parses it; the mapping lives as long as the File.
  static Result<File> open(const std::string& path);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  size_t file_size() const { return bytes_.size(); }
  // The whole image (the mapping for open()): memory/ drops its pages once weights are copied.
  std::span<const uint8_t> bytes() const { return bytes_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;

  // Typed getters: nullopt when absent or of an incompatible type (any integer type converts
  // to another if the value fits).
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // floats or integers
  std::optional<bool> get_bool(std::string_view key) const;
  const Array* get_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  TensorView view(const TensorInfo& t) const;

 private:
  struct Mapping;
  std::shared_ptr<Mapping> mapping_;  // set by open()
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Builds a GGUF v3 file. Metadata keeps insertion order; tensors are aligned to `alignment`.
class Writer {
 public:
  void set(std::string key, Value value);
  void set_string(std::string key, std::string v);
  void set_u32(std::string key, uint32_t v);
  void set_i32(std::string key, int32_t v);
  void set_f32(std::string key, float v);
  void set_bool(std::string key, bool v);
  void set_strings(std::string key, std::vector<std::string> v);
  void set_f32s(std::string key, std::vector<float> v);
  void set_i32s(std::string key, std::vector<int32_t> v);
  void copy_metadata_from(const File& f);  // every key but general.alignment

  // Adds a tensor; `data` (row_bytes(type, ne[0]) * rows bytes) is copied.
  void add_tensor(std::string name, DType type, std::vector<int64_t> ne, const void* data, size_t nbytes);

  Status write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<PendingTensor> tensors_;
  uint64_t alignment_ = 32;
};

}  // namespace nexus::gguf
