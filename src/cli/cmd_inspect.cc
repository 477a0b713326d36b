// nexus inspect MODEL: prints a GGUF file's header, metadata and tensor table.
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "gguf/gguf.h"

namespace nexus::cli {
namespace {

constexpr size_t kArrayPreview = 8;     // elements shown of a long array
constexpr size_t kStringPreview = 120;  // characters shown of a long string

// Strings are printed quoted with control characters escaped, so one value is one line.
std::string quote(std::string_view s, size_t limit = kStringPreview) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += format("\\x%02x", c);
    else out += static_cast<char>(c);
  }
  out += '"';
  if (s.size() > limit) out += format("... (%zu bytes)", s.size());
  return out;
}

std::string scalar_text(const gguf::Value& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.v)) return std::to_string(*u);
  if (const auto* i = std::get_if<int64_t>(&v.v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v.v)) return format("%.9g", *d);
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&v.v)) return quote(*s);
  return "?";
}

std::string array_element(const gguf::Array& a, size_t i) {
  using gguf::ValueType;
  switch (a.elem_type) {
    case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64:
      return std::to_string(a.uints[i]);
    case ValueType::BOOL: return a.ints[i] ? "true" : "false";
    case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
      return std::to_string(a.ints[i]);
    case ValueType::FLOAT32: case ValueType::FLOAT64: return format("%.9g", a.floats[i]);
    case ValueType::STRING: return quote(a.strings[i], 40);
    case ValueType::ARRAY: return "?";
  }
  return "?";
}

std::string value_text(const gguf::Value& v) {
  const auto* a = std::get_if<gguf::Array>(&v.v);
  if (!a) return scalar_text(v);
  const size_t n = a->size();
  std::string out = format("array<%s>[%zu] [", std::string(gguf::value_type_name(a->elem_type)).c_str(), n);
  for (size_t i = 0; i < n && i < kArrayPreview; ++i) out += (i ? ", " : "") + array_element(*a, i);
  out += n > kArrayPreview ? ", ...]" : "]";
  return out;
}

std::string dims_text(const gguf::TensorInfo& t) {
  std::string s = "[";
  for (int d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "]";
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  return u == 0 ? format("%.0f %s", b, units[u]) : format("%.2f %s", b, units[u]);
}

int run_inspect(const std::string& path, bool show_tensors) {
  Result<gguf::File> r = gguf::File::open(path);
  if (!r.ok()) return fail(r.error().message);
  const gguf::File& f = *r;

  std::printf("file:        %s\n", path.c_str());
  std::printf("size:        %zu bytes (%s)\n", f.file_size(), human_bytes(static_cast<double>(f.file_size())).c_str());
  std::printf("gguf:        version %u, alignment %llu, data at offset %llu\n", f.version(),
              static_cast<unsigned long long>(f.alignment()), static_cast<unsigned long long>(f.data_offset()));

  std::printf("\nmetadata (%zu keys):\n", f.metadata().size());
  size_t key_width = 0;
  for (const auto& [k, v] : f.metadata()) key_width = std::max(key_width, k.size());
  for (const auto& [k, v] : f.metadata())
    std::printf("  %-*s  %-6s  %s\n", static_cast<int>(key_width), k.c_str(),
                std::string(gguf::value_type_name(v.type)).c_str(), value_text(v).c_str());

  uint64_t params = 0, bytes = 0;
  size_t name_width = 4;
  for (const gguf::TensorInfo& t : f.tensors()) {
    params += static_cast<uint64_t>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
    bytes += t.nbytes;
    name_width = std::max(name_width, t.name.size());
  }
  if (show_tensors) {
    std::printf("\ntensors (%zu):\n", f.tensors().size());
    std::printf("  %-*s  %-5s  %-24s  %12s  %12s\n", static_cast<int>(name_width), "name", "type", "dims", "offset", "bytes");
    for (const gguf::TensorInfo& t : f.tensors())
      std::printf("  %-*s  %-5s  %-24s  %12llu  %12zu\n", static_cast<int>(name_width), t.name.c_str(),
                  std::string(dtype_name(t.type)).c_str(), dims_text(t).c_str(),
                  static_cast<unsigned long long>(t.offset), t.nbytes);
  }
  std::printf("\ntotals: %zu tensors, %llu parameters, %llu bytes (%s)\n", f.tensors().size(),
              static_cast<unsigned long long>(params), static_cast<unsigned long long>(bytes),
              human_bytes(static_cast<double>(bytes)).c_str());
  return 0;
}

CommandRun setup(CLI::App& sub) {
  auto path = std::make_shared<std::string>();
  auto no_tensors = std::make_shared<bool>(false);
  sub.add_option("model", *path, "GGUF model file")->required();
  sub.add_flag("--no-tensors", *no_tensors, "Omit the tensor table (totals are still printed)");
  return [path, no_tensors] { return run_inspect(*path, !*no_tensors); };
}

NEXUS_COMMAND("inspect", "print a GGUF file's metadata and tensor table", setup);

}  // namespace
}  // namespace nexus::cli
