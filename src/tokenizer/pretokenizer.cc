#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/unicode.h"

namespace nexus::tokenizer {

const char* const kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

// Llama 3 (tiktoken cl100k): case-insensitive contractions, letters with one leading
// non-letter, digits in groups of up to three, punctuation runs taking trailing newlines.
constexpr const char* kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
// Qwen2: as Llama 3 but every digit alone.
constexpr const char* kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
constexpr const char* kCjkPattern = "[一-龥ࠀ-一가-퟿]+";
// DeepSeek LLM spells out its letter class instead of \p{L} (Latin, Greek, Cyrillic, Armenian,
// Georgian, Cherokee, Glagolitic, Coptic, Deseret, Osage, ... but no CJK: those have their own split).
constexpr const char* kDeepseekLlmLetters =
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-"
    "ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-"
    "ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";
constexpr const char* kDeepseekLlmPunct = "\\s?[!-/:-~！-／：-～‘-‟　-。]+";

struct Preset {
  const char* names[6];
  const char* patterns[7];
};

const Preset kPresets[] = {
    {{"gpt-2", "default", "mpt", "gpt-neox", "olmo", "jais"}, {kGpt2Pattern}},
    {{"llama-bpe", "llama3", "dbrx", "smaug-bpe"}, {kLlama3Pattern}},
    {{"qwen2", "stablelm2"}, {kQwen2Pattern}},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell"}, {"\\p{N}", kGpt2Pattern}},
    {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjkPattern, "\\p{N}"}},
    {{"deepseek-llm"}, {"[\\r\\n]", kDeepseekLlmLetters, kDeepseekLlmPunct, "\\s+$", kCjkPattern, "\\p{N}+"}},
    {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2Pattern, "[0-9][0-9][0-9]"}},
};

struct Piece {
  std::string text;
  bool at_start = false;  // begins the whole input
};

// Cuts `p` at the matches of `re`, keeping matches and gaps per `behavior`.
void split_piece(const Piece& p, const Regex& re, SplitBehavior behavior, bool invert, std::vector<Piece>& out) {
  struct Seg {
    size_t begin, end;
    bool match;
  };
  std::vector<Seg> segs;
  size_t pos = 0;
  for (const auto& [b, e] : re.find_all(p.text)) {
    if (b > pos) segs.push_back({pos, b, invert});
    segs.push_back({b, e, !invert});
    pos = e;
  }
  if (pos < p.text.size()) segs.push_back({pos, p.text.size(), invert});

  std::vector<std::pair<size_t, size_t>> ranges;
  bool prev_match = false;
  for (const Seg& s : segs) {
    switch (behavior) {
      case SplitBehavior::kIsolated:
        ranges.emplace_back(s.begin, s.end);
        break;
      case SplitBehavior::kRemoved:
        if (!s.match) ranges.emplace_back(s.begin, s.end);
        break;
      case SplitBehavior::kMergedWithPrevious:
        if (s.match && !ranges.empty() && !prev_match) ranges.back().second = s.end;
        else ranges.emplace_back(s.begin, s.end);
        break;
      case SplitBehavior::kMergedWithNext:
        if (!s.match && prev_match && !ranges.empty()) ranges.back().second = s.end;
        else ranges.emplace_back(s.begin, s.end);
        break;
      case SplitBehavior::kContiguous:
        if (s.match && prev_match && !ranges.empty()) ranges.back().second = s.end;
        else ranges.emplace_back(s.begin, s.end);
        break;
    }
    prev_match = s.match;
  }
  for (const auto& [b, e] : ranges)
    if (e > b) out.push_back({p.text.substr(b, e - b), p.at_start && b == 0});
}

}  // namespace

// ---- Regex --------------------------------------------------------------------------------

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

Result<Regex> Regex::compile(std::string_view pattern, bool literal) {
  if (pattern.size() > 64 * 1024) return make_error("regex pattern longer than 64 KiB");
  uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
  options |= literal ? PCRE2_LITERAL : PCRE2_UCP;
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &err,
                                   &err_off, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return make_error(format("bad regex at offset %zu: %s", static_cast<size_t>(err_off), reinterpret_cast<char*>(msg)));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort: without JIT it still matches
  Regex r;
  auto c = std::make_shared<Code>();
  c->code = code;
  r.code_ = std::move(c);
  return r;
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  if (!code_ || text.empty()) return out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->code, nullptr);
  if (md == nullptr) return out;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), pos, 0, md, nullptr);
    if (rc < 0) break;  // no match, or a limit hit: the rest is one gap
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      pos = e;
    } else {
      // An empty match: step over one character and look again.
      pos = b + (b < text.size() ? unicode::char_len(text, b) : 1);
    }
  }
  pcre2_match_data_free(md);
  return out;
}

