// libFuzzer target: safetensors::File::parse over arbitrary bytes, then every tensor's data
// converted to float (which reads every byte the header claims), so a bad bound shows up
// as an ASan report rather than a silent over-read.
#include <cstddef>
#include <cstdint>
#include <span>

#include "gguf/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nexus;
  Result<safetensors::File> f = safetensors::File::parse(std::span<const uint8_t>(data, size));
  if (!f.ok()) return 0;
  for (const safetensors::Tensor& t : f->tensors()) {
    if (f->find(t.name) == nullptr) __builtin_trap();  // every listed tensor is findable
    if (t.data.size() > (1u << 20)) continue;          // the data span is bounded by the input
    std::vector<float> x = safetensors::to_f32(t);
    if (x.size() != static_cast<size_t>(t.elements())) __builtin_trap();
  }
  for (const auto& [k, v] : f->metadata()) (void)k.size(), (void)v.size();
  return 0;
}
