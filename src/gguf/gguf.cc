// GGUF reader. Every count, length and offset read from the file is checked against the bytes
// that remain before it is used, so a hostile file costs at most a few times its own size in
// memory and yields an Error naming what was expected and what was found.
#include "gguf/gguf.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "util/mmap_file.h"

namespace nexus::gguf {
namespace {

// madvise over the pages holding [offset, offset + len) of a mapping; advice only, so a
// failure changes nothing but speed.
void advise_willneed(std::span<const uint8_t> bytes, size_t offset, size_t len) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(bytes.data()) + offset;
  const uintptr_t first = begin / page * page;
  ::madvise(reinterpret_cast<void*>(first), begin + len - first, MADV_WILLNEED);
}

void advise_random(std::span<const uint8_t> bytes, bool random) {
  if (bytes.empty()) return;
  ::madvise(const_cast<uint8_t*>(bytes.data()), bytes.size(), random ? MADV_RANDOM : MADV_NORMAL);
}

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxDims = 4;
// No real tensor comes near 2^40 elements (a trillion); capping each dimension and the
// product keeps every later size computation far from 64-bit overflow.
constexpr uint64_t kMaxElements = uint64_t{1} << 40;

// Smallest encoding of one value of each type, used to bound counts before allocating.
size_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;   // u64 length + bytes
    case ValueType::ARRAY: return 12;   // u32 type + u64 count
  }
  return 1;
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::FLOAT64); }

