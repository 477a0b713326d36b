// Pre-tokenization: cutting text into the pieces BPE merges within (words, number groups,
// punctuation runs, whitespace), as a sequence of steps in the manner of Hugging Face's
// pre_tokenizers. GGUF vocabularies name their pipeline with tokenizer.ggml.pre ("gpt-2",
// "llama-bpe", "qwen2", ...); tokenizer.json spells the steps out.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nexus/result.h"

namespace nexus::tokenizer {

// A compiled PCRE2 pattern (UTF mode, Unicode properties: \p{L}, \p{N}, \s are Unicode-aware;
// invalid UTF-8 in the subject never matches and so ends up between matches).
class Regex {
 public:
  // `literal`: the pattern is a plain string, not a regular expression.
  static Result<Regex> compile(std::string_view pattern, bool literal = false);
  // [begin, end) byte ranges of the successive non-overlapping, non-empty matches.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
};

// What a Split step does with the matches (Hugging Face's SplitDelimiterBehavior).
enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

enum class PrependScheme { kAlways, kFirst, kNever };

class PreTokenizer {
 public:
  // The pipeline a GGUF vocabulary names in tokenizer.ggml.pre (empty or "default" -> "gpt-2"):
  // regex splits followed by the byte-level mapping. Unknown names are an error.
  static Result<PreTokenizer> for_gguf(std::string_view pre);

  Status add_split(std::string_view pattern, bool literal, SplitBehavior behavior, bool invert);
  // Byte-level: optional space in front of each piece, optional GPT-2 regex split, then every
  // byte becomes its GPT-2 character.
  Status add_byte_level(bool add_prefix_space, bool use_regex);
  // SentencePiece style: spaces become `replacement`, one is put in front (per the scheme), and
  // with `split` each replacement starts a new piece.
  Status add_metaspace(std::string replacement, PrependScheme scheme, bool split);
  // Digits apart from other text: each digit alone, or runs of digits.
  Status add_digits(bool individual);

  // Pieces of `text`; `at_start`: the text begins the input (not after a special token).
  std::vector<std::string> split(std::string_view text, bool at_start) const;

  bool byte_level() const { return byte_level_; }
  bool empty() const { return steps_.empty(); }

 private:
  struct Step {
    enum class Kind { kSplit, kByteLevel, kMetaspace } kind = Kind::kSplit;
    Regex regex;
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;  // byte level
    bool use_regex = false;         // byte level
    std::string replacement;        // metaspace
    PrependScheme scheme = PrependScheme::kAlways;
    bool split = true;
  };
  std::vector<Step> steps_;
  bool byte_level_ = false;
};

// The GPT-2 pattern ByteLevel(use_regex) splits with.
extern const char* const kGpt2Pattern;

}  // namespace nexus::tokenizer
