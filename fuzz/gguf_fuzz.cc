// libFuzzer target for the GGUF parser: any input must yield a File or an Error, never a
// crash, an out-of-bounds read or a huge allocation; a parsed File's views must lie inside
// the input.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gguf/gguf.h"

namespace {

// Keeps the compiler from discarding reads whose only purpose is to be checked by ASan.
volatile uint64_t g_sink;

void touch_value(const nexus::gguf::Value& v) {
  uint64_t h = static_cast<uint64_t>(v.type);
  if (const auto* s = std::get_if<std::string>(&v.v)) h += s->size();
  if (const auto* a = std::get_if<nexus::gguf::Array>(&v.v)) {
    h += a->size();
    for (size_t i = 0; i < a->strings.size(); ++i) {
      const std::string_view s = a->strings[i];
      h += s.empty() ? 0 : static_cast<uint8_t>(s.back());
    }
  }
  g_sink = g_sink + h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nexus::Result<nexus::gguf::File> r = nexus::gguf::File::parse({data, size});
  if (!r.ok()) {
    if (r.error().message.empty()) __builtin_trap();  // every error must say something
    return 0;
  }
  const nexus::gguf::File& f = *r;
  for (const auto& [key, value] : f.metadata()) {
    touch_value(value);
    if (f.find(key) != &value) __builtin_trap();  // keys are unique
    (void)f.get_int(key);
    (void)f.get_float(key);
    (void)f.get_string(key);
    (void)f.get_bool(key);
    (void)f.get_array(key);
  }
  for (const nexus::gguf::TensorInfo& t : f.tensors()) {
    if (f.find_tensor(t.name) != &t) __builtin_trap();
    const nexus::TensorView v = f.view(t);
    const auto* p = static_cast<const uint8_t*>(v.data);
    if (v.nbytes != t.nbytes) __builtin_trap();
    if (p < data || p + v.nbytes > data + size) __builtin_trap();
    if (v.nbytes > 0) g_sink = g_sink + p[0] + p[v.nbytes - 1];
    if (v.elements() < 0) __builtin_trap();
  }
  return 0;
}
