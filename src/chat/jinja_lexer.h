// Jinja template source -> tokens, with the whitespace rules transformers renders chat
// templates under: trim_blocks=True (drop the first newline after a block or comment tag),
// lstrip_blocks=True (drop spaces and tabs before a block or comment tag that starts a line),
// the explicit `-`/`+` modifiers on tags, and keep_trailing_newline=False.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/result.h"

namespace nexus::jinja {

enum class Tok {
  Text,        // template data between tags (already whitespace-trimmed)
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,      // text holds the unescaped value
  Int,
  Float,
  Op,          // punctuation / operator, text holds it
  Eof,
};

struct Token {
  Tok kind;
  std::string text;
  int64_t ival = 0;
  double fval = 0;
  size_t pos = 0;  // byte offset in the normalized source
};

// The source after newline normalization (\r\n and \r become \n) and removal of one trailing
// newline; token offsets refer to it.
std::string normalize_source(std::string_view source);

// Maps a byte offset of the normalized source to "line L, column C" (1-based).
std::string describe_pos(std::string_view normalized_source, size_t pos);

// Tokenizes the normalized source. Errors read "chat template: <what> at line L, column C".
Result<std::vector<Token>> tokenize(std::string_view normalized_source);

}  // namespace nexus::jinja
