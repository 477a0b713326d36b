// Two tiers of errors (STYLE.md #9):
//  - Untrusted input (model files, tokenizer files, HTTP bodies) yields Result<T> carrying an
//    Error whose message says what was expected and what was found. Never aborts.
//  - Internal invariants use NX_CHECK (always on) or NX_DCHECK (debug builds, for hot loops).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace nexus {

struct Error {
  std::string message;
};

// A value or an Error. Small stand-in for std::expected (C++23), which C++20 lacks.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}
  static Status Ok() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

// printf-style message builder for errors.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

inline Error make_error(std::string message) { return Error{std::move(message)}; }

[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& msg);

}  // namespace nexus

// Always-on internal invariant; names file and line. Not for validating input.
#define NX_CHECK(cond, ...)                                                         \
  do {                                                                              \
    if (!(cond)) [[unlikely]]                                                       \
      ::nexus::check_failed(__FILE__, __LINE__, #cond, ::nexus::format("" __VA_ARGS__)); \
  } while (0)

#ifdef NDEBUG
#define NX_DCHECK(cond, ...) \
  do {                       \
  } while (0)
#else
#define NX_DCHECK(cond, ...) NX_CHECK(cond, __VA_ARGS__)
#endif

// Propagate an error from an expression returning Status / Result.
#define NX_TRY(expr)                                 \
  do {                                               \
    auto nx_try_status_ = (expr);                    \
    if (!nx_try_status_.ok()) return nx_try_status_.error(); \
  } while (0)

#define NX_CONCAT_INNER(a, b) a##b
#define NX_CONCAT(a, b) NX_CONCAT_INNER(a, b)
// NX_ASSIGN_OR_RETURN(auto x, make_x());
#define NX_ASSIGN_OR_RETURN(lhs, expr) NX_ASSIGN_OR_RETURN_IMPL(NX_CONCAT(nx_r_, __LINE__), lhs, expr)
#define NX_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.error();             \
  lhs = std::move(tmp).value()
