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
// DeepSeek LLM spells out its letter class instead of \p{L}: the cased letters (Latin, Greek,
// Cyrillic, Armenian, Georgian, Cherokee, Glagolitic, Coptic, Deseret, Osage, ...), no CJK (those
// have their own split). Written as code points: several of them (U+1F7D, U+2126, U+212A, ...) are
// NFC singletons that an editor or copy would silently turn into other characters.
constexpr const char* kDeepseekLlmLetters =
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}"
    "\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
    "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}"
    "\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}"
    "\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}"
    "\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"
    "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}"
    "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+";
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

// Backtracking budget per match: ample for the tokenizer patterns in use (they barely
// backtrack), and it keeps a hostile pattern from tokenizer.json from stalling encode.
constexpr uint32_t kMatchLimit = 1'000'000;

struct Regex::Code {
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;  // only read while matching
  ~Code() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
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
  c->context = pcre2_match_context_create(nullptr);
  if (c->context != nullptr) pcre2_set_match_limit(c->context, kMatchLimit);
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
    const int rc = pcre2_match(code_->code, subject, text.size(), pos, 0, md, code_->context);
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
