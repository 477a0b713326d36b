// Splits text around special-token texts ("<s>", "<|endoftext|>", user-defined pieces) before
// the subword algorithm runs, so those tokens are matched as wholes and never broken up.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace nexus::tokenizer {

// A run of ordinary text (token == -1) or one matched special token.
struct Fragment {
  int32_t token = -1;
  std::string_view text;
};

class SpecialSplitter {
 public:
  explicit SpecialSplitter(const Vocab& vocab);

  // User-defined tokens are always matched; control and unknown tokens only with
  // parse_special. Longer token texts are matched first (over the whole text), then shorter
  // ones in the remaining gaps, leftmost occurrence first. Fragments view into `text`.
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  const Vocab& vocab_;
  std::vector<int32_t> specials_;  // ids with non-empty text, by text length descending
};

}  // namespace nexus::tokenizer
