// Streaming UTF-8 validation for detokenized output: tokens are byte strings (byte-fallback
// tokens <0xE2> <0x82> <0xAC>, byte-level BPE pieces), and a character may be split over
// several of them. Utf8Stream turns such a byte stream into text that is always valid UTF-8,
// however it is cut: an incomplete sequence at the end of the bytes pushed so far is held back
// until its last byte arrives, complete characters are passed on at once.
//
// Ill-formed input (stray continuation bytes, C0/C1/F5..FF, overlong forms, surrogates,
// > U+10FFFF, a sequence cut short by a byte that cannot continue it) becomes U+FFFD, one per
// "maximal subpart" (Unicode 15 §3.9, the WHATWG decoder's practice): e.g. E2 82 41 gives
// U+FFFD 'A', and C0 80 gives two U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace nexus {

class Utf8Stream {
 public:
  // Valid UTF-8 for `bytes` plus what was held back from earlier pushes; an incomplete
  // sequence at the end (at most 3 bytes) is kept for the next push.
  std::string push(std::string_view bytes);
  // End of the stream: a sequence still incomplete becomes one U+FFFD. The stream is then empty.
  std::string finish();
  // Bytes held back (0..3).
  size_t pending() const { return pending_.size(); }

 private:
  std::string pending_;  // a valid but incomplete prefix of a multi-byte sequence
};

// The whole of `bytes` as valid UTF-8 (push + finish).
std::string sanitize_utf8(std::string_view bytes);

}  // namespace nexus
