#include "tokenizer/hf_json.h"

#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/hf_json_fields.h"

namespace nexus::tokenizer {
namespace {

using json = nlohmann::json;

// Larger than any vocabulary in use (~262k) and small enough to allocate without worry.
constexpr int64_t kMaxVocab = 1 << 20;
constexpr int kMaxDepth = 16;  // nesting of Sequence steps

constexpr std::string_view kSpace = "\xE2\x96\x81";

bool flag(const json& j, const char* key, bool fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// A {"String": s} or {"Regex": r} pattern: (text, literal).
Result<std::pair<std::string, bool>> pattern_of(const json& step, const char* where) {
  auto it = step.find("pattern");
  if (it == step.end() || !it->is_object()) return make_error(format("tokenizer.json: %s without a pattern", where));
  if (auto s = json_string(*it, "String")) return std::pair{*s, true};
  if (auto r = json_string(*it, "Regex")) return std::pair{*r, false};
  return make_error(format("tokenizer.json: %s pattern is neither String nor Regex", where));
}

Status add_normalizer(const json& n, Normalizer& out, int depth) {
  if (n.is_null()) return Status::Ok();
  if (depth > kMaxDepth) return make_error("tokenizer.json: normalizers nested too deeply");
  const std::string type = json_string(n, "type").value_or("");
  if (type == "Sequence") {
    auto it = n.find("normalizers");
    if (it == n.end() || !it->is_array()) return make_error("tokenizer.json: Sequence normalizer without a normalizers array");
    for (const json& s : *it) NX_TRY(add_normalizer(s, out, depth + 1));
    return Status::Ok();
  }
  if (type == "Prepend") {
    auto p = json_string(n, "prepend");
    if (!p) return make_error("tokenizer.json: Prepend normalizer without a prepend string");
    out.add_prepend(*p);
    return Status::Ok();
  }
  if (type == "Replace") {
    NX_ASSIGN_OR_RETURN(auto pat, pattern_of(n, "Replace normalizer"));
    auto content = json_string(n, "content");
    if (!content) return make_error("tokenizer.json: Replace normalizer without content");
    if (Status s = out.add_replace(pat.first, pat.second, *content); !s.ok())
      return make_error("tokenizer.json: Replace normalizer: " + s.error().message);
    return Status::Ok();
  }
  if (type == "NFC") {
    out.add_nfc();
    return Status::Ok();
  }
  if (type == "Lowercase") {
    out.add_lowercase();
    return Status::Ok();
  }
  return make_error(format("tokenizer.json: normalizer '%s' is not supported (supported: Sequence, Prepend, Replace, "
                           "NFC, Lowercase)", type.substr(0, 40).c_str()));
}

Result<SplitBehavior> behavior_of(const json& step) {
  const std::string b = json_string(step, "behavior").value_or("Isolated");
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return make_error("tokenizer.json: unknown split behavior '" + b.substr(0, 40) + "'");
}

struct PreInfo {
  bool metaspace = false;         // a Metaspace step ("▁" for spaces)
  bool metaspace_prepend = false; // ... that puts one in front
};

Status add_pre_tokenizer(const json& p, PreTokenizer& out, PreInfo& info, int depth) {
  if (p.is_null()) return Status::Ok();
  if (depth > kMaxDepth) return make_error("tokenizer.json: pre-tokenizers nested too deeply");
  const std::string type = json_string(p, "type").value_or("");
  auto wrap = [&](Status s) -> Status {
    if (s.ok()) return s;
    return make_error("tokenizer.json: " + type + " pre-tokenizer: " + s.error().message);
  };
  if (type == "Sequence") {
    auto it = p.find("pretokenizers");
    if (it == p.end() || !it->is_array()) return make_error("tokenizer.json: Sequence pre-tokenizer without a pretokenizers array");
    for (const json& s : *it) NX_TRY(add_pre_tokenizer(s, out, info, depth + 1));
    return Status::Ok();
  }
  if (type == "Split") {
    NX_ASSIGN_OR_RETURN(auto pat, pattern_of(p, "Split pre-tokenizer"));
    NX_ASSIGN_OR_RETURN(SplitBehavior b, behavior_of(p));
    return wrap(out.add_split(pat.first, pat.second, b, flag(p, "invert", false)));
  }
  if (type == "ByteLevel") return wrap(out.add_byte_level(flag(p, "add_prefix_space", false), flag(p, "use_regex", true)));
  if (type == "Metaspace") {
    const std::string rep = json_string(p, "replacement").value_or(std::string(kSpace));
    PrependScheme scheme = flag(p, "add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
    if (auto s = json_string(p, "prepend_scheme")) {
      if (*s == "always") scheme = PrependScheme::kAlways;
      else if (*s == "first") scheme = PrependScheme::kFirst;
      else if (*s == "never") scheme = PrependScheme::kNever;
      else return make_error("tokenizer.json: Metaspace prepend_scheme '" + s->substr(0, 40) + "' is not always/first/never");
    }
    info.metaspace = true;
    info.metaspace_prepend = scheme != PrependScheme::kNever;
    return wrap(out.add_metaspace(rep, scheme, flag(p, "split", true)));
  }
  if (type == "Digits") return wrap(out.add_digits(flag(p, "individual_digits", false)));
  if (type == "Whitespace") return wrap(out.add_split("\\w+|[^\\w\\s]+", false, SplitBehavior::kIsolated, false));
  if (type == "WhitespaceSplit") return wrap(out.add_split("\\s+", false, SplitBehavior::kRemoved, false));
  if (type == "Punctuation") {
    NX_ASSIGN_OR_RETURN(SplitBehavior b, behavior_of(p));
    return wrap(out.add_split("[\\p{P}!-/:-@\\[-`{-~]", false, b, false));
  }
  return make_error(format("tokenizer.json: pre-tokenizer '%s' is not supported (supported: Sequence, Split, ByteLevel, "
                           "Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation)", type.substr(0, 40).c_str()));
}

Result<std::unique_ptr<Tokenizer>> load(const json& root, const json& config) {
  if (!root.is_object()) return make_error("tokenizer.json: not a JSON object");
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) return make_error("tokenizer.json: missing object 'model'");
  const json& model = *model_it;
  const std::string type = json_string(model, "type").value_or("BPE");
  if (type != "BPE") return make_error("tokenizer.json: model type '" + type.substr(0, 40) + "' is not supported (only BPE)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (auto s = json_string(model, key); s && !s->empty())
      return make_error(format("tokenizer.json: BPE with %s is not supported", key));
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) return make_error("tokenizer.json: missing object model.vocab");

  // Ids: the vocabulary plus added tokens; the largest fixes the size, gaps become unused.
  int64_t max_id = -1;
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    if (!it->is_number_integer()) return make_error("tokenizer.json: vocab['" + it.key().substr(0, 40) + "'] is not an integer id");
    const int64_t id = it->get<int64_t>();
    if (id < 0 || id >= kMaxVocab) return make_error(format("tokenizer.json: vocab id %lld out of range", static_cast<long long>(id)));
    max_id = std::max(max_id, id);
  }
  const json no_added = json::array();
  auto added_it = root.find("added_tokens");
  const json& added = added_it == root.end() || added_it->is_null() ? no_added : *added_it;
  if (!added.is_array()) return make_error("tokenizer.json: added_tokens is not an array");
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !json_string(a, "content"))
      return make_error("tokenizer.json: added_tokens entry without integer 'id' and string 'content'");
    const int64_t id = a["id"].get<int64_t>();
    if (id < 0 || id >= kMaxVocab) return make_error(format("tokenizer.json: added token id %lld out of range", static_cast<long long>(id)));
    max_id = std::max(max_id, id);
  }
  if (max_id < 0) return make_error("tokenizer.json: empty vocabulary");

