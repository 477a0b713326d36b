#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <thread>

namespace nexus::tokenizer {
namespace {

constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTypesKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";

bool is_integer_type(gguf::ValueType t) {
  switch (t) {
    case gguf::ValueType::UINT8: case gguf::ValueType::INT8: case gguf::ValueType::UINT16:
    case gguf::ValueType::INT16: case gguf::ValueType::UINT32: case gguf::ValueType::INT32:
    case gguf::ValueType::UINT64: case gguf::ValueType::INT64:
      return true;
    default:
      return false;
  }
}

// Element i of an integer array, whichever of ints/uints the reader filled.
int64_t array_int(const gguf::Array& a, size_t i) {
  if (i < a.ints.size()) return a.ints[i];
  if (i < a.uints.size()) {
    const uint64_t u = a.uints[i];
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? -1 : static_cast<int64_t>(u);
  }
  return -1;
}

Result<bool> read_flag(const gguf::File& file, std::string_view key, bool fallback) {
  if (file.find(key) == nullptr) return fallback;
  const std::optional<bool> v = file.get_bool(key);
  if (!v) return make_error(format("%.*s: expected a bool", static_cast<int>(key.size()), key.data()));
  return *v;
}

// A special token id: absent -> `fallback` (if in range, else -1); -1 or 0xFFFFFFFF mean none.
Result<int32_t> read_id(const gguf::File& file, std::string_view key, int32_t fallback, int32_t n_vocab) {
  const std::string k(key);
  if (file.find(key) == nullptr) return fallback < n_vocab ? fallback : -1;
  const std::optional<int64_t> v = file.get_int(key);
  if (!v) return make_error(format("%s: expected an integer token id", k.c_str()));
  if (*v == -1 || *v == 0xFFFFFFFFll) return -1;
  if (*v < 0 || *v >= n_vocab)
    return make_error(format("%s: token id %lld out of range (vocabulary has %d tokens)", k.c_str(),
                             static_cast<long long>(*v), n_vocab));
  return static_cast<int32_t>(*v);
}

// The slot of `text` in an open-addressing table of ids (linear probing, power-of-two size,
// -1 for empty), or the empty slot where it would go; text_at(id) is the text of id.
template <typename TextAt>
size_t probe(const std::vector<int32_t>& table, std::string_view text, const TextAt& text_at) {
  const size_t mask = table.size() - 1;
  size_t i = std::hash<std::string_view>{}(text) & mask;
  while (table[i] >= 0 && text_at(static_cast<size_t>(table[i])) != text) i = (i + 1) & mask;
  return i;
}

// Ids 0..n-1 by text, at most half full. A text that appears twice maps to its last id.
template <typename TextAt>
std::vector<int32_t> text_index(size_t n, const TextAt& text_at) {
  size_t capacity = 16;
  while (capacity < 2 * n) capacity *= 2;
  std::vector<int32_t> table(capacity, -1);
  for (size_t i = 0; i < n; ++i) table[probe(table, text_at(i), text_at)] = static_cast<int32_t>(i);
  return table;
}

}  // namespace

int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int v = 0;
  for (char c : text.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

Result<Vocab> Vocab::from_gguf(const gguf::File& file) {
  Vocab vocab;
  const std::optional<std::string> model = file.get_string("tokenizer.ggml.model");
  if (!model)
    return make_error(file.find("tokenizer.ggml.model") ? "tokenizer.ggml.model: expected a string"
                                                         : "missing tokenizer.ggml.model (the file has no tokenizer)");
  vocab.model = *model;

  const gguf::Array* tokens = file.get_array(kTokensKey);
  if (tokens == nullptr) return make_error("missing tokenizer.ggml.tokens (expected an array of strings)");
  if (tokens->elem_type != gguf::ValueType::STRING)
    return make_error("tokenizer.ggml.tokens: expected an array of strings");
  const size_t n = tokens->strings.size();
  if (n == 0) return make_error("tokenizer.ggml.tokens: empty vocabulary");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2))
    return make_error(format("tokenizer.ggml.tokens: %zu tokens is too many", n));

  const gguf::Array* scores = file.get_array(kScoresKey);
  if (scores != nullptr) {
    if (scores->elem_type != gguf::ValueType::FLOAT32 && scores->elem_type != gguf::ValueType::FLOAT64)
      return make_error("tokenizer.ggml.scores: expected an array of floats");
    if (scores->floats.size() != n)
      return make_error(format("tokenizer.ggml.scores: expected %zu scores (one per token), found %zu", n,
                               scores->floats.size()));
  } else if (file.find(kScoresKey) != nullptr) {
    return make_error("tokenizer.ggml.scores: expected an array of floats");
  }

  const gguf::Array* types = file.get_array(kTypesKey);
  if (types != nullptr) {
    if (!is_integer_type(types->elem_type))
      return make_error("tokenizer.ggml.token_type: expected an array of integers");
    const size_t found = types->ints.size() + types->uints.size();
    if (found != n)
      return make_error(format("tokenizer.ggml.token_type: expected %zu types (one per token), found %zu", n, found));
  } else if (file.find(kTypesKey) != nullptr) {
    return make_error("tokenizer.ggml.token_type: expected an array of integers");
  }

