// Random-weight models for tests and benchmarks: a valid GGUF with the metadata, tensor set
// and a synthetic SentencePiece vocabulary of a real architecture, so every loader, tokenizer
// and kernel path runs at any size without downloading weights. The architecture knowledge
// for this (which tensors, which shapes, which hyper-parameter keys) lives in synthetic.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "nexus/result.h"
#include "quant/quant_mix.h"
#include "runtime/thread_pool.h"

namespace nexus {

struct SynthSpec {
  std::string arch = "llama";  // llama | qwen2 | qwen3
  int dim = 256;               // embedding width D
  int layers = 2;
  int ffn = 512;               // feed-forward hidden width F
  int heads = 4;               // query heads H
  int kv_heads = 4;            // key/value heads K (divides H)
  int head_dim = 0;            // 0: D / H
  int vocab = 512;             // >= 259 (3 specials + 256 byte tokens)
  int ctx = 4096;
  uint64_t seed = 1;
  quant::Mix mix = quant::Mix::F32;
  std::string name;            // general.name; default "synthetic-<arch>"
};

// Checks the spec: positive sizes, heads divisible, vocab large enough, known architecture,
// and a size cap so a typo cannot ask for terabytes.
Status validate_synth_spec(const SynthSpec& spec);

// Tensor names and GGUF shapes (ne[0] = input dimension) the spec produces, in file order.
struct SynthTensor {
  std::string name;
  std::vector<int64_t> ne;
};
std::vector<SynthTensor> synth_tensor_list(const SynthSpec& spec);

// The synthetic vocabulary: "<unk>", "<s>", "</s>", "<0x00>".."<0xFF>", then pieces.
struct SynthVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // 1 normal, 2 unknown, 3 control, 6 byte
};
SynthVocab synth_vocab(int n_vocab);

// Fills `out` with metadata and tensors. Weights are N(0, 1/fan_in)-like; norms are 1.
// Quantized tensors larger than a pool threshold are tiled from a pool of really quantized
// random blocks (each block is a genuine quantization of random data), which makes
// multi-GB models take seconds instead of minutes.
Status synth_model(const SynthSpec& spec, gguf::Writer& out, ThreadPool& pool);

// synth_model + write.
Status synth_model_file(const SynthSpec& spec, const std::string& path, ThreadPool& pool);

}  // namespace nexus
