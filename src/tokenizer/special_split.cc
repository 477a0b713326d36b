#include "tokenizer/special_split.h"

#include <algorithm>

namespace nexus::tokenizer {
namespace {

// The C locale's isspace, without the locale.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

SpecialSplitter::SpecialSplitter(const Vocab& vocab) : vocab_(vocab) {
  for (int32_t id = 0; id < vocab.size(); ++id)
    if (vocab.is_special(id) && !vocab.tokens[id].text.empty()) specials_.push_back(id);
  std::sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
    const size_t la = vocab.tokens[a].text.size(), lb = vocab.tokens[b].text.size();
    return la != lb ? la > lb : a < b;
  });
}

std::vector<Fragment> SpecialSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, text});
  std::vector<Fragment> next;
  for (int32_t id : specials_) {
    if (!parse_special && vocab_.tokens[id].type != TokenType::kUserDefined) continue;
    const VocabToken& tok = vocab_.tokens[id];
    const std::string_view needle = tok.text;
    next.clear();
    bool changed = false;
    for (const Fragment& f : frags) {
      if (f.token >= 0 || f.text.size() < needle.size()) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t pos; (pos = rest.find(needle)) != std::string_view::npos;) {
        std::string_view left = rest.substr(0, pos);
        if (tok.lstrip)
          while (!left.empty() && is_space(left.back())) left.remove_suffix(1);
        if (!left.empty()) next.push_back({-1, left});
        next.push_back({id, rest.substr(pos, needle.size())});
        rest.remove_prefix(pos + needle.size());
        if (tok.rstrip)
          while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
        changed = true;
      }
      if (!rest.empty()) next.push_back({-1, rest});
    }
    if (changed) frags.swap(next);
  }
  return frags;
}

}  // namespace nexus::tokenizer