// A cursor over the file image. Reads fail (return false) instead of running past the end.
// With a prefetch function it asks for the bytes ahead of it a window at a time.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> b, const PrefetchFn* prefetch = nullptr) : b_(b), prefetch_(prefetch) {
    if (prefetch_ != nullptr) advance_prefetch(0);
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return b_.size() - pos_; }

  template <typename T>
  bool read(T* out) {
    if (pos_ + sizeof(T) > prefetch_mark_) advance_prefetch(pos_ + sizeof(T));
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool read_view(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    if (pos_ + n > prefetch_mark_) advance_prefetch(pos_ + n);
    *out = std::string_view(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  void seek(size_t pos) { pos_ = pos; }

 private:
  // Keeps [pos, pos + kPrefetchWindow) requested; asks again once the cursor is halfway into
  // the last window, so the next one is in flight before it is needed.
  static constexpr size_t kPrefetchWindow = size_t{4} << 20;
  void advance_prefetch(size_t end) {
    if (prefetch_ == nullptr) return;
    const size_t want = std::min(b_.size(), end + kPrefetchWindow);
    if (want > prefetched_) {
      (*prefetch_)(prefetched_, want - prefetched_);
      prefetched_ = want;
    }
    prefetch_mark_ = prefetched_ >= b_.size() ? SIZE_MAX : prefetched_ - kPrefetchWindow / 2;
  }

  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  const PrefetchFn* prefetch_ = nullptr;
  size_t prefetched_ = 0;
  size_t prefetch_mark_ = SIZE_MAX;  // no prefetching: never crossed
};

class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, const PrefetchFn* prefetch) : c_(bytes, prefetch), size_(bytes.size()) {}

  // Array elements pass their index separately so that the name "key[i]" is only built
  // for an error message, not for each of a vocabulary's 100k+ strings.
  static constexpr size_t kNoIndex = SIZE_MAX;
  static std::string name(const std::string& what, size_t index) {
    return index == kNoIndex ? what : format("%s[%zu]", what.c_str(), index);
  }

  Error eof(const std::string& what, size_t need, size_t index = kNoIndex) const {
    return make_error(format("gguf: unexpected end of file reading %s at offset %zu (need %zu bytes, %zu left)",
                             name(what, index).c_str(), c_.pos(), need, c_.remaining()));
  }

  template <typename T>
  Result<T> u(const std::string& what, size_t index = kNoIndex) {
    T v{};
    if (!c_.read(&v)) return eof(what, sizeof(T), index);
    return v;
  }

  Result<std::string> str(const std::string& what, size_t index = kNoIndex) {
    NX_ASSIGN_OR_RETURN(std::string_view s, str_view(what, index));
    return std::string(s);
  }

  // A string's bytes in place, valid as long as the parsed image.
  Result<std::string_view> str_view(const std::string& what, size_t index = kNoIndex) {
    uint64_t len = 0;
    if (!c_.read(&len)) return eof(name(what, index) + " length", sizeof(len));
    if (len > c_.remaining())
      return make_error(format("gguf: %s at offset %zu has length %llu but only %zu bytes remain in the file",
                               name(what, index).c_str(), c_.pos() - 8, static_cast<unsigned long long>(len),
                               c_.remaining()));
    std::string_view s;
    c_.read_view(static_cast<size_t>(len), &s);
    return s;
  }

  Result<bool> boolean(const std::string& what, size_t index = kNoIndex) {
    NX_ASSIGN_OR_RETURN(uint8_t x, u<uint8_t>(what, index));
    if (x > 1) return make_error(format("gguf: %s: expected bool 0 or 1, found %u", name(what, index).c_str(), unsigned{x}));
    return x != 0;
  }

  Result<Value> scalar(ValueType t, const std::string& what, size_t index = kNoIndex) {
    Value v;
    v.type = t;
    switch (t) {
      case ValueType::UINT8: { NX_ASSIGN_OR_RETURN(auto x, u<uint8_t>(what, index)); v.v = uint64_t{x}; break; }
      case ValueType::UINT16: { NX_ASSIGN_OR_RETURN(auto x, u<uint16_t>(what, index)); v.v = uint64_t{x}; break; }
      case ValueType::UINT32: { NX_ASSIGN_OR_RETURN(auto x, u<uint32_t>(what, index)); v.v = uint64_t{x}; break; }
      case ValueType::UINT64: { NX_ASSIGN_OR_RETURN(auto x, u<uint64_t>(what, index)); v.v = x; break; }
      case ValueType::INT8: { NX_ASSIGN_OR_RETURN(auto x, u<int8_t>(what, index)); v.v = int64_t{x}; break; }
      case ValueType::INT16: { NX_ASSIGN_OR_RETURN(auto x, u<int16_t>(what, index)); v.v = int64_t{x}; break; }
      case ValueType::INT32: { NX_ASSIGN_OR_RETURN(auto x, u<int32_t>(what, index)); v.v = int64_t{x}; break; }
      case ValueType::INT64: { NX_ASSIGN_OR_RETURN(auto x, u<int64_t>(what, index)); v.v = x; break; }
      case ValueType::FLOAT32: { NX_ASSIGN_OR_RETURN(auto x, u<float>(what, index)); v.v = double{x}; break; }
      case ValueType::FLOAT64: { NX_ASSIGN_OR_RETURN(auto x, u<double>(what, index)); v.v = x; break; }
      case ValueType::BOOL: { NX_ASSIGN_OR_RETURN(v.v, boolean(what, index)); break; }
      case ValueType::STRING: { NX_ASSIGN_OR_RETURN(auto s, str(what, index)); v.v = std::move(s); break; }
      case ValueType::ARRAY: return make_error(format("gguf: %s: nested array where a scalar was expected", what.c_str()));
    }
    return v;
  }

  // Arrays of arrays are refused: the Array type holds one flat list, and no model Nexus
  // supports stores nested arrays in its metadata.
  Result<Array> array(const std::string& what) {
    NX_ASSIGN_OR_RETURN(uint32_t et, u<uint32_t>(what + " element type"));
    if (!valid_value_type(et))
      return make_error(format("gguf: %s: expected an array element type 0..12, found %u", what.c_str(), et));
    const auto elem = static_cast<ValueType>(et);
    if (elem == ValueType::ARRAY)
      return make_error(format("gguf: %s: arrays of arrays are not supported", what.c_str()));
    NX_ASSIGN_OR_RETURN(uint64_t count, u<uint64_t>(what + " element count"));
    const size_t min_size = min_encoded_size(elem);
    if (count > c_.remaining() / min_size)
      return make_error(format("gguf: %s: array of %llu %s elements needs at least %llu bytes, but only %zu remain",
                               what.c_str(), static_cast<unsigned long long>(count),
                               std::string(value_type_name(elem)).c_str(),
                               count > UINT64_MAX / min_size ? UINT64_MAX
                                                             : static_cast<unsigned long long>(count * min_size),
                               c_.remaining()));
    Array a;
    a.elem_type = elem;
    const auto n = static_cast<size_t>(count);
    // One loop per element type, straight into the array's list: a vocabulary's 100k+
    // elements do not each go through a Value.
    switch (elem) {
      case ValueType::UINT8: NX_TRY(read_elements<uint8_t>(a.uints, n, what)); break;
      case ValueType::UINT16: NX_TRY(read_elements<uint16_t>(a.uints, n, what)); break;
      case ValueType::UINT32: NX_TRY(read_elements<uint32_t>(a.uints, n, what)); break;
      case ValueType::UINT64: NX_TRY(read_elements<uint64_t>(a.uints, n, what)); break;
      case ValueType::INT8: NX_TRY(read_elements<int8_t>(a.ints, n, what)); break;
      case ValueType::INT16: NX_TRY(read_elements<int16_t>(a.ints, n, what)); break;
      case ValueType::INT32: NX_TRY(read_elements<int32_t>(a.ints, n, what)); break;
      case ValueType::INT64: NX_TRY(read_elements<int64_t>(a.ints, n, what)); break;
      case ValueType::FLOAT32: NX_TRY(read_elements<float>(a.floats, n, what)); break;
      case ValueType::FLOAT64: NX_TRY(read_elements<double>(a.floats, n, what)); break;
      case ValueType::BOOL:
        a.ints.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          NX_ASSIGN_OR_RETURN(bool x, boolean(what, i));
          a.ints.push_back(x ? 1 : 0);
        }
        break;
      case ValueType::STRING: NX_TRY(read_strings(a.strings, n, what)); break;
      case ValueType::ARRAY: break;
    }
    return a;
  }

  template <typename T, typename V>
  Status read_elements(std::vector<V>& out, size_t n, const std::string& what) {
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      NX_ASSIGN_OR_RETURN(T x, u<T>(what, i));
      out.push_back(static_cast<V>(x));
    }
    return Status::Ok();
  }

  // Two passes: the first checks every length and totals the bytes, so the list is
  // allocated once; the second copies.
  Status read_strings(StringList& out, size_t n, const std::string& what) {
    const size_t start = c_.pos();
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      NX_ASSIGN_OR_RETURN(std::string_view s, str_view(what, i));
      total += s.size();
    }
    c_.seek(start);
    out.reserve(n, total);
    for (size_t i = 0; i < n; ++i) out.push_back(str_view(what, i).value());
    return Status::Ok();
  }

  Result<Value> value(ValueType t, const std::string& what) {
    if (t != ValueType::ARRAY) return scalar(t, what);
    NX_ASSIGN_OR_RETURN(Array a, array(what));
    Value v;
    v.type = ValueType::ARRAY;
    v.v = std::move(a);
    return v;
  }

  Cursor& cursor() { return c_; }
  size_t size() const { return size_; }

 private:
  Cursor c_;
  size_t size_;
};

