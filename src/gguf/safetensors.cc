#include "gguf/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "util/fp16.h"
#include "util/mmap_file.h"

namespace nexus::safetensors {

using json = nlohmann::json;

struct File::Mapping {
  MappedFile file;
};

int64_t Tensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated by parse() not to overflow
  return n;
}

namespace {

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::optional<DType> parse_dtype(std::string_view s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  return std::nullopt;
}

size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }

// A JSON number usable as a non-negative size: integers only (no floats, no negatives).
bool as_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

// Validates one header entry and fills `t` (except data). `data_size` bounds the offsets.
Status parse_entry(const std::string& name, const json& e, uint64_t data_size, Tensor* t,
                   uint64_t* begin, uint64_t* end) {
  auto err = [&](const std::string& what) {
    return make_error("safetensors: tensor '" + name + "': " + what);
  };
  if (!e.is_object()) return err("entry is not an object");
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) return err("missing string field 'dtype'");
  const std::string& dts = dt->get_ref<const std::string&>();
  std::optional<DType> dtype = parse_dtype(dts);
  if (!dtype) return err("unsupported dtype '" + dts.substr(0, 32) + "' (expected F32, F16 or BF16)");
  t->dtype = *dtype;

  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) return err("missing array field 'shape'");
  if (sh->size() > 8) return err(format("shape has %zu dimensions (at most 8 supported)", sh->size()));
  uint64_t elems = 1;
  for (const json& d : *sh) {
    uint64_t v;
    if (!as_u64(d, &v) || v > static_cast<uint64_t>(INT64_MAX))
      return err("shape entries must be non-negative integers");
    if (__builtin_mul_overflow(elems, v, &elems) || elems > static_cast<uint64_t>(INT64_MAX))
      return err("shape element count overflows");
    t->shape.push_back(static_cast<int64_t>(v));
  }
  uint64_t want;
  if (__builtin_mul_overflow(elems, dtype_size(*dtype), &want)) return err("byte size overflows");

  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2)
    return err("missing field 'data_offsets' [begin, end]");
  if (!as_u64((*off)[0], begin) || !as_u64((*off)[1], end))
    return err("data_offsets must be non-negative integers");
  if (*begin > *end)
    return err(format("data_offsets begin %llu > end %llu", (unsigned long long)*begin,
                      (unsigned long long)*end));
  if (*end > data_size)
    return err(format("data_offsets end %llu beyond the data section (%llu bytes)",
                      (unsigned long long)*end, (unsigned long long)data_size));
  if (*end - *begin != want)
    return err(format("data_offsets span %llu bytes, shape x dtype needs %llu",
                      (unsigned long long)(*end - *begin), (unsigned long long)want));
  return Status::Ok();
}

}  // namespace

