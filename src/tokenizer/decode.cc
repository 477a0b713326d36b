#include "tokenizer/decode.h"

#include "tokenizer/unicode.h"

namespace nexus::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

}  // namespace

std::string replace_metaspace(std::string_view text) {
  std::string s;
  s.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpace.size(), kSpace) == 0) {
      s += ' ';
      i += kSpace.size();
    } else {
      s += text[i++];
    }
  }
  return s;
}

std::string decode_vocab_token(const Vocab& vocab, int32_t id, bool render_special, NormalSpelling spelling) {
  if (!vocab.valid(id)) return {};
  const VocabToken& t = vocab.tokens[id];
  switch (t.type) {
    case TokenType::kNormal:
      switch (spelling) {
        case NormalSpelling::kVerbatim: return t.text;
        case NormalSpelling::kMetaspace: return replace_metaspace(t.text);
        case NormalSpelling::kByteLevel: return unicode::byte_level_to_bytes(t.text);
      }
      return t.text;
    case TokenType::kByte:
      return std::string(1, static_cast<char>(t.byte));
    case TokenType::kUserDefined:
      return t.text;
    case TokenType::kControl:
    case TokenType::kUnknown:
    case TokenType::kUnused:
      return render_special ? t.text : std::string();
  }
  return {};
}

std::string decode_ids(const Tokenizer& tok, const Vocab& vocab, std::span<const int32_t> ids, bool render_special,
                       bool strip_prefix_space) {
  std::string out;
  bool strip = strip_prefix_space;  // the next text token carries encode()'s prefix
  for (int32_t id : ids) {
    std::string piece = tok.decode_token(id, render_special);
    if (vocab.is_special(id)) {
      strip = strip_prefix_space;
    } else {
      if (strip && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
      strip = false;
    }
    out += piece;
  }
  return out;
}

}  // namespace nexus::tokenizer
