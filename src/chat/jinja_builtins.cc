#include "chat/jinja_builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace nexus::jinja {
namespace {

// ---- string helpers (Python semantics, code points; case mapping is ASCII-only) ----

std::string ascii_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string ascii_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
bool is_alpha_byte(unsigned char c) { return std::isalpha(c) || c >= 0x80; }

std::string py_capitalize(const std::string& s) {
  std::string out = ascii_lower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// str.title(): a letter after a non-letter is upper-cased, other letters lower-cased.
std::string py_title(const std::string& s) {
  std::string out = s;
  bool prev_alpha = false;
  for (char& c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) c = static_cast<char>(prev_alpha ? std::tolower(u) : std::toupper(u));
    prev_alpha = is_alpha_byte(u);
  }
  return out;
}

// Jinja's title filter: capitalize each piece after a run of `-`, whitespace or `({[<`.
std::string jinja_title(const std::string& s) {
  std::string out;
  bool at_start = true;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    bool sep = std::isspace(u) || std::strchr("-({[<", c) != nullptr;
    if (sep) {
      out += c;
      at_start = true;
    } else {
      out += static_cast<char>(at_start ? std::toupper(u) : std::tolower(u));
      at_start = false;
    }
  }
  return out;
}

std::string py_strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::vector<uint32_t> cps = utf8_decode(s);
  std::vector<uint32_t> set;
  bool ws = !chars || chars->is_none() || chars->is_undefined();
  if (!ws) set = utf8_decode(chars->str());
  auto strip_it = [&](uint32_t cp) {
    return ws ? is_py_space(cp) : std::find(set.begin(), set.end(), cp) != set.end();
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  return utf8_encode(cps, b, e);
}

Result<Value> py_split(const std::string& s, const Value* sep, const Value* maxsplit_v, Budget& budget) {
  int64_t maxsplit = -1;
  if (maxsplit_v && !maxsplit_v->is_none()) {
    if (!maxsplit_v->is_int()) return make_error("maxsplit must be an integer");
    maxsplit = maxsplit_v->as_int();
  }
  NX_TRY(budget.charge(s.size()));
  List out;
  if (!sep || sep->is_none()) {
    std::vector<uint32_t> cps = utf8_decode(s);
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && is_py_space(cps[i])) ++i;
      if (i >= cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        size_t e = cps.size();
        while (e > i && is_py_space(cps[e - 1])) --e;
        out.push_back(Value::string(utf8_encode(cps, i, e)));
        break;
      }
      size_t j = i;
      while (j < cps.size() && !is_py_space(cps[j])) ++j;
      out.push_back(Value::string(utf8_encode(cps, i, j)));
      i = j;
    }
    NX_TRY(budget.charge(out.size() * kElementCost));
    return Value::list(std::move(out));
  }
  if (!sep->is_string()) return make_error(format("must be str or None, not %s", sep->type_name()));
  const std::string& d = sep->as_string();
  if (d.empty()) return make_error("empty separator");
  size_t start = 0;
  for (;;) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) break;
    size_t p = s.find(d, start);
    if (p == std::string::npos) break;
    out.push_back(Value::string(s.substr(start, p - start)));
    start = p + d.size();
  }
  out.push_back(Value::string(s.substr(start)));
  NX_TRY(budget.charge(out.size() * kElementCost));
  return Value::list(std::move(out));
}