std::string printable_magic(std::span<const uint8_t> b) {
  std::string s;
  for (size_t i = 0; i < 4 && i < b.size(); ++i) {
    const uint8_t ch = b[i];
    if (ch >= 0x20 && ch < 0x7f) s += static_cast<char>(ch);
    else s += format("\\x%02x", ch);
  }
  return s;
}

}  // namespace

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "u8";
    case ValueType::INT8: return "i8";
    case ValueType::UINT16: return "u16";
    case ValueType::INT16: return "i16";
    case ValueType::UINT32: return "u32";
    case ValueType::INT32: return "i32";
    case ValueType::FLOAT32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "u64";
    case ValueType::INT64: return "i64";
    case ValueType::FLOAT64: return "f64";
  }
  return "?";
}

StringList::StringList(std::initializer_list<std::string_view> items) {
  for (std::string_view s : items) push_back(s);
}

StringList::StringList(const std::vector<std::string>& items) {
  size_t total = 0;
  for (const std::string& s : items) total += s.size();
  reserve(items.size(), total);
  for (const std::string& s : items) push_back(s);
}

std::vector<std::string> StringList::to_vector() const {
  std::vector<std::string> out;
  out.reserve(size());
  for (size_t i = 0; i < size(); ++i) out.emplace_back((*this)[i]);
  return out;
}

size_t Array::size() const {
  switch (elem_type) {
    case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64:
      return uints.size();
    case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
    case ValueType::BOOL:
      return ints.size();
    case ValueType::FLOAT32: case ValueType::FLOAT64: return floats.size();
    case ValueType::STRING: return strings.size();
    case ValueType::ARRAY: return 0;
  }
  return 0;
}

struct File::Mapping {
  MappedFile file;
};

Result<File> File::parse(std::span<const uint8_t> bytes) { return parse(bytes, nullptr); }

