// Values of the Jinja chat-template interpreter: the Python objects a chat template sees
// (None, bool, int, float, str, list, dict, namespace, callables) plus Jinja's Undefined.
// Lists, dicts and namespaces are shared by reference like Python objects, so that
// `set ns.x = 1` is visible through every name bound to the namespace.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nexus/result.h"

namespace nexus::jinja {

class Value;
using List = std::vector<Value>;
// Insertion-ordered like a Python dict. Keys are Values (almost always strings); chat data
// is small, so lookup is a linear scan.
using DictEntries = std::vector<std::pair<Value, Value>>;

struct CallArgs;
// A built-in function, bound method or macro. `pos` is the call site's byte offset, for
// error messages.
using NativeFn = std::function<Result<Value>(CallArgs& args)>;

struct Callable {
  std::string name;
  NativeFn fn;
};

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Callable };

  Value() = default;  // Undefined
  static Value undefined(std::string name = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  static Value list(List items = {});
  // A Python tuple: a list that prints as (a, b); tojson writes it as a JSON array.
  static Value tuple(List items);
  static Value dict(DictEntries entries = {});
  static Value ns(DictEntries entries = {});
  static Value callable(std::string name, NativeFn fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::List && tuple_; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }
  // Dicts and namespaces both hold key/value entries.
  bool has_entries() const { return kind_ == Kind::Dict || kind_ == Kind::Namespace; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Bool ? int64_t{b_} : i_; }
  double as_double() const { return kind_ == Kind::Float ? f_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return *s_; }
  const List& as_list() const { return *list_; }
  const DictEntries& entries() const { return *dict_; }
  DictEntries& mutable_entries() const { return *dict_; }
  const Callable& as_callable() const { return *fn_; }
  // For Undefined: the name that was looked up, for error messages.
  const std::string& undefined_name() const;

  // Entry lookup for dicts/namespaces; nullptr when absent.
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Insert or overwrite (dicts/namespaces only).
  void set(Value key, Value v) const;

  // Python truthiness (Undefined is false).
  bool truthy() const;
  // Python str(): what `{{ x }}` prints. Undefined prints as "".
  std::string str() const;
  // Python repr(): used inside list/dict printing.
  std::string repr() const;
  const char* type_name() const;
  // Nesting depth of lists/dicts (0 for scalars; a namespace counts as 1 since it can change).
  uint32_t depth() const { return depth_; }

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  uint32_t depth_ = 0;
  bool tuple_ = false;
  std::shared_ptr<const std::string> s_;  // String, or Undefined's name
  std::shared_ptr<List> list_;
  std::shared_ptr<DictEntries> dict_;
  std::shared_ptr<Callable> fn_;
};

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  size_t pos = 0;
  // Positional argument `i`, else keyword `name`, else nullptr.
  const Value* get(size_t i, std::string_view name) const;
};

// Python equality (1 == 1.0 == True; lists and dicts compare element-wise).
bool values_equal(const Value& a, const Value& b);

// Python's repr() of a float: shortest round-trip digits, "1.0", "1e-05", "1e+16", "inf", "nan".
std::string python_float_repr(double v);

// json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=False) as transformers' tojson
// filter calls it; indent < 0 means None (one line, ", " and ": " separators).
Result<std::string> to_json(const Value& v, int indent);

// A JSON value as the template sees it (objects keep their key order; nesting beyond 64
// levels becomes none).
Value from_json(const nlohmann::ordered_json& j, int depth = 0);

// UTF-8 helpers: Python indexes strings by code point.
std::vector<uint32_t> utf8_decode(std::string_view s);
void utf8_append(std::string& out, uint32_t cp);
std::string utf8_encode(const std::vector<uint32_t>& cps, size_t begin, size_t end);
bool is_py_space(uint32_t cp);

}  // namespace nexus::jinja
