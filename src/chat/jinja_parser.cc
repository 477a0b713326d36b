#include "chat/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

namespace nexus::jinja {
namespace {

// Deep nesting in a hostile template must not overflow the C++ stack.
constexpr int kMaxDepth = 200;

class Parser {
 public:
  Parser(std::string_view src, std::vector<Token> tokens) : src_(src), toks_(std::move(tokens)) {}

  Result<Body> parse_root() {
    Body body;
    std::string end;
    NX_TRY(parse_body(body, {}, &end));
    return body;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(int& d) : d_(d) { ++d_; }
    ~DepthGuard() { --d_; }
    int& d_;
  };

  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  void next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().kind == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().kind == Tok::Name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }

  Error error_at(size_t pos, const std::string& what) const {
    return make_error("chat template: " + what + " at " + describe_pos(src_, pos));
  }
  std::string describe(const Token& t) const {
    switch (t.kind) {
      case Tok::Eof: return "end of template";
      case Tok::Text: return "template text";
      case Tok::VarBegin: return "'{{'";
      case Tok::VarEnd: return "'}}'";
      case Tok::BlockBegin: return "'{%'";
      case Tok::BlockEnd: return "'%}'";
      case Tok::String: return "string literal";
      case Tok::Int:
      case Tok::Float: return "number '" + t.text + "'";
      default: return "'" + t.text + "'";
    }
  }
  Error unexpected(const char* expected) const {
    return error_at(cur().pos, std::string("expected ") + expected + ", found " + describe(cur()));
  }
  Status expect_op(const char* op) {
    if (skip_op(op)) return {};
    return unexpected((std::string("'") + op + "'").c_str());
  }
  Status expect_block_end() {
    if (cur().kind == Tok::BlockEnd) {
      next();
      return {};
    }
    return unexpected("end of statement '%}'");
  }
  Result<std::string> expect_name(const char* what) {
    if (cur().kind != Tok::Name) return unexpected(what);
    std::string n = cur().text;
    next();
    return n;
  }

  // Every node built in a loop (a + b + c..., x|f|g..., a.b.c...) goes through here, so a
  // long chain cannot build a tree deep enough to overflow the stack when evaluated or freed.
  Status check_depth(Expr& n) const {
    int d = 0;
    for (const ExprPtr* c : {&n.a, &n.b, &n.c, &n.d})
      if (*c) d = std::max(d, (*c)->depth);
    for (const ExprPtr& c : n.items) d = std::max(d, c->depth);
    for (const auto& kv : n.kwargs) d = std::max(d, kv.second->depth);
    n.depth = d + 1;
    if (n.depth > kMaxDepth) return error_at(n.pos, "expression nested too deeply");
    return {};
  }

  static ExprPtr make(Expr::Kind k, size_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->pos = pos;
    return e;
  }
  static StmtPtr make_stmt(Stmt::Kind k, size_t pos) {
    auto s = std::make_unique<Stmt>();
    s->kind = k;
    s->pos = pos;
    return s;
  }

  // ---- statements ----

  // Parses until `{% <one of ends> ...`; leaves the cursor on the end keyword and stores it.
  Status parse_body(Body& body, std::initializer_list<const char*> ends, std::string* found_end) {
    DepthGuard g(depth_);
    if (depth_ > kMaxDepth) return error_at(cur().pos, "statements nested too deeply");
    for (;;) {
      const Token& t = cur();
      if (t.kind == Tok::Eof) {
        if (ends.size() == 0) return {};
        std::string list;
        for (const char* e : ends) list += (list.empty() ? "'" : " or '") + std::string(e) + "'";
        return error_at(t.pos, "unexpected end of template, expected " + list);
      }
      if (t.kind == Tok::Text) {
        auto s = make_stmt(Stmt::Kind::Text, t.pos);
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.kind == Tok::VarBegin) {
        auto s = make_stmt(Stmt::Kind::Output, t.pos);
        next();
        NX_ASSIGN_OR_RETURN(s->expr, parse_tuple(true));
        if (cur().kind != Tok::VarEnd) return unexpected("'}}'");
        next();
        body.push_back(std::move(s));
      } else if (t.kind == Tok::BlockBegin) {
        next();
        if (cur().kind != Tok::Name) return unexpected("statement name");
        for (const char* e : ends) {
          if (cur().text == e) {
            *found_end = e;
            return {};
          }
        }
        NX_ASSIGN_OR_RETURN(StmtPtr s, parse_statement());
        body.push_back(std::move(s));
      } else {
        return unexpected("template text or tag");
      }
    }
  }

