// UTF-8 helpers and the GPT-2 byte <-> character mapping used by byte-level BPE.
// Byte-level vocabularies spell every token with 256 printable characters, one per byte value,
// so that any byte string (including invalid UTF-8) can be written as vocabulary text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nexus::tokenizer::unicode {

// Byte length of the UTF-8 character starting at text[off]. A malformed or truncated sequence
// counts as one byte, so walking a string with this never overruns and never skips bytes.
size_t char_len(std::string_view text, size_t off);

// The code point at text[off] (advancing `off` by char_len); a malformed byte decodes as
// 0xFFFFFFFF.
uint32_t next_code_point(std::string_view text, size_t& off);

void append_utf8(std::string& out, uint32_t cp);

// GPT-2's mapping: printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for
// themselves, the other 68 bytes map to U+0100.. in byte order (so ' ' is "Ġ", '\n' is "Ċ").
std::string_view byte_to_text(uint8_t b);  // the UTF-8 of the character standing for `b`
// Inverse: the byte a character stands for, or -1 when `cp` is not one of the 256.
int byte_of_code_point(uint32_t cp);

// text -> byte-level characters, and back (characters outside the 256 are copied unchanged).
std::string bytes_to_byte_level(std::string_view text);
std::string byte_level_to_bytes(std::string_view text);

// Unicode canonical composition (NFC). Text that is already NFC comes back unchanged;
// malformed UTF-8 bytes are passed through.
std::string nfc(std::string_view text);

// Lowercasing for the common scripts (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic);
// other characters are left as they are.
std::string lowercase(std::string_view text);

}  // namespace nexus::tokenizer::unicode
