// Jinja tokens -> syntax tree, for the subset chat templates use (see jinja_interpreter.h).
// Every node keeps the byte offset it came from so run-time errors can name line and column.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_lexer.h"
#include "chat/jinja_value.h"
#include "nexus/result.h"

namespace nexus::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,   // value
    Name,      // name
    List,      // items; value is true for a tuple
    Dict,      // items as key, value, key, value...
    GetAttr,   // a.name
    GetItem,   // a[b]
    Slice,     // a[b:c:d] (b, c, d may be null)
    Call,      // a(items..., kwargs...)
    Filter,    // a | name(items..., kwargs...); a is null inside a filter block
    Test,      // a is [not] name(items...)
    Unary,     // op a   (op: "-", "+", "not")
    Binary,    // a op b (arithmetic, comparison, "in", "not in", "~")
    And,
    Or,
    Cond,      // a if b else c  (c may be null)
  };
  Kind kind;
  size_t pos = 0;
  Value value;
  std::string name;  // Name / attribute / filter / test name, or operator
  bool negated = false;  // Test: `is not`
  int depth = 1;         // height of this subtree
  ExprPtr a, b, c, d;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Stmt {
  enum class Kind {
    Text,      // text
    Output,    // {{ expr }}
    If,        // conds[i] -> bodies[i]; else_body
    For,       // targets in expr [if cond] body [else else_body]
    Set,       // targets (or attr target ns.attr) = expr
    SetBlock,  // {% set name %}body{% endset %}, optional filter expr
    Macro,     // name(params) body
    Break,
    Continue,
    FilterBlock,  // {% filter f %}body{% endfilter %}
    Scope,        // a body rendered inline ({% generation %}); no new scope in Jinja output terms
  };
  Kind kind;
  size_t pos = 0;
  std::string text;                  // Text; Set attribute name (`ns.attr`); Macro name
  std::vector<std::string> targets;  // For / Set targets
  ExprPtr expr;                      // Output / For iterable / Set value / filter
  ExprPtr cond;                      // For filter condition
  std::vector<ExprPtr> conds;        // If
  std::vector<Body> bodies;          // If branch bodies
  Body body;
  Body else_body;
  std::vector<MacroParam> params;    // Macro
};

struct Template {
  std::string source;  // normalized source, for error positions
  Body body;
};

// Parses a template. Errors name the construct and its position, e.g.
// "chat template: unknown statement 'include' at line 3, column 4".
Result<std::shared_ptr<const Template>> parse_template(std::string_view source);

}  // namespace nexus::jinja
