// Hugging Face tokenizer.json -> a ready Tokenizer, without going through GGUF: BPE models
// (byte-level like GPT-2/Llama 3/Qwen, or SentencePiece-style with "▁" and byte fallback), their
// added tokens, normalizers (Sequence, Prepend, Replace, NFC, Lowercase) and pre-tokenizers
// (Sequence, Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation).
// Anything else is refused with a message naming it. The input is untrusted: malformed JSON or
// shapes give an error, never a crash.
#pragma once

#include <memory>
#include <string_view>

#include "nexus/result.h"
#include "tokenizer/tokenizer.h"

namespace nexus::tokenizer {

// `config_json`: the tokenizer_config.json beside it ("" when there is none); it may set
// bos_token, eos_token, add_bos_token and add_eos_token.
Result<std::unique_ptr<Tokenizer>> load_hf_json(std::string_view tokenizer_json, std::string_view config_json = {});

}  // namespace nexus::tokenizer