Result<File> File::parse(std::span<const uint8_t> bytes, const PrefetchFn* prefetch) {
  File f;
  f.bytes_ = bytes;
  Parser p(bytes, prefetch);

  constexpr size_t kHeaderBytes = 4 + 4 + 8 + 8;
  if (bytes.size() >= 4) {
    uint32_t magic;
    std::memcpy(&magic, bytes.data(), 4);
    if (magic != kMagic)
      return make_error(format("gguf: not a GGUF file: expected magic 'GGUF', found '%s'", printable_magic(bytes).c_str()));
  }
  if (bytes.size() < kHeaderBytes)
    return make_error(format("gguf: file is %zu bytes, too small for a GGUF header (%zu bytes)", bytes.size(), kHeaderBytes));

  NX_ASSIGN_OR_RETURN(uint32_t magic, p.u<uint32_t>("magic"));
  (void)magic;
  NX_ASSIGN_OR_RETURN(f.version_, p.u<uint32_t>("version"));
  if (f.version_ == 1)
    return make_error("gguf: version 1 files are not supported (expected version 2 or 3); re-convert the model with a current converter");
  if (f.version_ != 2 && f.version_ != 3) {
    if (f.version_ == 0x02000000 || f.version_ == 0x03000000)
      return make_error("gguf: big-endian GGUF files are not supported (expected little-endian version 2 or 3)");
    return make_error(format("gguf: unsupported version %u (expected 2 or 3)", f.version_));
  }
  NX_ASSIGN_OR_RETURN(uint64_t n_tensors, p.u<uint64_t>("tensor count"));
  NX_ASSIGN_OR_RETURN(uint64_t n_kv, p.u<uint64_t>("metadata count"));

  // Each key/value pair needs at least 12 bytes (u64 key length + u32 type), each tensor info
  // at least 32 (name length, n_dims, one dim, type, offset).
  Cursor& c = p.cursor();
  if (n_kv > c.remaining() / 12)
    return make_error(format("gguf: header declares %llu metadata entries but only %zu bytes follow",
                             static_cast<unsigned long long>(n_kv), c.remaining()));
  f.kv_.reserve(static_cast<size_t>(n_kv));
  std::set<std::string, std::less<>> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    NX_ASSIGN_OR_RETURN(std::string key, p.str(format("metadata key #%llu", static_cast<unsigned long long>(i))));
    const std::string what = "metadata '" + key + "'";
    NX_ASSIGN_OR_RETURN(uint32_t type, p.u<uint32_t>(what + " type"));
    if (!valid_value_type(type))
      return make_error(format("gguf: %s: expected a value type 0..12, found %u", what.c_str(), type));
    NX_ASSIGN_OR_RETURN(Value v, p.value(static_cast<ValueType>(type), what));
    if (!keys.insert(key).second) return make_error(format("gguf: duplicate metadata key '%s'", key.c_str()));
    f.kv_.emplace_back(std::move(key), std::move(v));
  }

  f.alignment_ = kDefaultAlignment;
  if (const Value* a = f.find("general.alignment")) {
    if (a->type != ValueType::UINT32)
      return make_error(format("gguf: general.alignment: expected type u32, found %s",
                               std::string(value_type_name(a->type)).c_str()));
    const uint64_t al = std::get<uint64_t>(a->v);
    if (al == 0 || (al & (al - 1)) != 0)
      return make_error(format("gguf: general.alignment: expected a non-zero power of two, found %llu",
                               static_cast<unsigned long long>(al)));
    f.alignment_ = al;
  }

  if (n_tensors > c.remaining() / 32)
    return make_error(format("gguf: header declares %llu tensors but only %zu bytes follow",
                             static_cast<unsigned long long>(n_tensors), c.remaining()));
  f.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    NX_ASSIGN_OR_RETURN(t.name, p.str(format("tensor #%llu name", static_cast<unsigned long long>(i))));
    const std::string what = "tensor '" + t.name + "'";
    NX_ASSIGN_OR_RETURN(uint32_t n_dims, p.u<uint32_t>(what + " n_dims"));
    if (n_dims < 1 || n_dims > kMaxDims)
      return make_error(format("gguf: %s: expected 1 to %d dimensions, found %u", what.c_str(), kMaxDims, n_dims));
    t.n_dims = static_cast<int>(n_dims);
    // The product of the dimensions with zeros counted as ones stays under 2^40, so no product
    // of them overflows later, even when a zero dimension makes the tensor empty.
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      NX_ASSIGN_OR_RETURN(uint64_t ne, p.u<uint64_t>(what + format(" dimension %u", d)));
      if (ne >= kMaxElements)
        return make_error(format("gguf: %s: dimension %u is %llu elements (limit 2^40)", what.c_str(), d,
                                 static_cast<unsigned long long>(ne)));
      // Both factors are under 2^40: the product fits in 80 bits, so divide instead.
      const uint64_t factor = std::max<uint64_t>(ne, 1);
      if (elements > (kMaxElements - 1) / factor)
        return make_error(format("gguf: %s: dimensions up to %u hold too many elements (limit 2^40)",
                                 what.c_str(), d));
      elements *= factor;
      t.ne[d] = static_cast<int64_t>(ne);
    }
    NX_ASSIGN_OR_RETURN(uint32_t type_id, p.u<uint32_t>(what + " type"));
    const std::optional<DType> type = dtype_from_gguf(type_id);
    if (!type) return make_error(format("gguf: %s: unknown or unsupported tensor type id %u", what.c_str(), type_id));
    t.type = *type;
    const DTypeTraits& tr = dtype_traits(t.type);
    if (t.ne[0] % tr.block_elems != 0)
      return make_error(format("gguf: %s: type %s needs the first dimension to be a multiple of %lld, found %lld",
                               what.c_str(), std::string(tr.name).c_str(), static_cast<long long>(tr.block_elems),
                               static_cast<long long>(t.ne[0])));
    t.nbytes = row_bytes(t.type, t.ne[0]) * static_cast<size_t>(t.ne[1] * t.ne[2] * t.ne[3]);
    NX_ASSIGN_OR_RETURN(t.offset, p.u<uint64_t>(what + " offset"));
    if (t.offset % f.alignment_ != 0)
      return make_error(format("gguf: %s: data offset %llu is not a multiple of the alignment %llu", what.c_str(),
                               static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(f.alignment_)));
    if (f.tensor_index_.count(t.name)) return make_error(format("gguf: duplicate tensor name '%s'", t.name.c_str()));
    f.tensor_index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t pos = c.pos();
  f.data_offset_ = (pos + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  const uint64_t size = bytes.size();
  for (const TensorInfo& t : f.tensors_) {
    // Compare without overflow: offset and nbytes are each checked before being added.
    const bool fits = f.data_offset_ <= size && t.offset <= size - f.data_offset_ &&
                      t.nbytes <= size - f.data_offset_ - t.offset;
    if (!fits) {
      const unsigned long long start = t.offset > UINT64_MAX - f.data_offset_ ? UINT64_MAX : f.data_offset_ + t.offset;
      return make_error(format("gguf: tensor '%s' data [offset %llu, %zu bytes] runs past end of file (size %llu)",
                               t.name.c_str(), start, t.nbytes, static_cast<unsigned long long>(size)));
    }
  }
  return f;
}