  Result<StmtPtr> parse_statement() {
    const Token& t = cur();
    const std::string& n = t.text;
    size_t pos = t.pos;
    if (n == "if") return parse_if();
    if (n == "for") return parse_for();
    if (n == "set") return parse_set();
    if (n == "macro") return parse_macro();
    if (n == "filter") return parse_filter_block();
    if (n == "generation") {
      next();
      NX_TRY(expect_block_end());
      auto s = make_stmt(Stmt::Kind::Scope, pos);
      NX_TRY(parse_end(s->body, "endgeneration"));
      return s;
    }
    if (n == "break" || n == "continue") {
      if (loop_depth_ == 0) return error_at(pos, "'" + n + "' outside of a loop");
      next();
      NX_TRY(expect_block_end());
      return make_stmt(n == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, pos);
    }
    static const char* kEnds[] = {"endif", "endfor", "endset", "endmacro", "endfilter", "endgeneration",
                                  "else", "elif", "endraw"};
    for (const char* e : kEnds)
      if (n == e) return error_at(pos, "unexpected '" + n + "'");
    return error_at(pos, "unsupported statement '" + n + "'");
  }

  // Body up to `{% end %}`, consuming the end tag.
  Status parse_end(Body& body, const char* end) {
    std::string found;
    NX_TRY(parse_body(body, {end}, &found));
    next();
    return expect_block_end();
  }

  Result<StmtPtr> parse_if() {
    auto s = make_stmt(Stmt::Kind::If, cur().pos);
    next();
    for (;;) {
      NX_ASSIGN_OR_RETURN(ExprPtr cond, parse_tuple(false));
      NX_TRY(expect_block_end());
      Body body;
      std::string end;
      NX_TRY(parse_body(body, {"elif", "else", "endif"}, &end));
      s->conds.push_back(std::move(cond));
      s->bodies.push_back(std::move(body));
      next();
      if (end == "elif") continue;
      NX_TRY(expect_block_end());
      if (end == "else") NX_TRY(parse_end(s->else_body, "endif"));
      return s;
    }
  }

  Status parse_targets(std::vector<std::string>& targets) {
    bool paren = skip_op("(");
    for (;;) {
      NX_ASSIGN_OR_RETURN(std::string n, expect_name("loop variable name"));
      targets.push_back(std::move(n));
      if (!skip_op(",")) break;
      if (cur().kind != Tok::Name) break;
    }
    if (paren) NX_TRY(expect_op(")"));
    return {};
  }

  Result<StmtPtr> parse_for() {
    auto s = make_stmt(Stmt::Kind::For, cur().pos);
    next();
    NX_TRY(parse_targets(s->targets));
    if (!skip_name("in")) return unexpected("'in'");
    NX_ASSIGN_OR_RETURN(s->expr, parse_tuple(false));
    if (skip_name("if")) { NX_ASSIGN_OR_RETURN(s->cond, parse_expression(true)); }
    if (is_name("recursive")) return error_at(cur().pos, "unsupported construct 'recursive' loop");
    NX_TRY(expect_block_end());
    ++loop_depth_;
    std::string end;
    Status st = parse_body(s->body, {"else", "endfor"}, &end);
    --loop_depth_;
    NX_TRY(st);
    next();
    NX_TRY(expect_block_end());
    if (end == "else") NX_TRY(parse_end(s->else_body, "endfor"));
    return s;
  }

