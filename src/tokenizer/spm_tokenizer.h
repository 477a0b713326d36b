// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"): text is normalised (spaces
// become U+2581 "▁", optionally one is put in front), split into UTF-8 characters, and
// adjacent pieces are merged greedily by vocabulary score; characters no token covers fall
// back to <0xAB> byte tokens.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"
#include "tokenizer/vocab_tokenizer.h"

namespace nexus::tokenizer {

class SpmTokenizer final : public VocabTokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab);

  // add_bos: BOS first when the vocabulary asks for it (add_bos_token), and EOS last when it
  // asks for that (add_eos_token). Each run of text gets the "▁" prefix (add_space_prefix)
  // when it starts the input or follows a special token.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = false) const override;
  std::string decode_token(int32_t id, bool render_special = false) const override;
  // Drops the leading space of the first text token after the start or after a special
  // token: the space encode() added.
  std::string decode(std::span<const int32_t> ids, bool render_special = false) const override;

  // The merge algorithm on one run of already-normalised text; appends ids to `out`.
  void encode_normalized(std::string_view text, std::vector<int32_t>& out) const;
};

}  // namespace nexus::tokenizer
