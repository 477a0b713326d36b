// Hugging Face tokenizer.json -> GGUF tokenizer.ggml.* metadata (part of hf_import).
//  - SentencePiece-style BPE ("▁" for spaces, optional <0xNN> byte fallback) becomes
//    tokenizer.ggml.model "llama" with score = -(rank of the merge that forms the token), so the
//    SPM algorithm (merge the highest-scoring pair) follows the BPE merge order.
//  - Byte-level BPE (GPT-2, Qwen, Llama 3) becomes "gpt2" with tokenizer.ggml.merges.
//  - No tokenizer.json: a synthetic "llama" vocabulary (<unk>, <s>, </s>, 256 byte tokens,
//    fillers) so the file still loads and decodes bytes.
#pragma once

#include <cstdint>
#include <string>

#include "gguf/gguf.h"
#include "gguf/hf_import.h"
#include "nexus/result.h"

namespace nexus::hf {

// Adds tokenizer.ggml.* to `w` from the files in `hf_dir`. `n_vocab` is the number of rows of the
// token embedding: the vocabulary is padded to it and may not exceed it.
Status write_tokenizer(const std::string& hf_dir, const HfConfig& config, int64_t n_vocab,
                       gguf::Writer& w, const LogFn& log);

}  // namespace nexus::hf
