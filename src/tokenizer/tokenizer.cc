#include "tokenizer/tokenizer.h"

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/vocab.h"

namespace nexus {

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::File& file) {
  NX_ASSIGN_OR_RETURN(tokenizer::Vocab vocab, tokenizer::Vocab::from_gguf(file));
  if (vocab.model == "llama") return std::unique_ptr<Tokenizer>(new tokenizer::SpmTokenizer(std::move(vocab)));
  if (vocab.model == "gpt2") return tokenizer::BpeTokenizer::from_vocab(std::move(vocab));
  return make_error(format("unsupported tokenizer model '%s' (tokenizer.ggml.model)", vocab.model.c_str()));
}

uint64_t Tokenizer::memory_bound(const gguf::File& file) {
  constexpr uint64_t kPerEntry = 64, kFixed = uint64_t{1} << 20;
  constexpr size_t kInline = 15;  // std::string's inline capacity (libstdc++)
  uint64_t bytes = kFixed;
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"}) {
    const gguf::Array* a = file.get_array(key);
    if (a == nullptr) continue;
    for (size_t i = 0; i < a->strings.size(); ++i) {
      const size_t len = a->strings[i].size();
      bytes += kPerEntry + (len > kInline ? (len + 1 + 15) / 16 * 16 + 16 : 0);  // malloc's chunk
    }
  }
  return bytes;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_hf_json(std::string_view tokenizer_json, std::string_view config_json) {
  return tokenizer::load_hf_json(tokenizer_json, config_json);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += decode_token(id, render_special);
  return out;
}

}  // namespace nexus
