// Text normalisation before pre-tokenization, in the manner of Hugging Face's normalizers:
// a sequence of Prepend, Replace, NFC and Lowercase steps applied to each run of ordinary text
// (the text between special tokens).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nexus/result.h"
#include "tokenizer/pretokenizer.h"

namespace nexus::tokenizer {

class Normalizer {
 public:
  // Puts `s` in front of non-empty text.
  void add_prepend(std::string s);
  // Every match of `pattern` (a plain string when `literal`) becomes `content`.
  Status add_replace(std::string_view pattern, bool literal, std::string content);
  void add_nfc();
  void add_lowercase();

  std::string run(std::string_view text) const;

  bool empty() const { return steps_.empty(); }
  // Whether text gets something put in front (so decode should take a leading space off).
  bool prepends() const;

 private:
  struct Step {
    enum class Kind { kPrepend, kReplace, kNfc, kLowercase } kind;
    std::string text;  // prepend: the prefix; replace: the content
    Regex regex;       // replace
  };
  std::vector<Step> steps_;
};

}  // namespace nexus::tokenizer
