// Byte-pair encoding (tokenizer.ggml.model = "gpt2", and BPE models from tokenizer.json).
// Text is split around special tokens, normalised, cut into pieces by the pre-tokenizer, and
// within each piece adjacent symbols are merged, lowest merge rank first, until no listed merge
// applies. Byte-level vocabularies (GPT-2, Llama 3, Qwen) spell bytes with GPT-2's 256
// characters; SentencePiece-style ones ("▁" for space) fall back to <0xAB> byte tokens.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nexus/result.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_tokenizer.h"

namespace nexus::tokenizer {

struct BpeConfig {
  Normalizer normalizer;
  PreTokenizer pre;  // byte-level when pre.byte_level()
  // Merge pairs of token texts, highest priority first.
  std::vector<std::pair<std::string, std::string>> merges;
  bool byte_fallback = false;  // a character with no token becomes its <0xAB> byte tokens
  bool fuse_unk = false;       // consecutive unknown characters become one unk
  bool ignore_merges = false;  // a piece that is itself a token is taken whole (Llama 3)
  // Decoding: tokens are byte-level text (GPT-2's characters back to bytes).
  bool byte_level_decode = false;
  // Decoding: "▁" reads as a space, and decode() drops the space encode() put in front.
  bool metaspace = false;
  bool strip_prefix_space = false;
};

class BpeTokenizer final : public VocabTokenizer {
 public:
  // Merges naming tokens the vocabulary lacks are skipped.
  BpeTokenizer(Vocab vocab, BpeConfig config);

  // A GGUF "gpt2" vocabulary: merges from tokenizer.ggml.merges, pre-tokenizer from
  // tokenizer.ggml.pre.
  static Result<std::unique_ptr<Tokenizer>> from_vocab(Vocab vocab);

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = false) const override;
  // Raw bytes of the token: a byte-level token may be part of a UTF-8 character.
  std::string decode_token(int32_t id, bool render_special = false) const override;
  std::string decode(std::span<const int32_t> ids, bool render_special = false) const override;

  size_t merge_count() const { return merges_.size(); }

  // Merges one pre-tokenized piece (already in the vocabulary's alphabet); appends ids.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t id;  // the token the pair becomes
  };
  static uint64_t key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

  BpeConfig config_;
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace nexus::tokenizer
