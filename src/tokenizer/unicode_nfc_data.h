// Tables for Unicode NFC (generated into unicode_nfc_data.cc by tools/gen_unicode_nfc.py).
// Each is sorted by its first field so lookups are binary searches. Hangul syllables are
// composed algorithmically and are not listed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nexus::tokenizer::unicode {

struct CombiningClass {
  uint32_t cp;
  uint32_t ccc;  // canonical combining class, non-zero
};

// One level of canonical decomposition: cp -> first [second] (second == 0 for singletons).
struct Decomposition {
  uint32_t cp;
  uint32_t first;
  uint32_t second;
};

// Primary composites: (first, second) -> composite, excluding composition exclusions.
struct Composition {
  uint32_t first;
  uint32_t second;
  uint32_t composite;
};

extern const CombiningClass kCombiningClasses[];
extern const size_t kCombiningClasses_size;
extern const Decomposition kDecompositions[];
extern const size_t kDecompositions_size;
extern const Composition kCompositions[];
extern const size_t kCompositions_size;

}  // namespace nexus::tokenizer::unicode
