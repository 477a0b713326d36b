#include "chat/jinja_lexer.h"

#include <cstring>

#include "chat/jinja_value.h"

namespace nexus::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  Result<std::vector<Token>> run() {
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string_view::npos) {
        emit_text(std::string(src_.substr(pos_)), pos_);
        break;
      }
      char type = src_[tag + 1];
      size_t after = tag + 2;
      char sign = 0;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      std::string text(src_.substr(pos_, tag - pos_));
      strip_before_tag(text, sign, type != '{');
      emit_text(std::move(text), pos_);
      pos_ = after;
      if (type == '#') {
        NX_TRY(skip_comment(tag));
      } else if (type == '%' && raw_begin(after)) {
        NX_TRY(lex_raw(tag));
      } else {
        NX_TRY(lex_tag(tag, type == '%'));
      }
    }
    tokens_.push_back(Token{Tok::Eof, "", 0, 0, src_.size()});
    return std::move(tokens_);
  }

 private:
  Error error_at(size_t pos, const std::string& what) const {
    return make_error("chat template: " + what + " at " + describe_pos(src_, pos));
  }

  size_t find_tag(size_t from) const {
    for (size_t t = src_.find('{', from); t != std::string_view::npos; t = src_.find('{', t + 1)) {
      if (t + 1 < src_.size() && (src_[t + 1] == '{' || src_[t + 1] == '%' || src_[t + 1] == '#')) return t;
    }
    return std::string_view::npos;
  }

  // `{%-` strips all whitespace before the tag; lstrip_blocks strips spaces and tabs between
  // the start of the line and a block or comment tag, unless the tag says `{%+`.
  void strip_before_tag(std::string& text, char sign, bool lstrip_applies) const {
    if (sign == '-') {
      size_t e = text.size();
      while (e > 0 && is_ws(text[e - 1])) --e;
      text.resize(e);
    } else if (sign != '+' && lstrip_applies) {
      size_t nl = text.rfind('\n');
      size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        bool all_ws = l_pos < text.size();
        for (size_t i = l_pos; i < text.size(); ++i)
          if (!is_ws(text[i])) all_ws = false;
        if (all_ws) text.resize(l_pos);
      }
    }
  }

  void emit_text(std::string text, size_t pos) {
    if (!text.empty()) tokens_.push_back(Token{Tok::Text, std::move(text), 0, 0, pos});
  }

  // After a closing `%}` or `#}`: trim_blocks eats one newline; `-%}` eats all whitespace.
  void after_tag_end(char sign, bool trim_newline) {
    if (sign == '-') {
      while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
    } else if (sign != '+' && trim_newline && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  Status skip_comment(size_t tag) {
    size_t q = src_.find("#}", pos_);
    if (q == std::string_view::npos) return error_at(tag, "missing end of comment tag");
    char sign = 0;
    if (q > pos_ && (src_[q - 1] == '-' || src_[q - 1] == '+')) sign = src_[q - 1];
    pos_ = q + 2;
    after_tag_end(sign, true);
    return {};
  }

  // `{% raw %}` (after the tag start and its sign, at `p`)?
  bool raw_begin(size_t p) const {
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.substr(p, 3) != "raw" || (p + 3 < src_.size() && is_name_char(src_[p + 3]))) return false;
    return true;
  }

  Status lex_raw(size_t tag) {
    while (src_[pos_] != 'r') ++pos_;
    pos_ += 3;
    while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
    if (src_.substr(pos_, 3) == "-%}") {
      pos_ += 3;
      while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
    } else if (src_.substr(pos_, 2) == "%}") {
      pos_ += 2;
    } else {
      return error_at(pos_, "expected '%}' after 'raw'");
    }
    // Find `{%[-+]? endraw [-+]?%}`.
    for (size_t t = src_.find("{%", pos_); t != std::string_view::npos; t = src_.find("{%", t + 1)) {
      size_t p = t + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      while (p < src_.size() && is_ws(src_[p])) ++p;
      if (src_.substr(p, 6) != "endraw") continue;
      p += 6;
      while (p < src_.size() && is_ws(src_[p])) ++p;
      char end_sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) end_sign = src_[p++];
      if (src_.substr(p, 2) != "%}") continue;
      std::string body(src_.substr(pos_, t - pos_));
      line_starting_ = false;
      strip_before_tag(body, sign, true);
      emit_text(std::move(body), pos_);
      pos_ = p + 2;
      after_tag_end(end_sign, true);
      return {};
    }
    return error_at(tag, "missing end of raw directive");
  }

  Status lex_tag(size_t tag, bool block) {
    tokens_.push_back(Token{block ? Tok::BlockBegin : Tok::VarBegin, block ? "{%" : "{{", 0, 0, tag});
    std::string balance;
    for (;;) {
      if (pos_ >= src_.size())
        return error_at(tag, block ? "unexpected end of template, expected '%}'"
                                   : "unexpected end of template, expected '}}'");
      if (balance.empty()) {
        std::string_view rest = src_.substr(pos_);
        const char* end = block ? "%}" : "}}";
        char sign = 0;
        size_t len = 0;
        if (rest.size() >= 3 && (rest[0] == '-' || (block && rest[0] == '+')) && rest.substr(1, 2) == end) {
          sign = rest[0];
          len = 3;
        } else if (rest.substr(0, 2) == end) {
          len = 2;
        }
        if (len) {
          tokens_.push_back(Token{block ? Tok::BlockEnd : Tok::VarEnd, end, 0, 0, pos_});
          pos_ += len;
          after_tag_end(sign, block);
          return {};
        }
      }
      char c = src_[pos_];
      if (is_ws(c)) {
        ++pos_;
        continue;
      }
      size_t start = pos_;
      if (is_digit(c)) {
        NX_TRY(lex_number());
      } else if (is_name_start(c)) {
        while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
        tokens_.push_back(Token{Tok::Name, std::string(src_.substr(start, pos_ - start)), 0, 0, start});
      } else if (c == '\'' || c == '"') {
        NX_TRY(lex_string());
      } else {
        std::string_view two = src_.substr(pos_, 2);
        std::string op;
        if (two == "//" || two == "**" || two == "==" || two == "!=" || two == ">=" || two == "<=")
          op = std::string(two);
        if (op.empty()) {
          if (!std::strchr("+-/*%~[](){}><=.:|,;", c) || c == 0)
            return error_at(pos_, format("unexpected character '%c'", c));
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") {
          if (balance.size() > 256) return error_at(pos_, "brackets nested too deeply");
          balance += op == "(" ? ')' : op == "[" ? ']' : '}';
        } else if (op == ")" || op == "]" || op == "}") {
          if (balance.empty()) return error_at(pos_, "unexpected '" + op + "'");
          if (balance.back() != op[0])
            return error_at(pos_, "unexpected '" + op + "', expected '" + std::string(1, balance.back()) + "'");
          balance.pop_back();
        }
        pos_ += op.size();
        tokens_.push_back(Token{Tok::Op, op, 0, 0, start});
      }
    }
  }

  // Digits with optional '_' separators.
  std::string digits() {
    std::string d;
    while (pos_ < src_.size() && (is_digit(src_[pos_]) || (src_[pos_] == '_' && pos_ + 1 < src_.size() &&
                                                            is_digit(src_[pos_ + 1]) && !d.empty()))) {
      if (src_[pos_] != '_') d += src_[pos_];
      ++pos_;
    }
    return d;
  }

  Status lex_number() {
    size_t start = pos_;
    bool after_dot = start > 0 && src_[start - 1] == '.';
    std::string text = digits();
    bool is_float = false;
    if (!after_dot) {
      size_t save = pos_;
      if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
        ++pos_;
        text += '.';
        text += digits();
        is_float = true;
        save = pos_;
      }
      if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
        size_t p = pos_ + 1;
        std::string exp = "e";
        if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) exp += src_[p++];
        if (p < src_.size() && is_digit(src_[p])) {
          pos_ = p;
          text += exp;
          text += digits();
          is_float = true;
        } else {
          pos_ = save;
        }
      }
    }
    Token t{is_float ? Tok::Float : Tok::Int, text, 0, 0, start};
    if (is_float) {
      t.fval = std::strtod(text.c_str(), nullptr);
    } else {
      if (text.size() > 18) return error_at(start, "integer literal too large");
      t.ival = std::stoll(text);
    }
    tokens_.push_back(std::move(t));
    return {};
  }

  Status lex_string() {
    size_t start = pos_;
    char q = src_[pos_++];
    std::string out;
    for (;;) {
      if (pos_ >= src_.size()) return error_at(start, "unterminated string literal");
      char c = src_[pos_++];
      if (c == q) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= src_.size()) return error_at(start, "unterminated string literal");
      char e = src_[pos_++];
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
          int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            int h = pos_ < src_.size() ? hex_value(src_[pos_]) : -1;
            if (h < 0) return error_at(pos_ - 2 - static_cast<size_t>(k), format("truncated \\%c escape", e));
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++pos_;
          }
          if (cp > 0x10ffff) return error_at(pos_, "illegal Unicode character in escape");
          utf8_append(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k)
              cp = cp * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
            utf8_append(out, cp);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    tokens_.push_back(Token{Tok::String, std::move(out), 0, 0, start});
    return {};
  }

  std::string_view src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string describe_pos(std::string_view src, size_t pos) {
  if (pos > src.size()) pos = src.size();
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < pos; ++i) {
    if (src[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return format("line %zu, column %zu", line, pos - line_start + 1);
}

Result<std::vector<Token>> tokenize(std::string_view normalized_source) {
  return Lexer(normalized_source).run();
}

}  // namespace nexus::jinja
