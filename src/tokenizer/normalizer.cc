#include "tokenizer/normalizer.h"

#include "tokenizer/unicode.h"

namespace nexus::tokenizer {

void Normalizer::add_prepend(std::string s) { steps_.push_back({Step::Kind::kPrepend, std::move(s), {}}); }

Status Normalizer::add_replace(std::string_view pattern, bool literal, std::string content) {
  if (pattern.empty()) return make_error("Replace: empty pattern");
  NX_ASSIGN_OR_RETURN(Regex re, Regex::compile(pattern, literal));
  steps_.push_back({Step::Kind::kReplace, std::move(content), std::move(re)});
  return Status::Ok();
}

void Normalizer::add_nfc() { steps_.push_back({Step::Kind::kNfc, {}, {}}); }

void Normalizer::add_lowercase() { steps_.push_back({Step::Kind::kLowercase, {}, {}}); }

bool Normalizer::prepends() const {
  for (const Step& s : steps_)
    if (s.kind == Step::Kind::kPrepend) return true;
  return false;
}

std::string Normalizer::run(std::string_view text) const {
  std::string s(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::Kind::kPrepend:
        if (!s.empty()) s.insert(0, step.text);
        break;
      case Step::Kind::kReplace: {
        std::string out;
        size_t pos = 0;
        for (const auto& [b, e] : step.regex.find_all(s)) {
          out.append(s, pos, b - pos);
          out += step.text;
          pos = e;
        }
        out.append(s, pos, std::string::npos);
        s = std::move(out);
        break;
      }
      case Step::Kind::kNfc:
        s = unicode::nfc(s);
        break;
      case Step::Kind::kLowercase:
        s = unicode::lowercase(s);
        break;
    }
  }
  return s;
}

}  // namespace nexus::tokenizer
