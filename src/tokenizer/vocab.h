// The vocabulary a tokenizer works from, as stored in GGUF metadata (tokenizer.ggml.*):
// token texts, merge scores, token types, special ids and the flags that steer encoding.
// Shared by every tokenizer algorithm (SPM now, BPE later); holds no algorithm itself.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "nexus/result.h"

namespace nexus::tokenizer {

// tokenizer.ggml.token_type values (SentencePiece's piece types).
enum class TokenType : uint8_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,       // <s>, </s>, <|endoftext|>: never produced from text unless parse_special
  kUserDefined = 4,   // always matched as a whole in text
  kUnused = 5,
  kByte = 6,          // <0xAB>: byte fallback
};

// Parses a byte token's text "<0xAB>" (hex digits in either case) into 0xAB; -1 when `text`
// is not of that form.
int parse_byte_token(std::string_view text);

struct VocabToken {
  std::string text;
  float score = 0.0f;
  TokenType type = TokenType::kNormal;
  int16_t byte = -1;  // the byte a kByte token <0xAB> stands for; -1 otherwise
  // When the special-token splitter matches this token, whitespace just before (lstrip) or
  // after (rstrip) it is dropped. Hugging Face stores these per added token; GGUF does not,
  // so from_gguf sets them the way the reference does (by model name, for Phi-3).
  bool lstrip = false;
  bool rstrip = false;
};

struct Vocab {
  std::string model;  // tokenizer.ggml.model: "llama" (SPM), "gpt2" (BPE), ...
  std::vector<VocabToken> tokens;

  // -1 when absent.
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  int32_t eot_id = -1;
  int32_t eom_id = -1;

  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;

  // BPE only: tokenizer.ggml.pre (the pre-tokenizer's name, "" when absent) and
  // tokenizer.ggml.merges ("a b": tokens a and b merge into ab; earlier entries first).
  std::string pre;
  std::vector<std::string> merges;

  // Reads and validates tokenizer.ggml.*; errors name the offending key.
  static Result<Vocab> from_gguf(const gguf::File& file);

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
  bool valid(int32_t id) const { return id >= 0 && id < size(); }
  // Id of the token whose text is exactly `text`; -1 when none. With duplicate texts the
  // highest id wins (as in the reference implementation).
  int32_t find(std::string_view text) const;
  // Token standing for raw byte `b`: <0xAB>, else the one-byte text, else unk (-1 if none).
  int32_t byte_token(uint8_t b) const { return byte_to_token_[b]; }
  // Control, user-defined and unknown tokens: those the special-token splitter may match.
  bool is_special(int32_t id) const;
  // Sorted, distinct ids that end generation: eos, eot and eom, plus control tokens spelled
  // like a known end-of-turn marker (<|eot_id|>, <|im_end|>, <end_of_turn>, ...) or like one
  // of `extra_texts`.
  std::vector<int32_t> end_of_generation_ids(std::initializer_list<std::string_view> extra_texts = {}) const;

  // Builds the lookup tables from `tokens`; from_gguf calls it, tests building a Vocab by
  // hand call it too.
  void index();

 private:
  // byte_to_token_, from the text index and unk_id.
  void index_bytes();
  // Token ids by text: open addressing with linear probing over a power-of-two table, -1 for
  // empty. Ids, not strings, so building it allocates once instead of once per token (a
  // 128k-token vocabulary indexed 4x faster than with a node-based map).
  std::vector<int32_t> by_text_;
  std::array<int32_t, 256> byte_to_token_{};
};

}  // namespace nexus::tokenizer