// ---- PreTokenizer -------------------------------------------------------------------------

Result<PreTokenizer> PreTokenizer::for_gguf(std::string_view pre) {
  if (pre.empty()) pre = "default";
  for (const Preset& preset : kPresets) {
    for (const char* name : preset.names) {
      if (name == nullptr || pre != name) continue;
      PreTokenizer p;
      for (const char* pattern : preset.patterns) {
        if (pattern == nullptr) break;
        NX_TRY(p.add_split(pattern, false, SplitBehavior::kIsolated, false));
      }
      NX_TRY(p.add_byte_level(false, false));
      return p;
    }
  }
  return make_error(format("unsupported tokenizer.ggml.pre '%.*s' (known: gpt-2, llama-bpe, qwen2, mpt, refact, "
                           "starcoder, deepseek-coder, deepseek-llm, falcon, gpt-neox, ...)",
                           static_cast<int>(std::min<size_t>(pre.size(), 64)), pre.data()));
}

Status PreTokenizer::add_split(std::string_view pattern, bool literal, SplitBehavior behavior, bool invert) {
  Step s;
  NX_ASSIGN_OR_RETURN(s.regex, Regex::compile(pattern, literal));
  s.kind = Step::Kind::kSplit;
  s.behavior = behavior;
  s.invert = invert;
  steps_.push_back(std::move(s));
  return Status::Ok();
}

Status PreTokenizer::add_byte_level(bool add_prefix_space, bool use_regex) {
  Step s;
  s.kind = Step::Kind::kByteLevel;
  s.add_prefix_space = add_prefix_space;
  s.use_regex = use_regex;
  if (use_regex) {
    NX_ASSIGN_OR_RETURN(s.regex, Regex::compile(kGpt2Pattern));
  }
  steps_.push_back(std::move(s));
  byte_level_ = true;
  return Status::Ok();
}

Status PreTokenizer::add_metaspace(std::string replacement, PrependScheme scheme, bool split) {
  if (replacement.empty()) return make_error("Metaspace: empty replacement");
  Step s;
  s.kind = Step::Kind::kMetaspace;
  NX_ASSIGN_OR_RETURN(s.regex, Regex::compile(replacement, /*literal=*/true));
  s.replacement = std::move(replacement);
  s.scheme = scheme;
  s.split = split;
  steps_.push_back(std::move(s));
  return Status::Ok();
}

Status PreTokenizer::add_digits(bool individual) {
  return add_split(individual ? "\\p{N}" : "\\p{N}+", false, SplitBehavior::kIsolated, false);
}

std::vector<std::string> PreTokenizer::split(std::string_view text, bool at_start) const {
  std::vector<Piece> pieces{{std::string(text), at_start}};
  std::vector<Piece> next;
  for (const Step& step : steps_) {
    next.clear();
    for (Piece& p : pieces) {
      switch (step.kind) {
        case Step::Kind::kSplit:
          split_piece(p, step.regex, step.behavior, step.invert, next);
          break;
        case Step::Kind::kByteLevel: {
          if (step.add_prefix_space && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, 1, ' ');
          const size_t first = next.size();
          if (step.use_regex) split_piece(p, step.regex, SplitBehavior::kIsolated, false, next);
          else next.push_back(std::move(p));
          for (size_t i = first; i < next.size(); ++i) next[i].text = unicode::bytes_to_byte_level(next[i].text);
          break;
        }
        case Step::Kind::kMetaspace: {
          std::string t;
          t.reserve(p.text.size() + step.replacement.size());
          for (char c : p.text) {
            if (c == ' ') t += step.replacement;
            else t += c;
          }
          const bool prepend = step.scheme == PrependScheme::kAlways || (step.scheme == PrependScheme::kFirst && p.at_start);
          if (prepend && t.compare(0, step.replacement.size(), step.replacement) != 0) t.insert(0, step.replacement);
          Piece q{std::move(t), p.at_start};
          if (step.split) split_piece(q, step.regex, SplitBehavior::kMergedWithNext, false, next);
          else next.push_back(std::move(q));
          break;
        }
      }
    }
    pieces.swap(next);
  }
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (Piece& p : pieces)
    if (!p.text.empty()) out.push_back(std::move(p.text));
  return out;
}

}  // namespace nexus::tokenizer
