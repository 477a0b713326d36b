#include "tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <queue>

#include "tokenizer/decode.h"

namespace nexus::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// Byte length of the UTF-8 character at text[off]. A lead byte whose continuation bytes are
// missing or malformed, a stray continuation byte (10xxxxxx) and an invalid lead byte each
// count as a one-byte character, which byte fallback then encodes as <0xAB>. (The reference
// implementation takes the length from the lead byte alone, so an invalid byte there can
// swallow the next character, e.g. the "▁" of a following space; on valid UTF-8 the two agree.)
size_t utf8_char_len(std::string_view text, size_t off) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  const size_t len = kLen[static_cast<uint8_t>(text[off]) >> 4];
  if (len == 1 || off + len > text.size()) return 1;
  for (size_t i = 1; i < len; ++i)
    if ((static_cast<uint8_t>(text[off + i]) & 0xC0) != 0x80) return 1;
  return len;
}

// Spaces -> "▁", with one "▁" in front when `prefix`.
std::string normalize(std::string_view text, bool prefix) {
  std::string out;
  out.reserve(text.size() + 3 * 4);
  if (prefix) out += kSpace;
  for (char c : text) {
    if (c == ' ') out += kSpace;
    else out += c;
  }
  return out;
}

// A piece of the text being merged: a doubly linked list over the initial characters. A
// piece that has been merged into its left neighbour keeps len == 0.
struct Symbol {
  size_t offset = 0;
  size_t len = 0;
  int64_t prev = -1;
  int64_t next = -1;
};

// A candidate merge of two adjacent pieces whose concatenation is a vocabulary token.
struct Bigram {
  float score = 0.0f;
  int64_t left = 0;
  int64_t right = 0;
  size_t len = 0;  // bytes of the concatenation when queued; a mismatch later means stale
};

// Highest score first; on equal scores the leftmost pair.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab) : VocabTokenizer(std::move(vocab)) {}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos && vocab_.add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  // SentencePiece puts "▁" in front of the input; after a special token the following text
  // starts afresh, so it gets one too.
  bool after_special = true;
  for (const Fragment& f : splitter_.split(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    encode_normalized(normalize(f.text, vocab_.add_space_prefix && after_special), out);
    after_special = false;
  }
  if (add_bos && vocab_.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
  return out;
}

void SpmTokenizer::encode_normalized(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<Symbol> sym;
  sym.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t len = utf8_char_len(text, off);
    const int64_t i = static_cast<int64_t>(sym.size());
    sym.push_back({off, len, i - 1, i + 1});
    off += len;
  }
  sym.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue;
  auto try_add = [&](int64_t left, int64_t right) {
    if (left < 0 || right < 0) return;
    const size_t len = sym[left].len + sym[right].len;
    const int32_t id = vocab_.find(text.substr(sym[left].offset, len));
    if (id < 0) return;
    queue.push({vocab_.tokens[id].score, left, right, len});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int64_t>(i - 1), static_cast<int64_t>(i));

  // Each merge removes one piece, so this runs at most sym.size() times plus stale entries:
  // O(n log n) in the text length.
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  // Every merged piece is a token; a single character may not be, and falls back to bytes.
  for (int64_t i = 0; i >= 0; i = sym[i].next) {
    const std::string_view piece = text.substr(sym[i].offset, sym[i].len);
    const int32_t id = vocab_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const int32_t bt = vocab_.byte_token(static_cast<uint8_t>(c));
      if (bt >= 0) out.push_back(bt);  // a vocabulary with neither byte tokens nor unk drops it
    }
  }
}

std::string SpmTokenizer::decode_token(int32_t id, bool render_special) const {
  return decode_vocab_token(vocab_, id, render_special, NormalSpelling::kMetaspace);
}

std::string SpmTokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  return decode_ids(*this, vocab_, ids, render_special, vocab_.add_space_prefix);
}

}  // namespace nexus::tokenizer
