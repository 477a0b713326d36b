#include "gguf/hf_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "tokenizer/hf_json_fields.h"
#include "tokenizer/vocab.h"

namespace nexus::hf {
namespace {

using json = nlohmann::json;

// tokenizer.ggml.token_type values (SentencePiece piece types).
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

// Vocabularies larger than this are not real tokenizers (largest in use: ~260k).
constexpr int64_t kMaxVocab = 1 << 22;

// Parses an optional JSON file; missing file -> null json, bad JSON -> error.
Result<json> read_json(const std::string& path) {
  std::optional<std::string> text = read_text_file(path);
  if (!text) return json();
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(path + ": not valid JSON");
  return j;
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<float> scores;
  std::vector<bool> present;
  std::unordered_map<std::string, int32_t> ids;

  int32_t find(const std::string& s) const {
    auto it = ids.find(s);
    return it == ids.end() ? -1 : it->second;
  }
};

Status set_token(Vocab& v, const std::string& text, int64_t id, const char* where) {
  if (id < 0 || id >= static_cast<int64_t>(v.tokens.size()))
    return make_error(format("tokenizer.json: %s token '%s' has id %lld outside 0..%zu", where,
                             text.substr(0, 40).c_str(), static_cast<long long>(id), v.tokens.size() - 1));
  v.tokens[id] = text;
  v.present[id] = true;
  v.ids[text] = static_cast<int32_t>(id);
  return Status::Ok();
}

void write_synthetic(const HfConfig& config, int64_t n_vocab, gguf::Writer& w) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  const char* specials[] = {"<unk>", "<s>", "</s>"};
  const int32_t special_types[] = {kUnknown, kControl, kControl};
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (i < 3) {
      tokens.push_back(specials[i]);
      types.push_back(special_types[i]);
    } else if (i < 3 + 256) {
      tokens.push_back(format("<0x%02X>", static_cast<unsigned>(i - 3)));
      types.push_back(kByte);
    } else {
      tokens.push_back(format("[PAD%lld]", static_cast<long long>(i)));
      types.push_back(kUnused);
    }
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_strings("tokenizer.ggml.tokens", std::move(tokens));
  w.set_f32s("tokenizer.ggml.scores", std::vector<float>(n_vocab, 0.0f));
  w.set_i32s("tokenizer.ggml.token_type", std::move(types));
  const auto in_range = [&](int64_t id, int64_t def) { return id >= 0 && id < n_vocab ? id : def; };
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  if (n_vocab > 2) {
    w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(in_range(config.bos_id, 1)));
    w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(in_range(config.eos_id, 2)));
  }
}