Result<File> File::open(const std::string& path) {
  auto mapping = std::make_shared<Mapping>();
  NX_ASSIGN_OR_RETURN(mapping->file, MappedFile::open(path));
  // The metadata (2.7 MiB for a 128k vocabulary) is read ahead a window at a time, without the
  // kernel's read-around: that would fetch its whole readahead size (8 MiB here, mostly tensor
  // data) at the first fault and make the parse wait for it.
  // Asked for in pieces: the disk serves one large request at about 550 MB/s here, several
  // smaller ones side by side at its full rate (B3's header: 4.2-4.8 ms by faults, 2.3-2.7 ms).
  constexpr size_t kPiece = size_t{256} << 10;
  const std::span<const uint8_t> bytes = mapping->file.bytes();
  const PrefetchFn prefetch = [&](size_t offset, size_t len) {
    for (size_t o = offset; o < offset + len; o += kPiece) advise_willneed(bytes, o, std::min(kPiece, offset + len - o));
  };
  advise_random(bytes, true);
  Result<File> r = parse(bytes, &prefetch);
  advise_random(bytes, false);
  if (!r.ok()) return make_error(r.error().message + " (in '" + path + "')");
  r->mapping_ = std::move(mapping);
  return r;
}

const Value* File::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

std::optional<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::STRING) return std::nullopt;
  return std::get<std::string>(v->v);
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (const auto* s = std::get_if<int64_t>(&v->v)) return *s;
  if (const auto* u = std::get_if<uint64_t>(&v->v)) {
    if (*u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (const auto* d = std::get_if<double>(&v->v)) return *d;
  if (const auto* s = std::get_if<int64_t>(&v->v)) return static_cast<double>(*s);
  if (const auto* u = std::get_if<uint64_t>(&v->v)) return static_cast<double>(*u);
  return std::nullopt;
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::BOOL) return std::nullopt;
  return std::get<bool>(v->v);
}

const Array* File::get_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::ARRAY) return nullptr;
  return &std::get<Array>(v->v);
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView File::view(const TensorInfo& t) const {
  TensorView v;
  v.type = t.type;
  for (int i = 0; i < 4; ++i) v.ne[i] = t.ne[i];
  v.data = bytes_.data() + data_offset_ + t.offset;
  v.nbytes = t.nbytes;
  return v;
}

}  // namespace nexus::gguf
