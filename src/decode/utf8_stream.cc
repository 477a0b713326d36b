#include "decode/utf8_stream.h"

namespace nexus {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the sequence a lead byte starts (0: the byte cannot start one) and the range the
// second byte must fall in; the narrower ranges exclude overlong forms (E0, F0), surrogates
// (ED) and code points above U+10FFFF (F4).
struct Lead {
  int len;
  unsigned char lo, hi;
};

Lead lead_of(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};  // continuation byte, C0, C1, F5..FF
}

// Whether `b` may follow the bytes of `seq` (a valid incomplete prefix, lead byte first).
bool continues(std::string_view seq, unsigned char b) {
  if (seq.size() == 1) {
    const Lead l = lead_of(static_cast<unsigned char>(seq[0]));
    return b >= l.lo && b <= l.hi;
  }
  return b >= 0x80 && b <= 0xBF;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 3);
  for (size_t i = 0; i < bytes.size();) {
    const unsigned char b = static_cast<unsigned char>(bytes[i]);
    if (!pending_.empty()) {
      if (!continues(pending_, b)) {
        // The maximal subpart so far is one replacement; `b` is looked at again as a new start.
        out += kReplacement;
        pending_.clear();
        continue;
      }
      pending_ += static_cast<char>(b);
      ++i;
      if (static_cast<int>(pending_.size()) == lead_of(static_cast<unsigned char>(pending_[0])).len) {
        out += pending_;
        pending_.clear();
      }
      continue;
    }
    const Lead l = lead_of(b);
    if (l.len == 1) {
      out += static_cast<char>(b);
    } else if (l.len == 0) {
      out += kReplacement;
    } else {
      pending_ += static_cast<char>(b);
    }
    ++i;
  }
  return out;
}

std::string Utf8Stream::finish() {
  if (pending_.empty()) return {};
  pending_.clear();
  return std::string(kReplacement);
}

std::string sanitize_utf8(std::string_view bytes) {
  Utf8Stream s;
  std::string out = s.push(bytes);
  out += s.finish();
  return out;
}

}  // namespace nexus