  const bool byte_fallback = flag(model, "byte_fallback", false);
  Vocab vocab;
  vocab.model = "bpe";
  vocab.add_bos = false;
  vocab.add_space_prefix = false;
  vocab.tokens.resize(static_cast<size_t>(max_id) + 1);
  std::vector<bool> present(vocab.tokens.size(), false);
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    VocabToken& t = vocab.tokens[it->get<int64_t>()];
    t.text = it.key();
    present[it->get<int64_t>()] = true;
    if (byte_fallback) {
      if (const int b = parse_byte_token(t.text); b >= 0) {
        t.type = TokenType::kByte;
        t.byte = static_cast<int16_t>(b);
      }
    }
  }
  for (const json& a : added) {
    const int64_t id = a["id"].get<int64_t>();
    VocabToken& t = vocab.tokens[id];
    t.text = a["content"].get<std::string>();
    t.type = flag(a, "special", false) ? TokenType::kControl : TokenType::kUserDefined;
    t.byte = -1;
    t.lstrip = flag(a, "lstrip", false);
    t.rstrip = flag(a, "rstrip", false);
    present[id] = true;
  }
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    if (present[i]) continue;
    vocab.tokens[i].text = format("[PAD%zu]", i);
    vocab.tokens[i].type = TokenType::kUnused;
  }
  vocab.index();
  if (auto unk = json_string(model, "unk_token")) {
    vocab.unk_id = vocab.find(*unk);
    if (vocab.unk_id >= 0 && vocab.tokens[vocab.unk_id].type == TokenType::kNormal) vocab.tokens[vocab.unk_id].type = TokenType::kUnknown;
    vocab.index();  // byte tokens missing from the vocabulary now fall back to unk
  }

  BpeConfig cfg;
  NX_ASSIGN_OR_RETURN(cfg.merges, json_merges(model));
  cfg.byte_fallback = byte_fallback;
  cfg.fuse_unk = flag(model, "fuse_unk", false);
  cfg.ignore_merges = flag(model, "ignore_merges", false);
  NX_TRY(add_normalizer(root.value("normalizer", json()), cfg.normalizer, 0));
  PreInfo info;
  NX_TRY(add_pre_tokenizer(root.value("pre_tokenizer", json()), cfg.pre, info, 0));

  // The decoder follows from the encoding: byte-level text back to bytes, or "▁" back to spaces
  // with the prefix space taken off.
  const std::string decoder = root.contains("decoder") ? root["decoder"].dump() : "";
  const std::string normalizer = root.contains("normalizer") ? root["normalizer"].dump() : "";
  cfg.byte_level_decode = cfg.pre.byte_level() || decoder.find("\"ByteLevel\"") != std::string::npos;
  cfg.metaspace = !cfg.byte_level_decode &&
                  (info.metaspace || normalizer.find(kSpace) != std::string::npos || decoder.find(kSpace) != std::string::npos);
  cfg.strip_prefix_space = cfg.metaspace && (info.metaspace_prepend || cfg.normalizer.prepends());

  // BOS/EOS: the post-processor's template (special token before / after the text), then
  // tokenizer_config.json.
  const json& post = root.value("post_processor", json());
  if (json_string(post, "type").value_or("") == "TemplateProcessing" && post.contains("single") && post["single"].is_array() &&
      !post["single"].empty()) {
    const json& single = post["single"];
    auto special_id = [&](const json& item) -> int32_t {
      if (!item.is_object() || !item.contains("SpecialToken")) return -1;
      auto text = json_string(item["SpecialToken"], "id");
      return text ? vocab.find(*text) : -1;
    };
    if (const int32_t id = special_id(single.front()); id >= 0) vocab.bos_id = id, vocab.add_bos = true;
    if (single.size() > 1)
      if (const int32_t id = special_id(single.back()); id >= 0) vocab.eos_id = id, vocab.add_eos = true;
  }
  if (auto t = json_token_text(config, "bos_token")) {
    if (const int32_t id = vocab.find(*t); id >= 0) vocab.bos_id = id;
  }
  if (auto t = json_token_text(config, "eos_token")) {
    if (const int32_t id = vocab.find(*t); id >= 0) vocab.eos_id = id;
  }
  vocab.add_bos = flag(config, "add_bos_token", vocab.add_bos) && vocab.bos_id >= 0;
  vocab.add_eos = flag(config, "add_eos_token", vocab.add_eos) && vocab.eos_id >= 0;
  if (vocab.eos_id < 0) {
    for (const char* text : {"</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "<|end_story|>"}) {
      const int32_t id = vocab.find(text);
      if (id >= 0 && vocab.tokens[id].type == TokenType::kControl) {
        vocab.eos_id = id;
        break;
      }
    }
  }
  return std::unique_ptr<Tokenizer>(new BpeTokenizer(std::move(vocab), std::move(cfg)));
}

// Deepest bracket nesting outside strings: bounds the recursion in json's dump and destructor.
int nesting_depth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> load_hf_json(std::string_view tokenizer_json, std::string_view config_json) {
  if (nesting_depth(tokenizer_json) > 64 || nesting_depth(config_json) > 64)
    return make_error("tokenizer.json: JSON nested more than 64 levels deep");
  const json root = json::parse(tokenizer_json.begin(), tokenizer_json.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return make_error("tokenizer.json: not valid JSON");
  json config;
  if (!config_json.empty()) {
    config = json::parse(config_json.begin(), config_json.end(), nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) return make_error("tokenizer_config.json: not valid JSON");
  }
  try {
    return load(root, config);
  } catch (const std::exception& e) {
    // A shape the checks above missed: one line, never an abort.
    return make_error(std::string("tokenizer.json: ") + e.what());
  }
}

}  // namespace nexus::tokenizer
