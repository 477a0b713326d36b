#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <queue>

#include "tokenizer/decode.h"
#include "tokenizer/unicode.h"

namespace nexus::tokenizer {
namespace {

// A symbol of the piece being merged: a doubly linked list over the initial characters.
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive = true;
};

// A candidate merge of two adjacent symbols, remembered with the ids it was found for so a
// change to either side since then marks it stale.
struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t left_id;
  int32_t right_id;
};

// Lowest rank first; on equal ranks the leftmost pair.
struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

}  // namespace

// Beyond the shared end-of-turn texts, Llama 3 ends its base-model text with <|end_of_text|>.
BpeTokenizer::BpeTokenizer(Vocab vocab, BpeConfig config)
    : VocabTokenizer(std::move(vocab), {"<|end_of_text|>"}), config_(std::move(config)) {
  merges_.reserve(config_.merges.size());
  for (size_t r = 0; r < config_.merges.size(); ++r) {
    const auto& [a, b] = config_.merges[r];
    const int32_t ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
    if (ia < 0 || ib < 0 || iab < 0) continue;
    merges_.try_emplace(key(ia, ib), Merge{static_cast<int32_t>(r), iab});
  }
  config_.merges.clear();
  config_.merges.shrink_to_fit();

}

Result<std::unique_ptr<Tokenizer>> BpeTokenizer::from_vocab(Vocab vocab) {
  BpeConfig config;
  NX_ASSIGN_OR_RETURN(config.pre, PreTokenizer::for_gguf(vocab.pre));
  config.merges.reserve(vocab.merges.size());
  for (size_t i = 0; i < vocab.merges.size(); ++i) {
    const std::string& m = vocab.merges[i];
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= m.size())
      return make_error(format("tokenizer.ggml.merges[%zu]: expected \"a b\", found '%s'", i, m.substr(0, 40).c_str()));
    config.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  vocab.merges.clear();
  vocab.merges.shrink_to_fit();
  // Llama 3's reference tokenizer takes a piece whole when the vocabulary has it.
  config.ignore_merges = vocab.pre == "llama-bpe" || vocab.pre == "llama3";
  config.byte_level_decode = true;
  return std::unique_ptr<Tokenizer>(new BpeTokenizer(std::move(vocab), std::move(config)));
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos && vocab_.add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  for (const Fragment& f : splitter_.split(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    const bool at_start = f.text.data() == text.data();
    const std::string normalized = config_.normalizer.empty() ? std::string(f.text) : config_.normalizer.run(f.text);
    if (config_.pre.empty()) {
      encode_piece(normalized, out);
      continue;
    }
    for (const std::string& piece : config_.pre.split(normalized, at_start)) encode_piece(piece, out);
  }
  if (add_bos && vocab_.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
  return out;
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (config_.ignore_merges) {
    if (const int32_t id = vocab_.find(piece); id >= 0) {
      out.push_back(id);
      return;
    }
  }

  // Initial symbols: one per character; a character with no token becomes byte tokens (byte
  // fallback) or unk, and is dropped when the vocabulary has neither.
  std::vector<Symbol> sym;
  sym.reserve(piece.size());
  auto push = [&](int32_t id) {
    const int32_t i = static_cast<int32_t>(sym.size());
    sym.push_back({id, i - 1, i + 1});
  };
  for (size_t off = 0; off < piece.size();) {
    const size_t len = unicode::char_len(piece, off);
    const std::string_view ch = piece.substr(off, len);
    off += len;
    if (const int32_t id = vocab_.find(ch); id >= 0) {
      push(id);
      continue;
    }
    if (config_.byte_fallback) {
      bool all = true;
      for (char c : ch) {
        const int32_t b = vocab_.byte_token(static_cast<uint8_t>(c));
        all = all && b >= 0 && vocab_.tokens[b].type == TokenType::kByte;
      }
      if (all) {
        for (char c : ch) push(vocab_.byte_token(static_cast<uint8_t>(c)));
        continue;
      }
    }
    if (vocab_.unk_id >= 0) {
      if (config_.fuse_unk && !sym.empty() && sym.back().id == vocab_.unk_id) continue;
      push(vocab_.unk_id);
    }
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  std::priority_queue<Candidate, std::vector<Candidate>, CandidateAfter> queue;
  auto consider = [&](int32_t left) {
    if (left < 0 || sym[left].next < 0) return;
    const Symbol& l = sym[left];
    const Symbol& r = sym[l.next];
    const auto it = merges_.find(key(l.id, r.id));
    if (it != merges_.end()) queue.push({it->second.rank, left, l.id, r.id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) consider(i);

  // Each merge removes a symbol and queues at most two candidates: O(n log n) per piece.
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    if (!l.alive || l.id != c.left_id || l.next < 0 || sym[l.next].id != c.right_id) continue;  // stale
    Symbol& r = sym[l.next];
    l.id = merges_.at(key(c.left_id, c.right_id)).id;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    consider(l.prev);
    consider(c.left);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

std::string BpeTokenizer::decode_token(int32_t id, bool render_special) const {
  const NormalSpelling spelling = config_.byte_level_decode ? NormalSpelling::kByteLevel
                                  : config_.metaspace       ? NormalSpelling::kMetaspace
                                                            : NormalSpelling::kVerbatim;
  return decode_vocab_token(vocab_, id, render_special, spelling);
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  return decode_ids(*this, vocab_, ids, render_special, config_.strip_prefix_space);
}

}  // namespace nexus::tokenizer
