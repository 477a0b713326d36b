// Turning token ids back into text, the part every vocabulary-based tokenizer (SPM, BPE)
// shares: byte, user-defined and special tokens decode the same way everywhere; only the
// spelling of normal tokens differs, and that is chosen by NormalSpelling.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace nexus::tokenizer {

// How the text of a kNormal token is spelled in the vocabulary.
enum class NormalSpelling {
  kVerbatim,   // as is
  kMetaspace,  // "▁" (U+2581) stands for a space
  kByteLevel,  // GPT-2's 256 byte characters
};

// "▁" -> " " throughout `text`.
std::string replace_metaspace(std::string_view text);

// The bytes token `id` stands for; control, unknown and unused tokens only with
// render_special. "" for an id outside the vocabulary.
std::string decode_vocab_token(const Vocab& vocab, int32_t id, bool render_special, NormalSpelling spelling);

// Concatenates tok.decode_token over `ids`. With strip_prefix_space, the leading space of the
// first text token at the start and after each special token is dropped: the space encode()
// put in front of that run of text.
std::string decode_ids(const Tokenizer& tok, const Vocab& vocab, std::span<const int32_t> ids, bool render_special,
                       bool strip_prefix_space);

}  // namespace nexus::tokenizer
