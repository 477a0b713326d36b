#include "tokenizer/hf_json_fields.h"

namespace nexus::tokenizer {

using json = nlohmann::json;

std::optional<std::string> json_string(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<std::string> json_token_text(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  return json_string(*it, "content");
}

Result<std::vector<std::pair<std::string, std::string>>> json_merges(const json& model) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!model.is_object()) return out;
  auto it = model.find("merges");
  if (it == model.end() || it->is_null()) return out;
  if (!it->is_array()) return make_error("tokenizer.json: model.merges is not an array");
  out.reserve(it->size());
  for (const json& m : *it) {
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos || sp + 1 >= s.size())
        return make_error("tokenizer.json: merge '" + s.substr(0, 40) + "' is not \"a b\"");
      out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return make_error("tokenizer.json: model.merges entry is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  return out;
}

}  // namespace nexus::tokenizer
