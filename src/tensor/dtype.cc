#include "tensor/dtype.h"

#include <array>
#include <cctype>

#include "tensor/blocks.h"

namespace nexus {
namespace {

constexpr std::array<DTypeTraits, kNumDTypeIds> make_traits() {
  std::array<DTypeTraits, kNumDTypeIds> t{};
  auto set = [&](DType d, std::string_view name, int64_t elems, size_t bytes) {
    t[static_cast<size_t>(d)] = {name, elems, bytes};
  };
  set(DType::F32, "F32", 1, 4);
  set(DType::F16, "F16", 1, 2);
  set(DType::BF16, "BF16", 1, 2);
  set(DType::F64, "F64", 1, 8);
  set(DType::I8, "I8", 1, 1);
  set(DType::I16, "I16", 1, 2);
  set(DType::I32, "I32", 1, 4);
  set(DType::I64, "I64", 1, 8);
  set(DType::Q4_0, "Q4_0", kQK4_0, sizeof(BlockQ4_0));
  set(DType::Q4_1, "Q4_1", kQK4_1, sizeof(BlockQ4_1));
  set(DType::Q5_0, "Q5_0", kQK5_0, sizeof(BlockQ5_0));
  set(DType::Q5_1, "Q5_1", kQK5_1, sizeof(BlockQ5_1));
  set(DType::Q8_0, "Q8_0", kQK8_0, sizeof(BlockQ8_0));
  set(DType::Q8_1, "Q8_1", kQK8_1, sizeof(BlockQ8_1));
  set(DType::Q2_K, "Q2_K", kQK_K, sizeof(BlockQ2_K));
  set(DType::Q3_K, "Q3_K", kQK_K, sizeof(BlockQ3_K));
  set(DType::Q4_K, "Q4_K", kQK_K, sizeof(BlockQ4_K));
  set(DType::Q5_K, "Q5_K", kQK_K, sizeof(BlockQ5_K));
  set(DType::Q6_K, "Q6_K", kQK_K, sizeof(BlockQ6_K));
  set(DType::Q8_K, "Q8_K", kQK_K, sizeof(BlockQ8_K));
  // per row, as Q4_K: a group of 8 rows is 8 rows' bytes
  t[static_cast<size_t>(DType::Q4_K_R8)] = {"Q4_K_R8", kQK_K, sizeof(BlockQ4_K), true};
  t[static_cast<size_t>(DType::Q6_K_R8)] = {"Q6_K_R8", kQK_K, sizeof(BlockQ6_K), true};
  return t;
}

constexpr std::array<DTypeTraits, kNumDTypeIds> kTraits = make_traits();

}  // namespace

bool type_name_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

const DTypeTraits& dtype_traits(DType t) {
  static const DTypeTraits kUnknown{"?", 0, 0};
  const auto id = static_cast<uint32_t>(t);
  return id < kNumDTypeIds ? kTraits[id] : kUnknown;
}

std::optional<DType> dtype_from_gguf(uint32_t id) {
  if (id >= kNumDTypeIds || kTraits[id].block_elems == 0 || kTraits[id].runtime_layout) return std::nullopt;
  return static_cast<DType>(id);
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (uint32_t id = 0; id < kNumDTypeIds; ++id)
    if (kTraits[id].block_elems != 0 && !kTraits[id].runtime_layout && type_name_equals(kTraits[id].name, name))
      return static_cast<DType>(id);
  return std::nullopt;
}

}  // namespace nexus