Result<File> File::parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < 8)
    return make_error(format("safetensors: file is %zu bytes, expected at least 8 (header length)",
                             bytes.size()));
  const uint64_t n = read_u64_le(bytes.data());
  if (n > kMaxHeaderBytes)
    return make_error(format("safetensors: header length %llu exceeds the %llu-byte limit",
                             (unsigned long long)n, (unsigned long long)kMaxHeaderBytes));
  if (n > bytes.size() - 8)
    return make_error(format("safetensors: header length %llu exceeds the file (%zu bytes after the length)",
                             (unsigned long long)n, bytes.size() - 8));
  const char* hdr = reinterpret_cast<const char*>(bytes.data() + 8);
  const std::span<const uint8_t> data = bytes.subspan(8 + n);

  File f;
  try {
    json h = json::parse(hdr, hdr + n, nullptr, /*allow_exceptions=*/false);
    if (h.is_discarded()) return make_error("safetensors: header is not valid JSON");
    if (!h.is_object()) return make_error("safetensors: header JSON is not an object");

    struct Range {
      uint64_t begin, end;
      size_t tensor;
    };
    std::vector<Range> ranges;
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (it->is_object())
          for (auto m = it->begin(); m != it->end(); ++m)
            if (m->is_string()) f.metadata_[m.key()] = m->get<std::string>();
        continue;
      }
      Tensor t;
      t.name = it.key();
      uint64_t b = 0, e = 0;
      NX_TRY(parse_entry(t.name, *it, data.size(), &t, &b, &e));
      t.data = data.subspan(b, e - b);
      ranges.push_back({b, e, f.tensors_.size()});
      f.index_[t.name] = f.tensors_.size();
      f.tensors_.push_back(std::move(t));
    }
    // Overlapping tensors would alias each other's bytes: a corrupt (or hostile) file.
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < ranges.size(); ++i) {
      if (ranges[i].begin < ranges[i - 1].end && ranges[i].begin != ranges[i].end &&
          ranges[i - 1].begin != ranges[i - 1].end)
        return make_error("safetensors: tensor '" + f.tensors_[ranges[i].tensor].name +
                          "': data_offsets overlap tensor '" +
                          f.tensors_[ranges[i - 1].tensor].name + "'");
    }
  } catch (const std::exception& e) {
    // nlohmann may still throw for e.g. invalid UTF-8 in keys when dumping; never let it escape.
    return make_error(std::string("safetensors: bad header: ") + e.what());
  }
  return f;
}

Result<File> File::open(const std::string& path) {
  NX_ASSIGN_OR_RETURN(MappedFile m, MappedFile::open(path));
  auto mapping = std::make_shared<Mapping>();
  mapping->file = std::move(m);
  Result<File> r = parse(mapping->file.bytes());
  if (!r.ok()) return make_error(path + ": " + r.error().message);
  r->mapping_ = std::move(mapping);
  return r;
}

const Tensor* File::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<float> to_f32(const Tensor& t) {
  const size_t n = static_cast<size_t>(t.elements());
  std::vector<float> out(n);
  if (n == 0) return out;  // memcpy from/to a null data() is undefined even for 0 bytes
  const uint8_t* p = t.data.data();
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out.data(), p, n * 4);
      break;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = fp16_to_f32(h);
      }
      break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      break;
    default:
      NX_CHECK(false, "safetensors tensor with dtype %d", static_cast<int>(t.dtype));
  }
  return out;
}

Result<Checkpoint> Checkpoint::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  Checkpoint c;
  const std::string single = dir + "/model.safetensors";
  const std::string index = dir + "/model.safetensors.index.json";
  std::vector<std::string> shards;
  if (fs::exists(single)) {
    shards.push_back("model.safetensors");
  } else if (fs::exists(index)) {
    std::ifstream in(index, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return make_error(index + ": not valid JSON");
    auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object()) return make_error(index + ": missing object 'weight_map'");
    std::set<std::string> uniq;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it->is_string()) return make_error(index + ": weight_map['" + it.key() + "'] is not a string");
      const std::string& s = it->get_ref<const std::string&>();
      if (s.empty() || s.find('/') != std::string::npos || s == "..")
        return make_error(index + ": weight_map['" + it.key() + "'] names a bad shard '" + s + "'");
      uniq.insert(s);
    }
    shards.assign(uniq.begin(), uniq.end());
  } else {
    return make_error("no model.safetensors or model.safetensors.index.json in '" + dir + "'");
  }
  for (const std::string& s : shards) {
    NX_ASSIGN_OR_RETURN(File f, File::open(dir + "/" + s));
    c.files_.push_back(std::move(f));
  }
  // Index after all files are in place: Tensor addresses are stable from here on (moving the
  // Checkpoint moves the vectors' buffers, not their elements).
  for (const File& f : c.files_) {
    for (const Tensor& t : f.tensors()) {
      if (!c.index_.emplace(t.name, &t).second)
        return make_error("tensor '" + t.name + "' appears in more than one shard of '" + dir + "'");
    }
  }
  return c;
}

const Tensor* Checkpoint::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : index_) out.push_back(k);
  return out;
}

}  // namespace nexus::safetensors
