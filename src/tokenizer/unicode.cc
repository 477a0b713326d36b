#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <vector>

#include "tokenizer/unicode_nfc_data.h"

namespace nexus::tokenizer::unicode {
namespace {

constexpr uint32_t kInvalid = 0xFFFFFFFF;

// The GPT-2 table, built once: byte -> code point, and code point (< 512) -> byte.
struct ByteLevelTable {
  std::array<uint32_t, 256> cp{};
  std::array<std::string, 256> text;
  std::array<int16_t, 512> byte{};

  ByteLevelTable() {
    byte.fill(-1);
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      cp[b] = printable(b) ? static_cast<uint32_t>(b) : next++;
      byte[cp[b]] = static_cast<int16_t>(b);
      append_utf8(text[b], cp[b]);
    }
  }
};

const ByteLevelTable& byte_level_table() {
  static const ByteLevelTable table;
  return table;
}

// ---- NFC ----------------------------------------------------------------------------------

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint32_t combining_class(uint32_t cp) {
  const CombiningClass* end = kCombiningClasses + kCombiningClasses_size;
  const CombiningClass* it = std::lower_bound(kCombiningClasses, end, cp,
                                              [](const CombiningClass& c, uint32_t v) { return c.cp < v; });
  return it != end && it->cp == cp ? it->ccc : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out, int depth = 0) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* end = kDecompositions + kDecompositions_size;
  const Decomposition* it = std::lower_bound(kDecompositions, end, cp,
                                             [](const Decomposition& d, uint32_t v) { return d.cp < v; });
  if (it == end || it->cp != cp || depth > 8) {
    out.push_back(cp);
    return;
  }
  decompose(it->first, out, depth + 1);
  if (it->second != 0) decompose(it->second, out, depth + 1);
}

// The composite of (a, b), or kInvalid.
uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composition* end = kCompositions + kCompositions_size;
  const Composition* it = std::lower_bound(kCompositions, end, std::pair{a, b}, [](const Composition& c, std::pair<uint32_t, uint32_t> v) {
    return c.first != v.first ? c.first < v.first : c.second < v.second;
  });
  return it != end && it->first == a && it->second == b ? it->composite : kInvalid;
}

// NFC of one run of valid code points.
void nfc_run(std::vector<uint32_t>& cps, std::string& out) {
  std::vector<uint32_t> d;
  d.reserve(cps.size() * 2);
  for (uint32_t cp : cps) decompose(cp, d);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  // Canonical composition.
  std::vector<uint32_t> r;
  r.reserve(d.size());
  int64_t starter = -1;  // index in r of the last starter
  uint32_t last_ccc = 0;
  for (uint32_t cp : d) {
    const uint32_t ccc = combining_class(cp);
    if (starter >= 0) {
      const bool blocked = r.size() - 1 != static_cast<size_t>(starter) && (last_ccc == 0 || last_ccc >= ccc);
      if (!blocked) {
        const uint32_t c = compose(r[starter], cp);
        if (c != kInvalid) {
          r[starter] = c;
          continue;
        }
      }
    }
    if (ccc == 0) {
      starter = static_cast<int64_t>(r.size());
      last_ccc = 0;
    } else {
      last_ccc = ccc;
    }
    r.push_back(cp);
  }
  for (uint32_t cp : r) append_utf8(out, cp);
  cps.clear();
}

uint32_t lower_code_point(uint32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130) return 'i';
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
    if (c == 0x178) return 0xFF;
    if (c == 0x138 || c == 0x149 || c == 0x17F) return c;
    return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;  // Greek capitals
  if (c >= 0x410 && c <= 0x42F) return c + 32;                 // Cyrillic capitals
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

}  // namespace

size_t char_len(std::string_view text, size_t off) {
  const uint8_t c = static_cast<uint8_t>(text[off]);
  size_t len;
  uint32_t min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
  else return 1;
  if (off + len > text.size()) return 1;
  uint32_t cp = c & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) {
    const uint8_t cc = static_cast<uint8_t>(text[off + i]);
    if ((cc & 0xC0) != 0x80) return 1;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 1;
  return len;
}

uint32_t next_code_point(std::string_view text, size_t& off) {
  const size_t len = char_len(text, off);
  const uint8_t c = static_cast<uint8_t>(text[off]);
  if (len == 1) {
    ++off;
    return c < 0x80 ? c : kInvalid;
  }
  uint32_t cp = c & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<uint8_t>(text[off + i]) & 0x3F);
  off += len;
  return cp;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string_view byte_to_text(uint8_t b) { return byte_level_table().text[b]; }

int byte_of_code_point(uint32_t cp) { return cp < 512 ? byte_level_table().byte[cp] : -1; }

std::string bytes_to_byte_level(std::string_view text) {
  const ByteLevelTable& t = byte_level_table();
  std::string out;
  out.reserve(text.size() * 2);
  for (char c : text) out += t.text[static_cast<uint8_t>(c)];
  return out;
}

std::string byte_level_to_bytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t start = off;
    const uint32_t cp = next_code_point(text, off);
    const int b = cp == kInvalid ? -1 : byte_of_code_point(cp);
    if (b >= 0) out += static_cast<char>(b);
    else out.append(text.substr(start, off - start));
  }
  return out;
}

std::string nfc(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; }))
    return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::vector<uint32_t> run;
  for (size_t off = 0; off < text.size();) {
    const size_t start = off;
    const uint32_t cp = next_code_point(text, off);
    if (cp == kInvalid) {
      nfc_run(run, out);
      out.append(text.substr(start, off - start));
    } else {
      run.push_back(cp);
    }
  }
  nfc_run(run, out);
  return out;
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t start = off;
    const uint32_t cp = next_code_point(text, off);
    if (cp == kInvalid) out.append(text.substr(start, off - start));
    else append_utf8(out, lower_code_point(cp));
  }
  return out;
}

}  // namespace nexus::tokenizer::unicode
