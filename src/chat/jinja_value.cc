#include "chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace nexus::jinja {

Value Value::undefined(std::string name) {
  Value v;
  if (!name.empty()) v.s_ = std::make_shared<const std::string>(std::move(name));
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}
Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::List;
  uint32_t d = 0;
  for (const Value& x : items) d = std::max(d, x.depth_);
  v.depth_ = d + 1;
  v.list_ = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.tuple_ = true;
  return v;
}

Value Value::dict(DictEntries entries) {
  Value v;
  v.kind_ = Kind::Dict;
  uint32_t d = 0;
  for (const auto& [k, x] : entries) d = std::max(d, x.depth_);
  v.depth_ = d + 1;
  v.dict_ = std::make_shared<DictEntries>(std::move(entries));
  return v;
}
Value Value::ns(DictEntries entries) {
  Value v = dict(std::move(entries));
  v.kind_ = Kind::Namespace;
  v.depth_ = 1;
  return v;
}
Value Value::callable(std::string name, NativeFn fn) {
  Value v;
  v.kind_ = Kind::Callable;
  v.fn_ = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

const std::string& Value::undefined_name() const {
  static const std::string kEmpty;
  return s_ ? *s_ : kEmpty;
}

const Value* Value::find(const Value& key) const {
  if (!has_entries()) return nullptr;
  for (const auto& [k, v] : *dict_)
    if (values_equal(k, key)) return &v;
  return nullptr;
}

const Value* Value::find(std::string_view key) const {
  if (!has_entries()) return nullptr;
  for (const auto& [k, v] : *dict_)
    if (k.is_string() && k.as_string() == key) return &v;
  return nullptr;
}

void Value::set(Value key, Value v) const {
  if (!has_entries()) return;
  for (auto& [k, old] : *dict_) {
    if (values_equal(k, key)) {
      old = std::move(v);
      return;
    }
  }
  dict_->emplace_back(std::move(key), std::move(v));
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return b_;
    case Kind::Int: return i_ != 0;
    case Kind::Float: return f_ != 0;
    case Kind::String: return !s_->empty();
    case Kind::List: return !list_->empty();
    case Kind::Dict: return !dict_->empty();
    case Kind::Namespace:
    case Kind::Callable: return true;
  }
  return false;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Callable: return "function";
  }
  return "?";
}

std::string python_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  // Shortest round-trip digits in scientific form: "-d.ddde[+-]XX".
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, end);
  std::string out;
  size_t p = 0;
  if (sci[0] == '-') {
    out = "-";
    p = 1;
  }
  size_t e = sci.find('e');
  std::string digits;
  for (size_t i = p; i < e; ++i)
    if (sci[i] != '.') digits += sci[i];
  int exp = std::atoi(sci.c_str() + e + 1);
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      std::string ip, fp;
      for (size_t i = 0; i < digits.size(); ++i) (static_cast<int>(i) <= exp ? ip : fp) += digits[i];
      while (static_cast<int>(ip.size()) <= exp) ip += '0';
      out += ip + "." + (fp.empty() ? "0" : fp);
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += eb;
  }
  return out;
}

static void repr_string(std::string& out, const std::string& s) {
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  out += q;
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof(b), "\\x%02x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += q;
}

static void repr_into(std::string& out, const Value& v, int depth);

static void str_into(std::string& out, const Value& v, int depth) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return;
    case Value::Kind::None: out += "None"; return;
    case Value::Kind::Bool: out += v.as_bool() ? "True" : "False"; return;
    case Value::Kind::Int: out += std::to_string(v.as_int()); return;
    case Value::Kind::Float: out += python_float_repr(v.as_double()); return;
    case Value::Kind::String: out += v.as_string(); return;
    default: repr_into(out, v, depth); return;
  }
}

static void repr_into(std::string& out, const Value& v, int depth) {
  // Self-referencing containers cannot be built by templates, but bound the depth anyway.
  if (depth > 64) {
    out += "...";
    return;
  }
  switch (v.kind()) {
    case Value::Kind::String: repr_string(out, v.as_string()); return;
    case Value::Kind::List: {
      out += v.is_tuple() ? '(' : '[';
      bool first = true;
      for (const Value& x : v.as_list()) {
        if (!first) out += ", ";
        first = false;
        repr_into(out, x, depth + 1);
      }
      if (v.is_tuple() && v.as_list().size() == 1) out += ',';
      out += v.is_tuple() ? ')' : ']';
      return;
    }
    case Value::Kind::Dict: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.entries()) {
        if (!first) out += ", ";
        first = false;
        repr_into(out, k, depth + 1);
        out += ": ";
        repr_into(out, x, depth + 1);
      }
      out += '}';
      return;
    }
    case Value::Kind::Namespace: out += "<Namespace>"; return;
    case Value::Kind::Callable: out += "<function " + v.as_callable().name + ">"; return;
    default: str_into(out, v, depth); return;
  }
}