  Result<StmtPtr> parse_set() {
    auto s = make_stmt(Stmt::Kind::Set, cur().pos);
    next();
    NX_ASSIGN_OR_RETURN(std::string first, expect_name("variable name"));
    if (skip_op(".")) {
      NX_ASSIGN_OR_RETURN(s->text, expect_name("attribute name"));
      s->targets.push_back(first);
    } else {
      s->targets.push_back(first);
      while (skip_op(",")) {
        NX_ASSIGN_OR_RETURN(std::string n, expect_name("variable name"));
        s->targets.push_back(std::move(n));
      }
    }
    if (skip_op("=")) {
      NX_ASSIGN_OR_RETURN(s->expr, parse_tuple(true));
      NX_TRY(expect_block_end());
      return s;
    }
    if (s->targets.size() != 1 || !s->text.empty()) return unexpected("'='");
    s->kind = Stmt::Kind::SetBlock;
    if (is_op("|")) { NX_ASSIGN_OR_RETURN(s->expr, parse_filters(nullptr)); }
    NX_TRY(expect_block_end());
    NX_TRY(parse_end(s->body, "endset"));
    return s;
  }

  Result<StmtPtr> parse_macro() {
    auto s = make_stmt(Stmt::Kind::Macro, cur().pos);
    next();
    NX_ASSIGN_OR_RETURN(s->text, expect_name("macro name"));
    NX_TRY(expect_op("("));
    while (!skip_op(")")) {
      if (!s->params.empty()) NX_TRY(expect_op(","));
      if (skip_op(")")) break;
      MacroParam p;
      NX_ASSIGN_OR_RETURN(p.name, expect_name("parameter name"));
      if (skip_op("=")) { NX_ASSIGN_OR_RETURN(p.default_value, parse_expression(true)); }
      s->params.push_back(std::move(p));
    }
    NX_TRY(expect_block_end());
    int saved_loop = loop_depth_;
    loop_depth_ = 0;
    Status st = parse_end(s->body, "endmacro");
    loop_depth_ = saved_loop;
    NX_TRY(st);
    return s;
  }

  Result<StmtPtr> parse_filter_block() {
    auto s = make_stmt(Stmt::Kind::FilterBlock, cur().pos);
    // Parse `filter a | b(x)` as the filter chain applied to a placeholder.
    cur_is_filter_block_ = true;
    auto chain = parse_filters(nullptr);
    cur_is_filter_block_ = false;
    if (!chain.ok()) return chain.error();
    s->expr = std::move(chain).value();
    NX_TRY(expect_block_end());
    NX_TRY(parse_end(s->body, "endfilter"));
    return s;
  }

  // ---- expressions ----

