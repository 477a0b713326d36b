// Reading the conformance vectors in shared/tokenizer-tests (format: shared/README.md) and
// printing test strings in failure messages. Header-only, for the tokenizer tests.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/result.h"

namespace nexus::test {

inline std::string read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Printable form of a test string.
inline std::string escaped(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20 || c == 0x7f) out += format("\\x%02x", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

inline std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return s;
}

// The .inp format: each test string is followed by "\n__ggml_vocab_test__\n", so strings may
// themselves be empty or consist of newlines.
inline std::vector<std::string> split_vocab_inputs(const std::string& text) {
  static const std::string kSep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t hit; (hit = text.find(kSep, pos)) != std::string::npos; pos = hit + kSep.size())
    out.push_back(text.substr(pos, hit - pos));
  return out;
}

// The .out format: one line of space-separated ids per test string.
inline std::vector<std::vector<int32_t>> parse_vocab_outputs(const std::string& text) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    for (int32_t id; ids >> id;) v.push_back(id);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace nexus::test