std::string Value::str() const {
  std::string out;
  str_into(out, *this, 0);
  return out;
}

std::string Value::repr() const {
  std::string out;
  repr_into(out, *this, 0);
  return out;
}

const Value* CallArgs::get(size_t i, std::string_view name) const {
  if (i < args.size()) return &args[i];
  for (const auto& [k, v] : kwargs)
    if (k == name) return &v;
  return nullptr;
}

bool values_equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::Undefined:
    case K::None: return true;
    case K::String: return a.as_string() == b.as_string();
    case K::List: {
      if (a.is_tuple() != b.is_tuple()) return false;
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!values_equal(x[i], y[i])) return false;
      return true;
    }
    case K::Dict: {
      if (a.entries().size() != b.entries().size()) return false;
      for (const auto& [k, v] : a.entries()) {
        const Value* o = b.find(k);
        if (!o || !values_equal(v, *o)) return false;
      }
      return true;
    }
    case K::Namespace: return &a.entries() == &b.entries();
    case K::Callable: return &a.as_callable() == &b.as_callable();
    default: return false;
  }
}

static void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof(b), "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

static Status json_into(std::string& out, const Value& v, int indent, int depth) {
  if (depth > 128) return make_error("tojson: value nested too deeply");
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * static_cast<size_t>(d), ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.kind()) {
    case Value::Kind::None: out += "null"; return {};
    case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return {};
    case Value::Kind::Int: out += std::to_string(v.as_int()); return {};
    case Value::Kind::Float: {
      double f = v.as_double();
      if (std::isnan(f)) out += "NaN";
      else if (std::isinf(f)) out += f < 0 ? "-Infinity" : "Infinity";
      else out += python_float_repr(f);
      return {};
    }
    case Value::Kind::String: json_string(out, v.as_string()); return {};
    case Value::Kind::List: {
      if (v.as_list().empty()) {
        out += "[]";
        return {};
      }
      out += '[';
      bool first = true;
      for (const Value& x : v.as_list()) {
        if (!first) out += item_sep;
        first = false;
        newline(depth + 1);
        NX_TRY(json_into(out, x, indent, depth + 1));
      }
      newline(depth);
      out += ']';
      return {};
    }
    case Value::Kind::Dict: {
      if (v.entries().empty()) {
        out += "{}";
        return {};
      }
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.entries()) {
        if (!first) out += item_sep;
        first = false;
        newline(depth + 1);
        // json.dumps turns scalar keys into strings.
        if (k.is_string()) json_string(out, k.as_string());
        else if (k.is_bool() || k.is_none() || k.is_int() || k.is_float()) {
          std::string ks;
          NX_TRY(json_into(ks, k, -1, depth + 1));
          json_string(out, ks);
        } else {
          return make_error(format("tojson: keys must be str, int, float, bool or None, not %s", k.type_name()));
        }
        out += ": ";
        NX_TRY(json_into(out, x, indent, depth + 1));
      }
      newline(depth);
      out += '}';
      return {};
    }
    default:
      return make_error(format("tojson: object of type %s is not JSON serializable", v.type_name()));
  }
}

Result<std::string> to_json(const Value& v, int indent) {
  std::string out;
  NX_TRY(json_into(out, v, indent, 0));
  return out;
}

Value from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > 64) return Value::none();
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      for (const auto& x : j) items.push_back(from_json(x, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      DictEntries e;
      for (const auto& [k, x] : j.items()) e.emplace_back(Value::string(k), from_json(x, depth + 1));
      return Value::dict(std::move(e));
    }
    default: return Value::none();
  }
}

std::vector<uint32_t> utf8_decode(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + static_cast<size_t>(len) > s.size()) {
      // Invalid byte: keep it as a code point of its own so nothing is lost.
      out.push_back(c);
      ++i;
      continue;
    }
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc >> 6) != 2) ok = false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (!ok) {
      out.push_back(c);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | ((cp >> 18) & 0x07));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

std::string utf8_encode(const std::vector<uint32_t>& cps, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end && i < cps.size(); ++i) utf8_append(out, cps[i]);
  return out;
}

bool is_py_space(uint32_t cp) {
  // str.isspace(): ASCII whitespace, the information separators, and Unicode spaces.
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000;
}

}  // namespace nexus::jinja
