// Text <-> token ids. Built from the vocabulary stored in a GGUF file
// (tokenizer.ggml.model = "llama" (SentencePiece), "gpt2" (byte-level BPE)), or from a Hugging
// Face tokenizer.json.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "nexus/result.h"

namespace nexus {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Reads tokenizer.ggml.* metadata; errors name the missing or malformed key.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::File& file);
  // An upper bound of the memory a tokenizer built by from_gguf(file) keeps: its records and
  // index tables, 58-62 bytes per token and merge measured on SPM and BPE vocabularies of
  // 32k-262k tokens (64 counted), its own copy of each string too long to be stored inline,
  // and a fixed allowance. The memory planner reserves it: under a budget the resident
  // weights start landing before the tokenizer is built.
  static uint64_t memory_bound(const gguf::File& file);
  // From a Hugging Face tokenizer.json (text) and, optionally, its tokenizer_config.json.
  static Result<std::unique_ptr<Tokenizer>> from_hf_json(std::string_view tokenizer_json,
                                                         std::string_view config_json = {});

  // Token ids of `text`; BOS first when add_bos and the vocabulary asks for it
  // (tokenizer.ggml.add_bos_token, default true for SPM). With parse_special, control-token
  // texts such as "<s>" in `text` map to their ids; otherwise they are ordinary text.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = false) const = 0;

  // The bytes this token stands for when printed: SPM's "▁" becomes a space, byte-fallback
  // tokens <0xAB> become the raw byte, byte-level BPE text becomes its bytes (possibly part of a
  // UTF-8 character: concatenate before printing), control tokens become "" (unless
  // render_special).
  virtual std::string decode_token(int32_t id, bool render_special = false) const = 0;

  // Text of a whole sequence. Unlike concatenating decode_token, this takes off the space
  // the encoder put in front of text (SPM's add_space_prefix), so decode(encode(x)) == x.
  // The default concatenates decode_token.
  virtual std::string decode(std::span<const int32_t> ids, bool render_special = false) const;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos() const = 0;  // -1 when none
  virtual int32_t eos() const = 0;  // -1 when none
  // End of generation: EOS, EOT and the like.
  virtual bool is_end_of_generation(int32_t id) const = 0;
};

}  // namespace nexus