Status write_from_json(const json& tok, const json& tok_config, const json& special_map, const HfConfig& config,
                       int64_t n_vocab, gguf::Writer& w, const LogFn& log) {
  if (!tok.is_object()) return make_error("tokenizer.json: not a JSON object");
  auto model_it = tok.find("model");
  if (model_it == tok.end() || !model_it->is_object()) return make_error("tokenizer.json: missing object 'model'");
  const json& model = *model_it;
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") return make_error("tokenizer.json: model type '" + type + "' is not supported (only BPE)");
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) return make_error("tokenizer.json: missing object model.vocab");

  // Size: the largest id in the vocabulary or added tokens, padded to the embedding rows.
  int64_t max_id = -1;
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    if (!it->is_number_integer()) return make_error("tokenizer.json: vocab['" + it.key().substr(0, 40) + "'] is not an integer id");
    max_id = std::max<int64_t>(max_id, it->get<int64_t>());
  }
  const json added = tok.value("added_tokens", json::array());
  if (!added.is_array()) return make_error("tokenizer.json: added_tokens is not an array");
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
        !a["content"].is_string())
      return make_error("tokenizer.json: added_tokens entry without integer 'id' and string 'content'");
    max_id = std::max<int64_t>(max_id, a["id"].get<int64_t>());
  }
  if (max_id + 1 > n_vocab)
    return make_error(format("tokenizer.json has token id %lld but the embedding has only %lld rows",
                             static_cast<long long>(max_id), static_cast<long long>(n_vocab)));
  if (n_vocab > kMaxVocab) return make_error(format("vocabulary of %lld tokens is too large", static_cast<long long>(n_vocab)));

  Vocab v;
  v.tokens.resize(n_vocab);
  v.types.assign(n_vocab, kNormal);
  v.scores.assign(n_vocab, 0.0f);
  v.present.assign(n_vocab, false);
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) NX_TRY(set_token(v, it.key(), it->get<int64_t>(), "vocab"));
  const std::string unk = model.contains("unk_token") && model["unk_token"].is_string() ? model["unk_token"].get<std::string>() : "";
  for (const json& a : added) {
    const int64_t id = a["id"].get<int64_t>();
    NX_TRY(set_token(v, a["content"].get<std::string>(), id, "added"));
    v.types[id] = a.value("special", false) ? kControl : kUserDefined;
  }
  int64_t padded = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (v.present[i]) continue;
    v.tokens[i] = format("[PAD%lld]", static_cast<long long>(i));
    v.types[i] = kUnused;
    ++padded;
  }
  if (padded > 0) log(format("tokenizer: %lld unused ids padded with [PAD<id>] tokens", static_cast<long long>(padded)));
  if (!unk.empty()) {
    if (int32_t id = v.find(unk); id >= 0) v.types[id] = kUnknown;
  }

  NX_ASSIGN_OR_RETURN(auto merges, tokenizer::json_merges(model));
  const std::string pre_dump = tok.contains("pre_tokenizer") ? tok["pre_tokenizer"].dump() : "";
  const std::string dec_dump = tok.contains("decoder") ? tok["decoder"].dump() : "";
  const std::string norm_dump = tok.contains("normalizer") ? tok["normalizer"].dump() : "";
  const bool byte_level = pre_dump.find("\"ByteLevel\"") != std::string::npos ||
                          dec_dump.find("\"ByteLevel\"") != std::string::npos;
  const bool byte_fallback = model.value("byte_fallback", false);
  const bool spm_like = !byte_level && (byte_fallback || dec_dump.find("\xE2\x96\x81") != std::string::npos ||
                                        norm_dump.find("\xE2\x96\x81") != std::string::npos);
  if (!byte_level && !spm_like)
    return make_error("tokenizer.json: BPE without ByteLevel or \"\xE2\x96\x81\" handling is not supported");

  // Special ids: tokenizer_config.json, then special_tokens_map.json, then config.json.
  auto special_id = [&](const char* key, int64_t fallback) -> int64_t {
    for (const json* j : {&tok_config, &special_map}) {
      if (std::optional<std::string> t = tokenizer::json_token_text(*j, key)) {
        if (int32_t id = v.find(*t); id >= 0) return id;
      }
    }
    return fallback >= 0 && fallback < n_vocab ? fallback : -1;
  };
  const int64_t bos = special_id("bos_token", config.bos_id);
  const int64_t eos = special_id("eos_token", config.eos_id);
  const int64_t pad = special_id("pad_token", -1);
  const int64_t unk_id = unk.empty() ? -1 : v.find(unk);

  bool add_bos = spm_like;
  if (tok_config.is_object() && tok_config.contains("add_bos_token") && tok_config["add_bos_token"].is_boolean()) {
    add_bos = tok_config["add_bos_token"].get<bool>();
  } else if (bos >= 0 && tok.contains("post_processor")) {
    // Llama 3 style: the template processor inserts BOS although tokenizer_config does not say.
    const std::string pp = tok["post_processor"].dump();
    add_bos = pp.find(json(v.tokens[bos]).dump()) != std::string::npos;
  }
  // Llama 3 checkpoints whose files do not say either way: its tokenizer always starts with BOS.
  if (!add_bos && byte_level && config.arch == Arch::kLlama && bos >= 0 &&
      !(tok_config.is_object() && tok_config.contains("add_bos_token")))
    add_bos = true;

  if (spm_like) {
    // Rank r merge forms token a+b: score -(r+1); keep the earliest rank. Other tokens keep 0
    // (single characters: the SPM algorithm starts from them and never forms them by merging).
    int64_t ranked = 0;
    for (size_t r = 0; r < merges.size(); ++r) {
      const int32_t id = v.find(merges[r].first + merges[r].second);
      if (id < 0 || v.scores[id] != 0.0f) continue;
      v.scores[id] = -static_cast<float>(r + 1);
      ++ranked;
    }
    for (int64_t i = 0; i < n_vocab; ++i)
      if (v.types[i] == kNormal && tokenizer::parse_byte_token(v.tokens[i]) >= 0) v.types[i] = kByte;
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_strings("tokenizer.ggml.tokens", v.tokens);
    w.set_f32s("tokenizer.ggml.scores", v.scores);
    w.set_i32s("tokenizer.ggml.token_type", v.types);
    const bool prepend = norm_dump.find("\"Prepend\"") != std::string::npos ||
                         pre_dump.find("\"prepend_scheme\":\"always\"") != std::string::npos;
    w.set_bool("tokenizer.ggml.add_space_prefix", prepend);
    log(format("tokenizer: SentencePiece-style BPE, %lld tokens, %lld ranked by merge order%s",
               static_cast<long long>(n_vocab), static_cast<long long>(ranked), byte_fallback ? ", byte fallback" : ""));
  } else {
    std::vector<std::string> merge_strings;
    merge_strings.reserve(merges.size());
    for (const auto& [a, b] : merges) merge_strings.push_back(a + " " + b);
    std::string pre = "default";
    if (config.arch == Arch::kQwen2 || config.arch == Arch::kQwen3) pre = "qwen2";
    else if (config.arch == Arch::kLlama) pre = "llama-bpe";
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", pre);
    w.set_strings("tokenizer.ggml.tokens", v.tokens);
    w.set_i32s("tokenizer.ggml.token_type", v.types);
    w.set_strings("tokenizer.ggml.merges", std::move(merge_strings));
    log(format("tokenizer: byte-level BPE (pre '%s'), %lld tokens, %zu merges", pre.c_str(),
               static_cast<long long>(n_vocab), merges.size()));
  }
  if (bos >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  if (eos >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  if (unk_id >= 0) w.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(unk_id));
  if (pad >= 0) w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(pad));
  w.set_bool("tokenizer.ggml.add_bos_token", add_bos);
  return Status::Ok();
}

}  // namespace