Result<std::string> py_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count,
                               Budget& budget) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` between every code point (and at both ends).
    std::vector<uint32_t> cps = utf8_decode(s);
    NX_TRY(budget.charge(s.size() + to.size() * (cps.size() + 1)));
    int64_t n = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      if (i < cps.size()) utf8_append(out, cps[i]);
    }
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  for (;;) {
    size_t p = (count >= 0 && n >= count) ? std::string::npos : s.find(from, start);
    if (p == std::string::npos) {
      out.append(s, start, std::string::npos);
      break;
    }
    out.append(s, start, p - start);
    out += to;
    NX_TRY(budget.charge(to.size() + (p - start)));
    start = p + from.size();
    ++n;
  }
  NX_TRY(budget.charge(out.size()));
  return out;
}

// Jinja's attribute getter: "a.b.0" looks up item a, then b, then index 0.
Value get_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur.has_entries()) {
      const Value* x = cur.find(part);
      cur = x ? *x : Value::undefined(part);
    } else if (cur.is_list() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      size_t i = static_cast<size_t>(std::strtoull(part.c_str(), nullptr, 10));
      cur = i < cur.as_list().size() ? cur.as_list()[i] : Value::undefined(part);
    } else {
      return Value::undefined(part);
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Result<int64_t> parse_py_int(std::string s, int base) {
  s = py_strip(s, nullptr, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return make_error("invalid literal for int()");
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, base);
  if (errno != 0 || end != s.c_str() + s.size()) return make_error("invalid literal for int()");
  return static_cast<int64_t>(v);
}

Result<double> parse_py_float(const std::string& in) {
  std::string s = py_strip(in, nullptr, true, true);
  if (s.empty()) return make_error("could not convert string to float");
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return make_error("could not convert string to float");
  return v;
}

int64_t length_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::String: return static_cast<int64_t>(utf8_decode(v.as_string()).size());
    case Value::Kind::List: return static_cast<int64_t>(v.as_list().size());
    case Value::Kind::Dict:
    case Value::Kind::Namespace: return static_cast<int64_t>(v.entries().size());
    default: return -1;
  }
}

// Orders two values for sort(); strings compare case-insensitively unless asked not to.
Result<bool> less_than(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_number() && b.is_number()) return a.as_double() < b.as_double();
  if (a.is_string() && b.is_string()) {
    if (case_sensitive) return a.as_string() < b.as_string();
    return ascii_lower(a.as_string()) < ascii_lower(b.as_string());
  }
  return make_error(format("'<' not supported between instances of '%s' and '%s'", a.type_name(), b.type_name()));
}

// Filters that take no argument beyond the value.
const char* const kFilters[] = {"trim",   "length",  "count",   "tojson", "upper",     "lower",  "title",
                                "capitalize", "first", "last",  "default", "d",        "join",   "replace",
                                "string", "int",     "float",   "list",   "items",     "selectattr",
                                "rejectattr", "select", "reject", "map",   "safe",      "escape", "e",
                                "abs",    "reverse", "sort",    "sum",    "indent",    "unique", "dictsort",
                                "wordcount"};
const char* const kTests[] = {"defined", "undefined", "none",    "string", "mapping", "iterable", "sequence",
                              "number",  "integer",   "float",   "boolean", "true",   "false",    "callable",
                              "odd",     "even",      "divisibleby", "eq",  "equalto", "==",      "ne",
                              "!=",      "lt",        "<",       "lessthan", "gt",    ">",        "greaterthan",
                              "le",      "<=",        "ge",      ">=",      "in",     "sameas",   "lower",
                              "upper"};

}  // namespace

Result<List> to_list(const Value& v, Budget& budget) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return List{};
    case Value::Kind::List: return v.as_list();
    case Value::Kind::Dict: {
      List keys;
      for (const auto& [k, x] : v.entries()) keys.push_back(k);
      return keys;
    }
    case Value::Kind::String: {
      NX_TRY(budget.charge(v.as_string().size() * kElementCost));
      List chars;
      for (uint32_t cp : utf8_decode(v.as_string())) {
        std::string s;
        utf8_append(s, cp);
        chars.push_back(Value::string(std::move(s)));
      }
      return chars;
    }
    default: return make_error(format("'%s' object is not iterable", v.type_name()));
  }
}

bool has_filter(std::string_view name) {
  for (const char* f : kFilters)
    if (name == f) return true;
  return false;
}

bool has_test(std::string_view name) {
  for (const char* t : kTests)
    if (name == t) return true;
  return false;
}

Result<bool> apply_test(std::string_view name, const Value& v, const CallArgs& args) {
  const Value* arg = args.get(0, "value");
  auto need_arg = [&]() -> Status {
    if (!arg) return make_error("expects an argument");
    return {};
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "callable") return v.is_callable();
  if (name == "lower" || name == "upper") {
    std::string s = v.str();
    bool cased = false;
    for (unsigned char c : s) {
      if (std::isalpha(c)) {
        cased = true;
        if (name == "lower" ? std::isupper(c) : std::islower(c)) return false;
      }
    }
    return cased;
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int() && !v.is_bool()) return make_error(format("expects an integer, got %s", v.type_name()));
    if (name == "odd") return v.as_int() % 2 != 0;
    if (name == "even") return v.as_int() % 2 == 0;
    NX_TRY(need_arg());
    if (!arg->is_int() || arg->as_int() == 0) return make_error("divisibleby expects a non-zero integer");
    if (arg->as_int() == -1) return true;
    return v.as_int() % arg->as_int() == 0;
  }
  if (name == "sameas") {
    NX_TRY(need_arg());
    if (v.kind() != arg->kind()) return false;
    if (v.is_list()) return &v.as_list() == &arg->as_list();
    if (v.has_entries()) return &v.entries() == &arg->entries();
    return values_equal(v, *arg);
  }
  if (name == "in") {
    NX_TRY(need_arg());
    if (arg->is_string()) return v.is_string() && arg->as_string().find(v.as_string()) != std::string::npos;
    if (arg->is_list()) {
      for (const Value& x : arg->as_list())
        if (values_equal(x, v)) return true;
      return false;
    }
    if (arg->is_dict()) return arg->find(v) != nullptr;
    return make_error(format("argument of type '%s' is not iterable", arg->type_name()));
  }
  NX_TRY(need_arg());
  if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, *arg);
  if (name == "ne" || name == "!=") return !values_equal(v, *arg);
  bool lt_like = name == "lt" || name == "<" || name == "lessthan" || name == "le" || name == "<=";
  bool strict = name == "lt" || name == "<" || name == "lessthan" || name == "gt" || name == ">" || name == "greaterthan";
  if (v.is_number() && arg->is_number()) {
    double a = v.as_double(), b = arg->as_double();
    return lt_like ? (strict ? a < b : a <= b) : (strict ? a > b : a >= b);
  }
  if (v.is_string() && arg->is_string()) {
    int c = v.as_string().compare(arg->as_string());
    return lt_like ? (strict ? c < 0 : c <= 0) : (strict ? c > 0 : c >= 0);
  }
  return make_error(format("cannot compare %s with %s", v.type_name(), arg->type_name()));
}

Result<Value> apply_filter(std::string_view name, const Value& v, const CallArgs& args, Budget& budget) {
  auto str_result = [&](std::string s) -> Result<Value> {
    NX_TRY(budget.charge(s.size()));
    return Value::string(std::move(s));
  };
  if (name == "trim") return str_result(py_strip(v.str(), args.get(0, "chars"), true, true));
  if (name == "upper") return str_result(ascii_upper(v.str()));
  if (name == "lower") return str_result(ascii_lower(v.str()));
  if (name == "capitalize") return str_result(py_capitalize(v.str()));
  if (name == "title") return str_result(jinja_title(v.str()));
  if (name == "string") return str_result(v.str());
  if (name == "safe") return v;
  if (name == "escape" || name == "e") return str_result(html_escape(v.str()));
  if (name == "wordcount") return Value::integer(static_cast<int64_t>(utf8_decode(v.str()).empty() ? 0 : [&] {
    int64_t n = 0;
    bool in_word = false;
    for (unsigned char c : v.str()) {
      bool w = std::isalnum(c) || c == '_' || c >= 0x80;
      if (w && !in_word) ++n;
      in_word = w;
    }
    return n;
  }()));
  if (name == "length" || name == "count") {
    if (v.is_undefined()) return Value::integer(0);
    int64_t n = length_of(v);
    if (n < 0) return make_error(format("object of type '%s' has no len()", v.type_name()));
    return Value::integer(n);
  }
  if (name == "tojson") {
    int indent = -1;
    if (const Value* ind = args.get(0, "indent"); ind && !ind->is_none()) {
      if (!ind->is_int() || ind->as_int() < 0 || ind->as_int() > 64) return make_error("indent must be a small integer");
      indent = static_cast<int>(ind->as_int());
    }
    for (const auto& [k, x] : args.kwargs) {
      if (k == "indent") continue;
      if (k == "ensure_ascii" && !x.truthy()) continue;
      if (k == "sort_keys" && !x.truthy()) continue;
      return make_error("unsupported argument '" + k + "'");
    }
    NX_ASSIGN_OR_RETURN(std::string s, to_json(v, indent));
    return str_result(std::move(s));
  }
  if (name == "first" || name == "last") {
    if (v.is_undefined()) return Value::undefined(std::string(name));
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    if (items.empty()) return Value::undefined(std::string(name));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "default" || name == "d") {
    const Value* def = args.get(0, "default_value");
    const Value* boolean = args.get(1, "boolean");
    bool use = v.is_undefined() || (boolean && boolean->truthy() && !v.truthy());
    if (use) return def ? *def : Value::string("");
    return v;
  }
  if (name == "join") {
    const Value* sep = args.get(0, "d");
    const Value* attr = args.get(1, "attribute");
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    std::string out;
    std::string s = sep ? sep->str() : std::string();
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += s;
      std::string item = attr ? get_path(items[i], attr->str()).str() : items[i].str();
      NX_TRY(budget.charge(s.size() + item.size()));
      out += item;
    }
    return Value::string(std::move(out));
  }
  if (name == "replace") {
    const Value* from = args.get(0, "old");
    const Value* to = args.get(1, "new");
    const Value* count = args.get(2, "count");
    if (!from || !to) return make_error("expects old and new strings");
    int64_t c = count && !count->is_none() ? count->as_int() : -1;
    NX_ASSIGN_OR_RETURN(std::string s, py_replace(v.str(), from->str(), to->str(), c, budget));
    return Value::string(std::move(s));
  }
  if (name == "int") {
    const Value* def = args.get(0, "default");
    const Value* base_v = args.get(1, "base");
    int base = base_v && base_v->is_int() ? static_cast<int>(base_v->as_int()) : 10;
    if (base < 2 || base > 36) base = 10;
    Value fallback = def ? *def : Value::integer(0);
    if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
    if (v.is_float()) {
      double f = v.as_double();
      if (!std::isfinite(f) || std::fabs(f) > 9.2e18) return fallback;
      return Value::integer(static_cast<int64_t>(f));
    }
    if (v.is_string()) {
      if (auto r = parse_py_int(v.as_string(), base); r.ok()) return Value::integer(*r);
      if (auto r = parse_py_float(v.as_string()); r.ok() && std::isfinite(*r) && std::fabs(*r) < 9.2e18)
        return Value::integer(static_cast<int64_t>(*r));
    }
    return fallback;
  }
  if (name == "float") {
    const Value* def = args.get(0, "default");
    Value fallback = def ? *def : Value::number(0.0);
    if (v.is_number()) return Value::number(v.as_double());
    if (v.is_string()) {
      if (auto r = parse_py_float(v.as_string()); r.ok()) return Value::number(*r);
    }
    return fallback;
  }
  if (name == "list") {
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    NX_TRY(budget.charge(items.size() * kElementCost));
    return Value::list(std::move(items));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::list();
    if (!v.is_dict()) return make_error(format("can only get item pairs from a mapping, not %s", v.type_name()));
    List out;
    for (const auto& [k, x] : v.entries()) out.push_back(Value::tuple({k, x}));
    NX_TRY(budget.charge(out.size() * 3 * kElementCost));
    return Value::list(std::move(out));
  }
  if (name == "dictsort") {
    if (!v.is_dict()) return make_error(format("expects a mapping, not %s", v.type_name()));
    List out;
    for (const auto& [k, x] : v.entries()) out.push_back(Value::tuple({k, x}));
    std::string err;
    std::stable_sort(out.begin(), out.end(), [&](const Value& a, const Value& b) {
      auto r = less_than(a.as_list()[0], b.as_list()[0], false);
      if (!r.ok()) {
        err = r.error().message;
        return false;
      }
      return *r;
    });
    if (!err.empty()) return make_error(err);
    return Value::list(std::move(out));
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
    bool by_attr = name == "selectattr" || name == "rejectattr";
    bool keep_if = name == "selectattr" || name == "select";
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    size_t i = 0;
    std::string attr;
    if (by_attr) {
      if (args.args.empty()) return make_error("expects an attribute name");
      attr = args.args[0].str();
      i = 1;
    }
    std::string test;
    if (i < args.args.size()) test = args.args[i++].str();
    if (!test.empty() && !has_test(test)) return make_error("unsupported test '" + test + "'");
    CallArgs test_args;
    for (; i < args.args.size(); ++i) test_args.args.push_back(args.args[i]);
    List out;
    for (const Value& item : items) {
      Value x = by_attr ? get_path(item, attr) : item;
      bool ok;
      if (test.empty()) ok = x.truthy();
      else {
        NX_ASSIGN_OR_RETURN(ok, apply_test(test, x, test_args));
      }
      if (ok == keep_if) out.push_back(item);
    }
    return Value::list(std::move(out));
  }
  if (name == "map") {
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    List out;
    const Value* attr = nullptr;
    const Value* def = nullptr;
    for (const auto& [k, x] : args.kwargs) {
      if (k == "attribute") attr = &x;
      else if (k == "default") def = &x;
    }
    if (attr) {
      for (const Value& item : items) {
        Value x = get_path(item, attr->str());
        out.push_back(x.is_undefined() && def ? *def : x);
      }
      return Value::list(std::move(out));
    }
    if (args.args.empty()) return make_error("expects a filter name or attribute=");
    std::string filter = args.args[0].str();
    if (!has_filter(filter)) return make_error("unsupported filter '" + filter + "'");
    if (filter == "map") return make_error("nested map is not supported");
    CallArgs rest;
    rest.args.assign(args.args.begin() + 1, args.args.end());
    for (const Value& item : items) {
      NX_ASSIGN_OR_RETURN(Value x, apply_filter(filter, item, rest, budget));
      out.push_back(std::move(x));
    }
    return Value::list(std::move(out));
  }
  if (name == "abs") {
    if (v.is_float()) return Value::number(std::fabs(v.as_double()));
    if (v.is_int() || v.is_bool()) {
      if (v.as_int() == INT64_MIN) return make_error("integer overflow");
      return Value::integer(std::llabs(v.as_int()));
    }
    return make_error(format("bad operand type for abs(): '%s'", v.type_name()));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::vector<uint32_t> cps = utf8_decode(v.as_string());
      std::reverse(cps.begin(), cps.end());
      return str_result(utf8_encode(cps, 0, cps.size()));
    }
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "unique") {
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    List out;
    for (const Value& x : items) {
      bool seen = false;
      for (const Value& y : out) seen |= values_equal(x, y);
      if (!seen) out.push_back(x);
      NX_TRY(budget.charge(out.size()));
    }
    return Value::list(std::move(out));
  }
  if (name == "sort") {
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    const Value* rev = args.get(0, "reverse");
    const Value* cs = args.get(1, "case_sensitive");
    const Value* attr = args.get(2, "attribute");
    std::string err;
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      Value x = attr ? get_path(a, attr->str()) : a;
      Value y = attr ? get_path(b, attr->str()) : b;
      auto r = (rev && rev->truthy()) ? less_than(y, x, cs && cs->truthy()) : less_than(x, y, cs && cs->truthy());
      if (!r.ok()) {
        err = r.error().message;
        return false;
      }
      return *r;
    });
    if (!err.empty()) return make_error(err);
    return Value::list(std::move(items));
  }
  if (name == "sum") {
    NX_ASSIGN_OR_RETURN(List items, to_list(v, budget));
    const Value* attr = args.get(0, "attribute");
    const Value* start = args.get(1, "start");
    Value acc = start ? *start : Value::integer(0);
    for (const Value& item : items) {
      Value x = attr ? get_path(item, attr->str()) : item;
      if (!x.is_number() || !acc.is_number()) return make_error(format("cannot sum %s", x.type_name()));
      int64_t r;
      if (!acc.is_float() && !x.is_float() && !__builtin_add_overflow(acc.as_int(), x.as_int(), &r))
        acc = Value::integer(r);
      else
        acc = Value::number(acc.as_double() + x.as_double());
    }
    return acc;
  }
  if (name == "indent") {
    const Value* width = args.get(0, "width");
    const Value* first = args.get(1, "first");
    const Value* blank = args.get(2, "blank");
    std::string ind;
    if (width && width->is_string()) ind = width->as_string();
    else {
      int64_t w = width ? width->as_int() : 4;
      if (w < 0 || w > 256) return make_error("indent width out of range");
      ind.assign(static_cast<size_t>(w), ' ');
    }
    std::string s = v.str() + "\n";
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' || s[i] == '\r') {
        lines.push_back(s.substr(start, i - start));
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        start = i + 1;
      }
    }
    NX_TRY(budget.charge(s.size() + lines.size() * ind.size()));
    std::string rv;
    if (blank && blank->truthy()) {
      for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
    } else {
      rv = lines.empty() ? "" : lines[0];
      for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind + lines[i]);
    }
    if (first && first->truthy()) rv = ind + rv;
    return Value::string(std::move(rv));
  }
  return make_error("unsupported filter '" + std::string(name) + "'");
}

std::optional<Result<Value>> call_method(const Value& obj, std::string_view name, const CallArgs& args,
                                         Budget& budget) {
  if (obj.is_dict()) {
    if (name == "items") {
      List out;
      for (const auto& [k, x] : obj.entries()) out.push_back(Value::tuple({k, x}));
      return Result<Value>(Value::list(std::move(out)));
    }
    if (name == "keys" || name == "values") {
      List out;
      for (const auto& [k, x] : obj.entries()) out.push_back(name == "keys" ? k : x);
      return Result<Value>(Value::list(std::move(out)));
    }
    if (name == "get") {
      const Value* key = args.get(0, "key");
      if (!key) return Result<Value>(make_error("expects a key"));
      const Value* def = args.get(1, "default");
      const Value* found = obj.find(*key);
      return Result<Value>(found ? *found : def ? *def : Value::none());
    }
    return std::nullopt;
  }
  if (!obj.is_string()) return std::nullopt;
  const std::string& s = obj.as_string();
  auto str_result = [&](std::string r) -> std::optional<Result<Value>> {
    if (auto st = budget.charge(r.size()); !st.ok()) return Result<Value>(st.error());
    return Result<Value>(Value::string(std::move(r)));
  };
  if (name == "strip") return str_result(py_strip(s, args.get(0, "chars"), true, true));
  if (name == "lstrip") return str_result(py_strip(s, args.get(0, "chars"), true, false));
  if (name == "rstrip") return str_result(py_strip(s, args.get(0, "chars"), false, true));
  if (name == "upper") return str_result(ascii_upper(s));
  if (name == "lower") return str_result(ascii_lower(s));
  if (name == "title") return str_result(py_title(s));
  if (name == "capitalize") return str_result(py_capitalize(s));
  if (name == "split") return py_split(s, args.get(0, "sep"), args.get(1, "maxsplit"), budget);
  if (name == "splitlines") {
    List out;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' || s[i] == '\r') {
        out.push_back(Value::string(s.substr(start, i - start)));
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        start = i + 1;
      }
    }
    if (start < s.size()) out.push_back(Value::string(s.substr(start)));
    if (auto st = budget.charge(s.size() + out.size() * kElementCost); !st.ok()) return Result<Value>(st.error());
    return Result<Value>(Value::list(std::move(out)));
  }
  if (name == "startswith" || name == "endswith") {
    const Value* p = args.get(0, "prefix");
    if (!p) return Result<Value>(make_error("expects a string or a tuple of strings"));
    List cands = p->is_list() ? p->as_list() : List{*p};
    for (const Value& c : cands) {
      if (!c.is_string()) return Result<Value>(make_error(format("expects str, not %s", c.type_name())));
      const std::string& t = c.as_string();
      bool hit = name == "startswith" ? s.compare(0, t.size(), t) == 0 && s.size() >= t.size()
                                      : s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
      if (hit) return Result<Value>(Value::boolean(true));
    }
    return Result<Value>(Value::boolean(false));
  }
  if (name == "replace") {
    const Value* from = args.get(0, "old");
    const Value* to = args.get(1, "new");
    const Value* count = args.get(2, "count");
    if (!from || !to || !from->is_string() || !to->is_string())
      return Result<Value>(make_error("expects two strings"));
    auto r = py_replace(s, from->as_string(), to->as_string(), count && count->is_int() ? count->as_int() : -1, budget);
    if (!r.ok()) return Result<Value>(r.error());
    return Result<Value>(Value::string(std::move(r).value()));
  }
  if (name == "find" || name == "count") {
    const Value* sub = args.get(0, "sub");
    if (!sub || !sub->is_string()) return Result<Value>(make_error("expects a string"));
    const std::string& t = sub->as_string();
    if (name == "find") {
      size_t p = s.find(t);
      if (p == std::string::npos) return Result<Value>(Value::integer(-1));
      return Result<Value>(Value::integer(static_cast<int64_t>(utf8_decode(s.substr(0, p)).size())));
    }
    if (t.empty()) return Result<Value>(Value::integer(static_cast<int64_t>(utf8_decode(s).size()) + 1));
    int64_t n = 0;
    for (size_t p = s.find(t); p != std::string::npos; p = s.find(t, p + t.size())) ++n;
    return Result<Value>(Value::integer(n));
  }
  if (name == "join") {
    const Value* items_v = args.get(0, "iterable");
    if (!items_v) return Result<Value>(make_error("expects an iterable"));
    auto items = to_list(*items_v, budget);
    if (!items.ok()) return Result<Value>(items.error());
    std::string out;
    for (size_t i = 0; i < items->size(); ++i) {
      if (!(*items)[i].is_string()) return Result<Value>(make_error("sequence item must be str"));
      if (auto st = budget.charge(s.size() + (*items)[i].as_string().size()); !st.ok()) return Result<Value>(st.error());
      if (i) out += s;
      out += (*items)[i].as_string();
    }
    return str_result(std::move(out));
  }
  return std::nullopt;
}

}  // namespace nexus::jinja
