// Jinja filters, tests and the Python str/list/dict methods chat templates call.
// Errors returned here carry only the reason; the interpreter adds the "chat template:" prefix
// and the position.
#pragma once

#include <cstdint>
#include <cstddef>
#include <optional>
#include <string_view>

#include "chat/jinja_value.h"
#include "nexus/result.h"

namespace nexus::jinja {

// Bounds the work one render may do (bytes of strings and list elements created), so a
// template like `{% for i in range(99999) %}{% set s = s ~ s %}` stops instead of exhausting
// memory.
// What one list element costs the budget: the memory it takes.
inline constexpr size_t kElementCost = sizeof(Value);

class Budget {
 public:
  explicit Budget(int64_t units) : left_(units) {}
  Status charge(size_t units) {
    left_ -= static_cast<int64_t>(units);
    if (left_ < 0) return make_error("render exceeded its work limit (output or intermediate values too large)");
    return {};
  }

 private:
  int64_t left_;
};

// `v` as a list, the way Python's list(v) and a for loop iterate it: a string gives its
// characters, a dict its keys, undefined nothing.
Result<List> to_list(const Value& v, Budget& budget);

bool has_filter(std::string_view name);
bool has_test(std::string_view name);

Result<Value> apply_filter(std::string_view name, const Value& v, const CallArgs& args, Budget& budget);
Result<bool> apply_test(std::string_view name, const Value& v, const CallArgs& args);

// A method of str, list or dict, e.g. "abc".startswith("a") or d.items(). nullopt when `obj`
// has no such method.
std::optional<Result<Value>> call_method(const Value& obj, std::string_view name, const CallArgs& args,
                                         Budget& budget);

}  // namespace nexus::jinja