Status write_tokenizer(const std::string& hf_dir, const HfConfig& config, int64_t n_vocab, gguf::Writer& w,
                       const LogFn& log_fn) {
  const LogFn log = log_fn ? log_fn : [](const std::string&) {};
  const std::string path = hf_dir + "/tokenizer.json";
  if (!std::filesystem::exists(path)) {
    log(format("tokenizer: no tokenizer.json in '%s'; writing a synthetic %lld-token vocabulary "
               "(<unk>, <s>, </s>, byte tokens, fillers)", hf_dir.c_str(), static_cast<long long>(n_vocab)));
    write_synthetic(config, n_vocab, w);
    return Status::Ok();
  }
  try {
    NX_ASSIGN_OR_RETURN(json tok, read_json(path));
    NX_ASSIGN_OR_RETURN(json tok_config, read_json(hf_dir + "/tokenizer_config.json"));
    NX_ASSIGN_OR_RETURN(json special_map, read_json(hf_dir + "/special_tokens_map.json"));
    return write_from_json(tok, tok_config, special_map, config, n_vocab, w, log);
  } catch (const std::exception& e) {
    // Type errors from nlohmann accessors on unexpected shapes: one line, never an abort.
    return make_error(std::string("tokenizer.json: ") + e.what());
  }
}

}  // namespace nexus::hf
