#include "decode/text_stream.h"

#include <algorithm>

namespace nexus {

namespace {

// Length of the longest suffix of `s` that is a proper prefix of some stop string: text
// that may turn out to be the start of a stop string, so it is not streamed yet.
size_t stop_prefix_tail(std::string_view s, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const std::string& stop : stops) {
    for (size_t len = std::min(s.size(), stop.size() - 1); len > best; --len) {
      if (s.substr(s.size() - len) == std::string_view(stop).substr(0, len)) {
        best = len;
        break;
      }
    }
  }
  return best;
}

}  // namespace

TextStream::TextStream(std::vector<std::string> stops) {
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

bool TextStream::append(std::string_view valid) {
  // A stop string may straddle the previous piece: search from where it could begin.
  const size_t search_from = text_.size();
  text_ += valid;
  size_t stop_at = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t from = search_from >= s.size() - 1 ? search_from - (s.size() - 1) : 0;
    const size_t at = text_.find(s, std::max(from, streamed_));
    if (at != std::string::npos) stop_at = std::min(stop_at, at);
  }
  if (stop_at == std::string::npos) return false;
  text_.resize(stop_at);
  return true;
}

std::string TextStream::take(size_t end) {
  std::string out = text_.substr(streamed_, end - streamed_);
  streamed_ = end;
  return out;
}

std::string TextStream::push(std::string_view token_bytes) {
  if (stopped_) return {};
  if (append(utf8_.push(token_bytes))) {
    stopped_ = true;
    return take(text_.size());
  }
  const size_t hold = stop_prefix_tail(std::string_view(text_).substr(streamed_), stops_);
  return take(text_.size() - hold);
}

std::string TextStream::finish() {
  if (!stopped_ && append(utf8_.finish())) stopped_ = true;
  return take(text_.size());
}

}  // namespace nexus
