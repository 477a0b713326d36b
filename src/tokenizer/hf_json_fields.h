// Small readers for fields of Hugging Face tokenizer files (tokenizer.json,
// tokenizer_config.json, special_tokens_map.json), shared by the two users of those files:
// hf_json (builds a Tokenizer) and gguf/hf_tokenizer (writes GGUF metadata for `nexus convert`).
// Every reader checks the JSON shape, so untrusted files give nullopt or an error, never a throw.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nexus/result.h"

namespace nexus::tokenizer {

// The string field `key` of object `j`; nullopt when `j` is no object or the field is no string.
std::optional<std::string> json_string(const nlohmann::json& j, const char* key);

// A special-token field ("bos_token", ...): either "text" or {"content": "text"}.
std::optional<std::string> json_token_text(const nlohmann::json& j, const char* key);

// model.merges of tokenizer.json: "a b" strings (older files) or ["a", "b"] pairs (newer ones),
// highest priority first. Empty when absent or null.
Result<std::vector<std::pair<std::string, std::string>>> json_merges(const nlohmann::json& model);

}  // namespace nexus::tokenizer