  // expr [, expr ...] — a bare tuple becomes a list.
  Result<ExprPtr> parse_tuple(bool with_condexpr) {
    size_t pos = cur().pos;
    NX_ASSIGN_OR_RETURN(ExprPtr first, parse_expression(with_condexpr));
    if (!is_op(",")) return first;
    auto list = make(Expr::Kind::List, pos);
    list->value = Value::boolean(true);  // a tuple
    list->items.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().kind == Tok::BlockEnd || cur().kind == Tok::VarEnd || is_op(")")) break;
      NX_ASSIGN_OR_RETURN(ExprPtr e, parse_expression(with_condexpr));
      list->items.push_back(std::move(e));
    }
    NX_TRY(check_depth(*list));
    return list;
  }

  Result<ExprPtr> parse_expression(bool with_condexpr) {
    DepthGuard g(depth_);
    if (depth_ > kMaxDepth) return error_at(cur().pos, "expression nested too deeply");
    NX_ASSIGN_OR_RETURN(ExprPtr e, parse_or());
    if (!with_condexpr) return e;
    while (is_name("if")) {
      size_t pos = cur().pos;
      next();
      auto c = make(Expr::Kind::Cond, pos);
      c->a = std::move(e);
      NX_ASSIGN_OR_RETURN(c->b, parse_or());
      if (skip_name("else")) { NX_ASSIGN_OR_RETURN(c->c, parse_expression(true)); }
      NX_TRY(check_depth(*c));
      e = std::move(c);
    }
    return e;
  }

  Result<ExprPtr> parse_or() {
    NX_ASSIGN_OR_RETURN(ExprPtr e, parse_and());
    while (is_name("or")) {
      auto n = make(Expr::Kind::Or, cur().pos);
      next();
      n->a = std::move(e);
      NX_ASSIGN_OR_RETURN(n->b, parse_and());
      NX_TRY(check_depth(*n));
      e = std::move(n);
    }
    return e;
  }

  Result<ExprPtr> parse_and() {
    NX_ASSIGN_OR_RETURN(ExprPtr e, parse_not());
    while (is_name("and")) {
      auto n = make(Expr::Kind::And, cur().pos);
      next();
      n->a = std::move(e);
      NX_ASSIGN_OR_RETURN(n->b, parse_not());
      NX_TRY(check_depth(*n));
      e = std::move(n);
    }
    return e;
  }

  Result<ExprPtr> parse_not() {
    if (is_name("not")) {
      DepthGuard g(depth_);
      if (depth_ > kMaxDepth) return error_at(cur().pos, "expression nested too deeply");
      auto n = make(Expr::Kind::Unary, cur().pos);
      n->name = "not";
      next();
      NX_ASSIGN_OR_RETURN(n->a, parse_not());
      NX_TRY(check_depth(*n));
      return n;
    }
    return parse_compare();
  }

  Result<ExprPtr> parse_compare() {
    NX_ASSIGN_OR_RETURN(ExprPtr e, parse_math1());
    // Python chains comparisons: a < b < c means a < b and b < c. Chat templates do not
    // chain, so a chain is an error rather than a silent difference.
    int count = 0;
    for (;;) {
      std::string op;
      size_t pos = cur().pos;
      if (cur().kind == Tok::Op &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
           cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().kind == Tok::Name && peek().text == "in") {
        op = "not in";
        next();
        next();
      } else {
        return e;
      }
      if (++count > 1) return error_at(pos, "unsupported construct: chained comparison");
      auto n = make(Expr::Kind::Binary, pos);
      n->name = op;
      n->a = std::move(e);
      NX_ASSIGN_OR_RETURN(n->b, parse_math1());
      NX_TRY(check_depth(*n));
      e = std::move(n);
    }
  }

  Result<ExprPtr> parse_binary_level(int level) {
    // 0: + -   1: ~   2: * / // %   3: **
    static const std::vector<std::vector<std::string>> kOps = {{"+", "-"}, {"~"}, {"*", "/", "//", "%"}, {"**"}};
    auto sub = [&]() -> Result<ExprPtr> { return level == 3 ? parse_unary(true) : parse_binary_level(level + 1); };
    NX_ASSIGN_OR_RETURN(ExprPtr e, sub());
    for (;;) {
      if (cur().kind != Tok::Op) return e;
      const auto& ops = kOps[static_cast<size_t>(level)];
      if (std::find(ops.begin(), ops.end(), cur().text) == ops.end()) return e;
      auto n = make(Expr::Kind::Binary, cur().pos);
      n->name = cur().text;
      next();
      n->a = std::move(e);
      NX_ASSIGN_OR_RETURN(n->b, sub());
      NX_TRY(check_depth(*n));
      e = std::move(n);
    }
  }
  Result<ExprPtr> parse_math1() { return parse_binary_level(0); }

  Result<ExprPtr> parse_unary(bool with_filter) {
    DepthGuard g(depth_);
    if (depth_ > kMaxDepth) return error_at(cur().pos, "expression nested too deeply");
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = make(Expr::Kind::Unary, cur().pos);
      e->name = cur().text;
      next();
      NX_ASSIGN_OR_RETURN(e->a, parse_unary(false));
    } else {
      NX_ASSIGN_OR_RETURN(e, parse_primary());
    }
    NX_TRY(check_depth(*e));
    NX_ASSIGN_OR_RETURN(e, parse_postfix(std::move(e)));
    if (with_filter) { NX_ASSIGN_OR_RETURN(e, parse_filters(std::move(e))); }
    return e;
  }

  Result<ExprPtr> parse_primary() {
    const Token& t = cur();
    size_t pos = t.pos;
    switch (t.kind) {
      case Tok::Name: {
        auto e = make(Expr::Kind::Literal, pos);
        if (t.text == "true" || t.text == "True") e->value = Value::boolean(true);
        else if (t.text == "false" || t.text == "False") e->value = Value::boolean(false);
        else if (t.text == "none" || t.text == "None") e->value = Value::none();
        else {
          e->kind = Expr::Kind::Name;
          e->name = t.text;
        }
        next();
        return e;
      }
      case Tok::String: {
        std::string s;
        while (cur().kind == Tok::String) {  // adjacent literals concatenate
          s += cur().text;
          next();
        }
        auto e = make(Expr::Kind::Literal, pos);
        e->value = Value::string(std::move(s));
        return e;
      }
      case Tok::Int:
      case Tok::Float: {
        auto e = make(Expr::Kind::Literal, pos);
        e->value = t.kind == Tok::Int ? Value::integer(t.ival) : Value::number(t.fval);
        next();
        return e;
      }
      case Tok::Op:
        if (t.text == "(") {
          next();
          if (skip_op(")")) {
            auto empty = make(Expr::Kind::List, pos);
            empty->value = Value::boolean(true);  // ()
            return empty;
          }
          NX_ASSIGN_OR_RETURN(ExprPtr e, parse_tuple(true));
          NX_TRY(expect_op(")"));
          return e;
        }
        if (t.text == "[") {
          next();
          auto e = make(Expr::Kind::List, pos);
          while (!skip_op("]")) {
            if (!e->items.empty()) {
              NX_TRY(expect_op(","));
              if (skip_op("]")) break;
            }
            NX_ASSIGN_OR_RETURN(ExprPtr item, parse_expression(true));
            e->items.push_back(std::move(item));
          }
          return e;
        }
        if (t.text == "{") {
          next();
          auto e = make(Expr::Kind::Dict, pos);
          while (!skip_op("}")) {
            if (!e->items.empty()) {
              NX_TRY(expect_op(","));
              if (skip_op("}")) break;
            }
            NX_ASSIGN_OR_RETURN(ExprPtr k, parse_expression(true));
            NX_TRY(expect_op(":"));
            NX_ASSIGN_OR_RETURN(ExprPtr v, parse_expression(true));
            e->items.push_back(std::move(k));
            e->items.push_back(std::move(v));
          }
          return e;
        }
        break;
      default: break;
    }
    return unexpected("an expression");
  }

  Result<ExprPtr> parse_postfix(ExprPtr e) {
    for (;;) {
      if (is_op(".")) {
        size_t pos = cur().pos;
        next();
        if (cur().kind == Tok::Name) {
          auto n = make(Expr::Kind::GetAttr, pos);
          n->name = cur().text;
          n->a = std::move(e);
          next();
          NX_TRY(check_depth(*n));
      e = std::move(n);
        } else if (cur().kind == Tok::Int) {
          auto n = make(Expr::Kind::GetItem, pos);
          n->a = std::move(e);
          n->b = make(Expr::Kind::Literal, cur().pos);
          n->b->value = Value::integer(cur().ival);
          next();
          NX_TRY(check_depth(*n));
      e = std::move(n);
        } else {
          return unexpected("attribute name");
        }
      } else if (is_op("[")) {
        NX_ASSIGN_OR_RETURN(e, parse_subscript(std::move(e)));
      } else if (is_op("(")) {
        NX_ASSIGN_OR_RETURN(e, parse_call(std::move(e)));
      } else {
        return e;
      }
    }
  }

  Result<ExprPtr> parse_subscript(ExprPtr target) {
    size_t pos = cur().pos;
    next();  // [
    ExprPtr parts[3];
    int colons = 0;
    for (;;) {
      if (is_op("]")) break;
      if (is_op(":")) {
        if (++colons > 2) return unexpected("']'");
        next();
        continue;
      }
      if (parts[colons]) return unexpected("':' or ']'");
      NX_ASSIGN_OR_RETURN(parts[colons], parse_expression(true));
    }
    next();  // ]
    if (colons == 0) {
      if (!parts[0]) return error_at(pos, "expected an expression inside '[]'");
      auto n = make(Expr::Kind::GetItem, pos);
      n->a = std::move(target);
      n->b = std::move(parts[0]);
      NX_TRY(check_depth(*n));
      return n;
    }
    auto n = make(Expr::Kind::Slice, pos);
    n->a = std::move(target);
    n->b = std::move(parts[0]);
    n->c = std::move(parts[1]);
    n->d = std::move(parts[2]);
    NX_TRY(check_depth(*n));
    return n;
  }

  Status parse_call_args(Expr& e) {
    next();  // (
    while (!skip_op(")")) {
      if (!e.items.empty() || !e.kwargs.empty()) {
        NX_TRY(expect_op(","));
        if (skip_op(")")) break;
      }
      if (is_op("*") || is_op("**")) return error_at(cur().pos, "unsupported construct: *args in a call");
      if (cur().kind == Tok::Name && peek().kind == Tok::Op && peek().text == "=") {
        std::string key = cur().text;
        next();
        next();
        NX_ASSIGN_OR_RETURN(ExprPtr v, parse_expression(true));
        e.kwargs.emplace_back(std::move(key), std::move(v));
      } else {
        if (!e.kwargs.empty()) return error_at(cur().pos, "positional argument follows keyword argument");
        NX_ASSIGN_OR_RETURN(ExprPtr v, parse_expression(true));
        e.items.push_back(std::move(v));
      }
    }
    return {};
  }

  Result<ExprPtr> parse_call(ExprPtr target) {
    auto n = make(Expr::Kind::Call, target->pos);
    n->a = std::move(target);
    NX_TRY(parse_call_args(*n));
    NX_TRY(check_depth(*n));
    return n;
  }

  // Filters (`| name(args)`), tests (`is [not] name args`) and calls after them. With
  // e == null this parses a `{% filter %}` / `{% set x | f %}` chain (first `|` optional).
  Result<ExprPtr> parse_filters(ExprPtr e) {
    bool first = true;
    for (;;) {
      if (is_op("|") || (first && cur_is_filter_block_)) {
        size_t pos = cur().pos;
        if (is_op("|")) next();
        else next();  // the `filter` keyword of a filter block
        first = false;
        auto n = make(Expr::Kind::Filter, pos);
        if (cur().kind != Tok::Name) return unexpected("filter name");
        n->pos = cur().pos;
        n->name = cur().text;
        next();
        while (is_op(".") && peek().kind == Tok::Name) {
          next();
          n->name += "." + cur().text;
          next();
        }
        n->a = std::move(e);
        if (is_op("(")) NX_TRY(parse_call_args(*n));
        NX_TRY(check_depth(*n));
      e = std::move(n);
      } else if (is_name("is") && e) {
        auto n = make(Expr::Kind::Test, cur().pos);
        next();
        if (skip_name("not")) n->negated = true;
        if (cur().kind != Tok::Name) return unexpected("test name");
        n->pos = cur().pos;
        n->name = cur().text;
        next();
        n->a = std::move(e);
        if (is_op("(")) {
          NX_TRY(parse_call_args(*n));
        } else if ((cur().kind == Tok::Name || cur().kind == Tok::String || cur().kind == Tok::Int ||
                    cur().kind == Tok::Float || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if")) {
          NX_ASSIGN_OR_RETURN(ExprPtr arg, parse_primary());
          NX_ASSIGN_OR_RETURN(arg, parse_postfix(std::move(arg)));
          n->items.push_back(std::move(arg));
        }
        NX_TRY(check_depth(*n));
      e = std::move(n);
      } else if (is_op("(") && e) {
        NX_ASSIGN_OR_RETURN(e, parse_call(std::move(e)));
      } else {
        return e;
      }
    }
  }

  std::string_view src_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  bool cur_is_filter_block_ = false;
};

}  // namespace

Result<std::shared_ptr<const Template>> parse_template(std::string_view source) {
  auto tpl = std::make_shared<Template>();
  tpl->source = normalize_source(source);
  NX_ASSIGN_OR_RETURN(std::vector<Token> tokens, tokenize(tpl->source));
  Parser p(tpl->source, std::move(tokens));
  NX_ASSIGN_OR_RETURN(tpl->body, p.parse_root());
  return std::shared_ptr<const Template>(std::move(tpl));
}

}  // namespace nexus::jinja