  // The text index is built from the file's strings on a second thread while this one copies
  // them into tokens: a quarter of a 128k vocabulary's load time, off the path to the first token.
  std::vector<int32_t> by_text;
  std::jthread indexer([&] { by_text = text_index(n, [&](size_t i) { return tokens->strings[i]; }); });
  vocab.tokens.resize(n);
  for (size_t i = 0; i < n; ++i) {
    VocabToken& t = vocab.tokens[i];
    t.text = tokens->strings[i];
    if (scores != nullptr) t.score = static_cast<float>(scores->floats[i]);
    if (types != nullptr) {
      const int64_t ty = array_int(*types, i);
      if (ty < 0 || ty > 6)
        return make_error(format("tokenizer.ggml.token_type[%zu]: expected a token type 0..6, found %lld", i,
                                 static_cast<long long>(ty)));
      // 0 is "undefined" in the format; treat it as an ordinary piece.
      t.type = ty == 0 ? TokenType::kNormal : static_cast<TokenType>(ty);
    }
    if (t.type == TokenType::kByte) {
      const int b = parse_byte_token(t.text);
      // A byte-typed token that is not <0xAB> is kept as ordinary text rather than rejected.
      if (b < 0) t.type = TokenType::kNormal;
      t.byte = static_cast<int16_t>(b);
    }
  }

  const int32_t nv = static_cast<int32_t>(n);
  const bool spm = vocab.model == "llama";
  NX_ASSIGN_OR_RETURN(vocab.bos_id, read_id(file, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, nv));
  NX_ASSIGN_OR_RETURN(vocab.eos_id, read_id(file, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, nv));
  NX_ASSIGN_OR_RETURN(vocab.unk_id, read_id(file, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, nv));
  NX_ASSIGN_OR_RETURN(vocab.pad_id, read_id(file, "tokenizer.ggml.padding_token_id", -1, nv));
  NX_ASSIGN_OR_RETURN(vocab.eot_id, read_id(file, "tokenizer.ggml.eot_token_id", -1, nv));
  NX_ASSIGN_OR_RETURN(vocab.eom_id, read_id(file, "tokenizer.ggml.eom_token_id", -1, nv));
  NX_ASSIGN_OR_RETURN(vocab.add_bos, read_flag(file, "tokenizer.ggml.add_bos_token", spm));
  NX_ASSIGN_OR_RETURN(vocab.add_eos, read_flag(file, "tokenizer.ggml.add_eos_token", false));
  NX_ASSIGN_OR_RETURN(vocab.add_space_prefix, read_flag(file, "tokenizer.ggml.add_space_prefix", spm));

  if (file.find("tokenizer.ggml.pre") != nullptr) {
    const std::optional<std::string> pre = file.get_string("tokenizer.ggml.pre");
    if (!pre) return make_error("tokenizer.ggml.pre: expected a string");
    vocab.pre = *pre;
  }
  if (file.find(kMergesKey) != nullptr) {
    const gguf::Array* merges = file.get_array(kMergesKey);
    if (merges == nullptr || merges->elem_type != gguf::ValueType::STRING)
      return make_error("tokenizer.ggml.merges: expected an array of strings");
    vocab.merges = merges->strings.to_vector();
  }

  indexer.join();
  vocab.by_text_ = std::move(by_text);
  vocab.index_bytes();

  // Phi-3's chat tokens (<|user|>, <|end|>, ...) and </s> swallow the whitespace after them.
  std::string name = file.get_string("general.name").value_or("");
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id = 0; id < vocab.size(); ++id)
      if (vocab.is_special(id)) vocab.tokens[id].rstrip = true;
    for (const char* text : {"</s>"})
      if (const int32_t id = vocab.find(text); id >= 0) vocab.tokens[id].rstrip = true;
    for (const char* text : {"<unk>", "<s>", "<|endoftext|>"})
      if (const int32_t id = vocab.find(text); id >= 0) vocab.tokens[id].rstrip = false;
  }
  return vocab;
}

void Vocab::index() {
  by_text_ = text_index(tokens.size(), [&](size_t i) -> std::string_view { return tokens[i].text; });
  index_bytes();
}

void Vocab::index_bytes() {
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    int32_t id = find(hex);
    if (id < 0) id = find(std::string(1, static_cast<char>(b)));
    if (id < 0) id = unk_id;
    byte_to_token_[b] = id;
  }
}

int32_t Vocab::find(std::string_view text) const {
  if (by_text_.empty()) return -1;
  return by_text_[probe(by_text_, text, [&](size_t i) -> std::string_view { return tokens[i].text; })];
}

bool Vocab::is_special(int32_t id) const {
  if (!valid(id)) return false;
  const TokenType t = tokens[id].type;
  return t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
}

std::vector<int32_t> Vocab::end_of_generation_ids(std::initializer_list<std::string_view> extra_texts) const {
  static constexpr std::string_view kEndOfTurnTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>",
  };
  std::vector<int32_t> ids;
  for (int32_t id : {eos_id, eot_id, eom_id})
    if (valid(id)) ids.push_back(id);
  auto add_control = [&](std::string_view text) {
    const int32_t id = find(text);
    if (id >= 0 && tokens[id].type == TokenType::kControl) ids.push_back(id);
  };
  for (std::string_view text : kEndOfTurnTexts) add_control(text);
  for (std::string_view text : extra_texts) add_control(text);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace nexus::tokenizer
