// Generated token bytes -> the text a client may be shown so far: valid UTF-8 (a character
// split over tokens is passed on once whole), cut at the first stop string, and holding back
// any tail that could still turn out to be the start of a stop string. Used by generate() and
// the server's scheduler, so both stop and stream alike.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "decode/utf8_stream.h"

namespace nexus {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops);

  // Adds one token's bytes; returns the text that can now be passed on (possibly empty).
  // After a stop string is found, stopped() is true, the text ends just before it, and later
  // pushes return nothing.
  std::string push(std::string_view token_bytes);
  // End of generation: the rest, held-back text included (a character still incomplete
  // becomes U+FFFD, which may complete a stop string).
  std::string finish();

  bool stopped() const { return stopped_; }
  const std::string& text() const { return text_; }  // everything so far, stop string cut off

 private:
  // Appends valid text and cuts it at a stop string; true when one was found.
  bool append(std::string_view valid);
  std::string take(size_t end);  // text_[streamed_, end), marking it passed on

  std::vector<std::string> stops_;
  Utf8Stream utf8_;
  std::string text_;
  size_t streamed_ = 0;  // bytes of text_ already returned
  bool stopped_ = false;
};

}  // namespace nexus
