// GGUF v3 writer. Writes to "<path>.tmp.<pid>" and renames, so a crash never leaves a
// half-written model under the final name.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "gguf/gguf.h"

namespace nexus::gguf {
namespace {

constexpr uint32_t kVersion = 3;

// Appends little-endian bytes (every supported host is little-endian, as GGUF is).
class Buffer {
 public:
  template <typename T>
  void put(T v) {
    const size_t n = out_.size();
    out_.resize(n + sizeof(T));
    std::memcpy(out_.data() + n, &v, sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

bool is_unsigned(ValueType t) {
  return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 || t == ValueType::UINT64;
}
bool is_signed(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 || t == ValueType::INT64;
}

// Writes one scalar of GGUF type t from its widened representation.
Status put_uint(Buffer& b, ValueType t, uint64_t x, const std::string& key) {
  const uint64_t max = t == ValueType::UINT8 ? 0xff : t == ValueType::UINT16 ? 0xffff
                       : t == ValueType::UINT32 ? 0xffffffffull : UINT64_MAX;
  if (x > max) return make_error(format("gguf writer: '%s': value %llu does not fit in %s", key.c_str(),
                                        static_cast<unsigned long long>(x), std::string(value_type_name(t)).c_str()));
  switch (t) {
    case ValueType::UINT8: b.put<uint8_t>(static_cast<uint8_t>(x)); break;
    case ValueType::UINT16: b.put<uint16_t>(static_cast<uint16_t>(x)); break;
    case ValueType::UINT32: b.put<uint32_t>(static_cast<uint32_t>(x)); break;
    default: b.put<uint64_t>(x); break;
  }
  return Status::Ok();
}

Status put_int(Buffer& b, ValueType t, int64_t x, const std::string& key) {
  const int64_t lim = t == ValueType::INT8 ? INT8_MAX : t == ValueType::INT16 ? INT16_MAX
                      : t == ValueType::INT32 ? INT32_MAX : INT64_MAX;
  if (x > lim || x < -lim - 1)
    return make_error(format("gguf writer: '%s': value %lld does not fit in %s", key.c_str(),
                             static_cast<long long>(x), std::string(value_type_name(t)).c_str()));
  switch (t) {
    case ValueType::INT8: b.put<int8_t>(static_cast<int8_t>(x)); break;
    case ValueType::INT16: b.put<int16_t>(static_cast<int16_t>(x)); break;
    case ValueType::INT32: b.put<int32_t>(static_cast<int32_t>(x)); break;
    default: b.put<int64_t>(x); break;
  }
  return Status::Ok();
}

void put_float(Buffer& b, ValueType t, double x) {
  if (t == ValueType::FLOAT32) b.put<float>(static_cast<float>(x));
  else b.put<double>(x);
}

Status mismatch(const std::string& key, ValueType t) {
  return make_error(format("gguf writer: '%s': value does not hold a %s", key.c_str(),
                           std::string(value_type_name(t)).c_str()));
}

Status put_value(Buffer& b, const std::string& key, const Value& v) {
  const ValueType t = v.type;
  if (is_unsigned(t)) {
    const auto* x = std::get_if<uint64_t>(&v.v);
    if (!x) return mismatch(key, t);
    return put_uint(b, t, *x, key);
  }
  if (is_signed(t)) {
    const auto* x = std::get_if<int64_t>(&v.v);
    if (!x) return mismatch(key, t);
    return put_int(b, t, *x, key);
  }
  switch (t) {
    case ValueType::FLOAT32: case ValueType::FLOAT64: {
      const auto* x = std::get_if<double>(&v.v);
      if (!x) return mismatch(key, t);
      put_float(b, t, *x);
      return Status::Ok();
    }
    case ValueType::BOOL: {
      const auto* x = std::get_if<bool>(&v.v);
      if (!x) return mismatch(key, t);
      b.put<uint8_t>(*x ? 1 : 0);
      return Status::Ok();
    }
    case ValueType::STRING: {
      const auto* x = std::get_if<std::string>(&v.v);
      if (!x) return mismatch(key, t);
      b.put_string(*x);
      return Status::Ok();
    }
    case ValueType::ARRAY: {
      const auto* a = std::get_if<Array>(&v.v);
      if (!a) return mismatch(key, t);
      const ValueType e = a->elem_type;
      if (e == ValueType::ARRAY) return make_error(format("gguf writer: '%s': arrays of arrays are not supported", key.c_str()));
      b.put<uint32_t>(static_cast<uint32_t>(e));
      b.put<uint64_t>(a->size());
      if (is_unsigned(e)) {
        for (uint64_t x : a->uints) NX_TRY(put_uint(b, e, x, key));
      } else if (is_signed(e)) {
        for (int64_t x : a->ints) NX_TRY(put_int(b, e, x, key));
      } else if (e == ValueType::BOOL) {
        for (int64_t x : a->ints) b.put<uint8_t>(x != 0 ? 1 : 0);
      } else if (e == ValueType::FLOAT32 || e == ValueType::FLOAT64) {
        for (double x : a->floats) put_float(b, e, x);
      } else {
        for (size_t i = 0; i < a->strings.size(); ++i) b.put_string(a->strings[i]);
      }
      return Status::Ok();
    }
    default: return mismatch(key, t);
  }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

void Writer::set(std::string key, Value value) {
  if (key == "general.alignment") {
    if (const auto* a = std::get_if<uint64_t>(&value.v)) alignment_ = *a;
  }
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(std::move(key), std::move(value));
}

void Writer::set_string(std::string key, std::string v) { set(std::move(key), Value{ValueType::STRING, std::move(v)}); }
void Writer::set_u32(std::string key, uint32_t v) { set(std::move(key), Value{ValueType::UINT32, uint64_t{v}}); }
void Writer::set_i32(std::string key, int32_t v) { set(std::move(key), Value{ValueType::INT32, int64_t{v}}); }
void Writer::set_f32(std::string key, float v) { set(std::move(key), Value{ValueType::FLOAT32, double{v}}); }
void Writer::set_bool(std::string key, bool v) { set(std::move(key), Value{ValueType::BOOL, v}); }

void Writer::set_strings(std::string key, std::vector<std::string> v) {
  Array a;
  a.elem_type = ValueType::STRING;
  a.strings = StringList(v);
  set(std::move(key), Value{ValueType::ARRAY, std::move(a)});
}

void Writer::set_f32s(std::string key, std::vector<float> v) {
  Array a;
  a.elem_type = ValueType::FLOAT32;
  a.floats.assign(v.begin(), v.end());
  set(std::move(key), Value{ValueType::ARRAY, std::move(a)});
}

void Writer::set_i32s(std::string key, std::vector<int32_t> v) {
  Array a;
  a.elem_type = ValueType::INT32;
  a.ints.assign(v.begin(), v.end());
  set(std::move(key), Value{ValueType::ARRAY, std::move(a)});
}

void Writer::copy_metadata_from(const File& f) {
  for (const auto& [k, v] : f.metadata())
    if (k != "general.alignment") set(k, v);
}

void Writer::add_tensor(std::string name, DType type, std::vector<int64_t> ne, const void* data, size_t nbytes) {
  NX_CHECK(!ne.empty() && ne.size() <= 4, "tensor '%s': %zu dimensions", name.c_str(), ne.size());
  const DTypeTraits& tr = dtype_traits(type);
  NX_CHECK(tr.block_elems > 0, "tensor '%s': unsupported type", name.c_str());
  NX_CHECK(ne[0] % tr.block_elems == 0, "tensor '%s': ne[0]=%lld not a multiple of %lld", name.c_str(),
           static_cast<long long>(ne[0]), static_cast<long long>(tr.block_elems));
  int64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  const size_t expected = row_bytes(type, ne[0]) * static_cast<size_t>(rows);
  NX_CHECK(nbytes == expected, "tensor '%s': %zu data bytes, expected %zu", name.c_str(), nbytes, expected);
  PendingTensor t{std::move(name), type, std::move(ne), {}};
  const auto* p = static_cast<const uint8_t*>(data);
  if (nbytes > 0) t.data.assign(p, p + nbytes);
  tensors_.push_back(std::move(t));
}

Status Writer::write(const std::string& path) const {
  const uint64_t align = alignment_;
  if (align == 0 || (align & (align - 1)) != 0 || align > UINT32_MAX)
    return make_error(format("gguf writer: alignment %llu is not a power of two", static_cast<unsigned long long>(align)));

  Buffer head;
  head.put<uint32_t>(0x46554747);  // "GGUF"
  head.put<uint32_t>(kVersion);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(kv_.size());
  for (const auto& [k, v] : kv_) {
    head.put_string(k);
    head.put<uint32_t>(static_cast<uint32_t>(v.type));
    NX_TRY(put_value(head, k, v));
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    head.put_string(t.name);
    head.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) head.put<uint64_t>(static_cast<uint64_t>(d));
    head.put<uint32_t>(static_cast<uint32_t>(t.type));
    head.put<uint64_t>(offset);
    offset = align_up(offset + t.data.size(), align);
  }
  head.bytes().resize(align_up(head.bytes().size(), align), 0);

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* fp = std::fopen(tmp.c_str(), "wb");
  if (!fp) return make_error(format("cannot create '%s': %s", tmp.c_str(), std::strerror(errno)));
  bool ok = std::fwrite(head.bytes().data(), 1, head.bytes().size(), fp) == head.bytes().size();
  static const uint8_t kZeros[64] = {};
  for (const PendingTensor& t : tensors_) {
    if (!ok) break;
    if (!t.data.empty()) ok = std::fwrite(t.data.data(), 1, t.data.size(), fp) == t.data.size();
    // Padding so the next tensor (and the end of the file) is aligned.
    for (uint64_t pad = align_up(t.data.size(), align) - t.data.size(); ok && pad > 0;) {
      const size_t n = pad < sizeof(kZeros) ? static_cast<size_t>(pad) : sizeof(kZeros);
      ok = std::fwrite(kZeros, 1, n, fp) == n;
      pad -= n;
    }
  }
  const int write_errno = errno;
  if (std::fclose(fp) != 0) ok = false;
  if (!ok) {
    std::remove(tmp.c_str());
    return make_error(format("cannot write '%s': %s", tmp.c_str(), std::strerror(write_errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return make_error(format("cannot rename '%s' to '%s': %s", tmp.c_str(), path.c_str(), std::strerror(err)));
  }
  return Status::Ok();
}

}  // namespace nexus::gguf
