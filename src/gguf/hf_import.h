// Hugging Face checkpoint -> GGUF: reads config.json, model.safetensors (or a sharded index) and
// tokenizer.json from a model directory and writes one GGUF file the loader understands.
// Supported: LlamaForCausalLM, MistralForCausalLM (written as arch "llama"), Qwen2ForCausalLM,
// Qwen3ForCausalLM, Gemma3ForCausalLM and the text model of Gemma3ForConditionalGeneration
// (written as arch "gemma3", the vision tower is left out).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/result.h"
#include "tensor/dtype.h"

namespace nexus::hf {

enum class Arch { kLlama, kQwen2, kQwen3, kGemma3 };

// The parts of config.json the conversion needs, validated.
struct HfConfig {
  std::string hf_arch;        // "LlamaForCausalLM", ...
  Arch arch = Arch::kLlama;
  std::string gguf_arch;      // "llama", "qwen2", "qwen3"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t head_dim = 0;       // hidden_size / n_head unless given
  bool head_dim_explicit = false;
  int64_t n_ctx_train = 0;
  double rms_eps = 1e-6;
  double rope_theta = 10000.0;
  double rope_linear_factor = 0;  // > 0: linear RoPE scaling
  bool tie_word_embeddings = false;
  // Gemma 3 only (from text_config for Gemma3ForConditionalGeneration).
  double query_pre_attn_scalar = 0;  // scores are scaled by its -1/2 power
  int64_t sliding_window = 0;        // keys a local layer sees; 0: no local layers
  int64_t swa_period = 0;            // layer i is global when (i + 1) % swa_period == 0
  double rope_local_theta = 10000.0; // RoPE base of the local layers
  double final_softcap = 0;          // > 0: logit soft-capping
  double attn_softcap = 0;           // > 0: attention score soft-capping
  int64_t bos_id = -1;        // -1 when config.json does not say
  int64_t eos_id = -1;
  std::vector<std::string> notes;  // non-fatal observations worth a log line
};

// The whole of the file at `path`; nullopt when it cannot be opened.
std::optional<std::string> read_text_file(const std::string& path);

// Parses config.json text. Errors name the field.
Result<HfConfig> parse_config(std::string_view json_text);

// HF stores each head's Q/K rows as [first halves | second halves] for rotate-half RoPE; GGUF
// "llama" rotates adjacent pairs. Reorders rows within each head (rows x cols floats, row-major):
// new row 2i = old row i, new row 2i+1 = old row i + head_dim/2.
void permute_rope_rows_to_interleaved(float* data, int64_t rows, int64_t cols, int64_t head_dim);

struct ConvertOptions {
  DType type = DType::F32;  // storage type of 2-D weights; 1-D tensors always stay F32
};

using LogFn = std::function<void(const std::string&)>;

// Converts the model directory `hf_dir` into the GGUF file `out_path`.
Status convert(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& options,
               const LogFn& log = {});

}  // namespace nexus::hf
