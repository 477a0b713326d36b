#include "chat/jinja_interpreter.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "chat/jinja_builtins.h"

namespace nexus::jinja {
namespace {

enum class Flow { Normal, Break, Continue };
constexpr uint32_t kMaxValueDepth = 100;
using Frame = std::vector<std::pair<std::string, Value>>;

bool is_text_like(const Value& v) { return v.is_string(); }

// Python floor division and modulo on integers.
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t floor_mod(int64_t a, int64_t b) {
  int64_t m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

class Interpreter {
 public:
  Interpreter(const Template& tpl, const RenderOptions& opts)
      : tpl_(tpl), opts_(opts), budget_(opts.limits.max_work) {}

  Result<std::string> run(const DictEntries& variables) {
    frames_.emplace_back();
    install_globals();
    for (const auto& [k, v] : variables)
      if (k.is_string()) bind(k.as_string(), v);
    frames_.emplace_back();  // template locals
    std::string out;
    out_ = &out;
    NX_ASSIGN_OR_RETURN(Flow f, exec_body(tpl_.body));
    (void)f;
    return out;
  }

 private:
  // ---- errors ----
  Error error_at(size_t pos, const std::string& what) const {
    return make_error("chat template: " + what + " at " + describe_pos(tpl_.source, pos));
  }
  Error wrap(size_t pos, const Error& e) const { return error_at(pos, e.message); }
  Error undefined_error(size_t pos, const Value& v) const {
    if (v.undefined_name().empty()) return error_at(pos, "value is undefined");
    return error_at(pos, "'" + v.undefined_name() + "' is undefined");
  }

  // ---- scopes ----
  void bind(const std::string& name, Value v) {
    Frame& f = frames_.back();
    for (auto& [k, old] : f) {
      if (k == name) {
        old = std::move(v);
        return;
      }
    }
    f.emplace_back(name, std::move(v));
  }

  const Value* lookup_in(const Frame& f, const std::string& name) const {
    for (const auto& [k, v] : f)
      if (k == name) return &v;
    return nullptr;
  }

  Value lookup(const std::string& name) const {
    // Innermost frames down to the current call's base, then template locals and globals
    // (macros see the template's top-level names, not their caller's locals).
    for (size_t i = frames_.size(); i-- > base_;)
      if (const Value* v = lookup_in(frames_[i], name)) return *v;
    if (base_ > 1) {
      if (const Value* v = lookup_in(frames_[1], name)) return *v;
      if (const Value* v = lookup_in(frames_[0], name)) return *v;
    }
    return Value::undefined(name);
  }

  void install_globals() {
    bind("raise_exception", Value::callable("raise_exception", [](CallArgs& a) -> Result<Value> {
           const Value* m = a.get(0, "message");
           return make_error("raise_exception: " + (m ? m->str() : std::string()));
         }));
    bind("strftime_now", Value::callable("strftime_now", [this](CallArgs& a) -> Result<Value> {
           const Value* f = a.get(0, "format");
           if (!f || !f->is_string()) return make_error("strftime_now() expects a format string");
           if (f->as_string().size() > 256) return make_error("strftime_now() format too long");
           std::time_t t = opts_.now ? *opts_.now : std::time(nullptr);
           std::tm tm{};
           localtime_r(&t, &tm);
           char buf[1024];
           size_t n = std::strftime(buf, sizeof(buf), f->as_string().c_str(), &tm);
           return Value::string(std::string(buf, n));
         }));
    auto make_entries = [](CallArgs& a, const char* what) -> Result<DictEntries> {
      DictEntries e;
      if (a.args.size() > 1) return make_error(format("%s() takes at most one positional argument", what));
      if (a.args.size() == 1) {
        if (!a.args[0].has_entries()) return make_error(format("%s() argument must be a mapping", what));
        e = a.args[0].entries();
      }
      for (auto& [k, v] : a.kwargs) {
        bool replaced = false;
        for (auto& [ek, ev] : e) {
          if (ek.is_string() && ek.as_string() == k) {
            ev = v;
            replaced = true;
          }
        }
        if (!replaced) e.emplace_back(Value::string(k), v);
      }
      return e;
    };
    bind("namespace", Value::callable("namespace", [make_entries](CallArgs& a) -> Result<Value> {
           NX_ASSIGN_OR_RETURN(DictEntries e, make_entries(a, "namespace"));
           return Value::ns(std::move(e));
         }));
    bind("dict", Value::callable("dict", [make_entries](CallArgs& a) -> Result<Value> {
           NX_ASSIGN_OR_RETURN(DictEntries e, make_entries(a, "dict"));
           return Value::dict(std::move(e));
         }));
    bind("range", Value::callable("range", [this](CallArgs& a) -> Result<Value> {
           if (a.args.empty() || a.args.size() > 3 || !a.kwargs.empty())
             return make_error("range() expects 1 to 3 integer arguments");
           for (const Value& v : a.args)
             if (!v.is_int() && !v.is_bool()) return make_error(format("range() argument must be int, not %s", v.type_name()));
           int64_t start = 0, stop = 0, step = 1;
           if (a.args.size() == 1) stop = a.args[0].as_int();
           else {
             start = a.args[0].as_int();
             stop = a.args[1].as_int();
             if (a.args.size() == 3) step = a.args[2].as_int();
           }
           if (step == 0) return make_error("range() arg 3 must not be zero");
           List out;
           for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
             NX_TRY(budget_.charge(kElementCost));
             out.push_back(Value::integer(i));
             if ((step > 0 && i > std::numeric_limits<int64_t>::max() - step) ||
                 (step < 0 && i < std::numeric_limits<int64_t>::min() - step))
               break;
           }
           return Value::list(std::move(out));
         }));
  }

  Status step(size_t pos) {
    if (++steps_ > opts_.limits.max_steps) return error_at(pos, "render exceeded the step limit (endless loop?)");
    return {};
  }

  Status emit(size_t pos, std::string_view s) {
    if (out_->size() + s.size() > opts_.limits.max_output_bytes)
      return error_at(pos, format("output exceeds %zu bytes", opts_.limits.max_output_bytes));
    if (auto st = budget_.charge(s.size()); !st.ok()) return wrap(pos, st.error());
    out_->append(s);
    return {};
  }

  // ---- statements ----
  Result<Flow> exec_body(const Body& body) {
    for (const StmtPtr& s : body) {
      NX_ASSIGN_OR_RETURN(Flow f, exec(*s));
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  // Renders `body` into a string instead of the output (set blocks, macros, filter blocks).
  Result<std::string> capture(const Body& body) {
    std::string buf;
    std::string* saved = out_;
    out_ = &buf;
    auto r = exec_body(body);
    out_ = saved;
    if (!r.ok()) return r.error();
    return buf;
  }

  Result<Flow> exec(const Stmt& s) {
    NX_TRY(step(s.pos));
    switch (s.kind) {
      case Stmt::Kind::Text:
        NX_TRY(emit(s.pos, s.text));
        return Flow::Normal;
      case Stmt::Kind::Output: {
        NX_ASSIGN_OR_RETURN(Value v, eval(*s.expr));
        if (v.is_callable()) return error_at(s.pos, "cannot print a function");
        NX_TRY(emit(s.pos, v.str()));
        return Flow::Normal;
      }
      case Stmt::Kind::If: {
        for (size_t i = 0; i < s.conds.size(); ++i) {
          NX_ASSIGN_OR_RETURN(Value c, eval(*s.conds[i]));
          if (c.truthy()) return exec_body(s.bodies[i]);
        }
        return exec_body(s.else_body);
      }
      case Stmt::Kind::For: return exec_for(s);
      case Stmt::Kind::Set: {
        NX_ASSIGN_OR_RETURN(Value v, eval(*s.expr));
        if (!s.text.empty()) {
          Value target = lookup(s.targets[0]);
          if (!target.is_namespace())
            return error_at(s.pos, "cannot assign attribute on non-namespace object '" + s.targets[0] + "'");
          target.set(Value::string(s.text), std::move(v));
          return Flow::Normal;
        }
        NX_TRY(assign(s.pos, s.targets, v));
        return Flow::Normal;
      }
      case Stmt::Kind::SetBlock: {
        NX_ASSIGN_OR_RETURN(std::string text, capture(s.body));
        Value v = Value::string(std::move(text));
        if (s.expr) { NX_ASSIGN_OR_RETURN(v, eval_filter_chain(*s.expr, v)); }
        bind(s.targets[0], std::move(v));
        return Flow::Normal;
      }
      case Stmt::Kind::FilterBlock: {
        NX_ASSIGN_OR_RETURN(std::string text, capture(s.body));
        NX_ASSIGN_OR_RETURN(Value v, eval_filter_chain(*s.expr, Value::string(std::move(text))));
        NX_TRY(emit(s.pos, v.str()));
        return Flow::Normal;
      }
      case Stmt::Kind::Macro:
        bind(s.text, make_macro(s));
        return Flow::Normal;
      case Stmt::Kind::Scope: return exec_body(s.body);
      case Stmt::Kind::Break: return Flow::Break;
      case Stmt::Kind::Continue: return Flow::Continue;
    }
    return Flow::Normal;
  }

  Status assign(size_t pos, const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
      bind(targets[0], v);
      return {};
    }
    if (!v.is_list()) return error_at(pos, format("cannot unpack %s into %zu names", v.type_name(), targets.size()));
    if (v.as_list().size() != targets.size())
      return error_at(pos, format("cannot unpack %zu values into %zu names", v.as_list().size(), targets.size()));
    for (size_t i = 0; i < targets.size(); ++i) bind(targets[i], v.as_list()[i]);
    return {};
  }

  Result<List> iterate(size_t pos, const Value& v) {
    Result<List> items = to_list(v, budget_);
    if (!items.ok()) return wrap(pos, items.error());
    return items;
  }

  Result<Flow> exec_for(const Stmt& s) {
    NX_ASSIGN_OR_RETURN(Value seq, eval(*s.expr));
    NX_ASSIGN_OR_RETURN(List items, iterate(s.expr->pos, seq));
    if (s.cond) {
      List kept;
      for (const Value& item : items) {
        NX_TRY(step(s.pos));
        frames_.emplace_back();
        Status st = assign(s.pos, s.targets, item);
        Result<Value> c = st.ok() ? eval(*s.cond) : Result<Value>(st.error());
        frames_.pop_back();
        if (!c.ok()) return c.error();
        if (c->truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec_body(s.else_body);
    const int64_t n = static_cast<int64_t>(items.size());
    LoopTemplate loop = make_loop_template();
    for (int64_t i = 0; i < n; ++i) {
      NX_TRY(step(s.pos));
      // Jinja gives every iteration a fresh scope: names set in one iteration are gone in the next.
      frames_.emplace_back();
      Status st = assign(s.pos, s.targets, items[static_cast<size_t>(i)]);
      if (!st.ok()) {
        frames_.pop_back();
        return st.error();
      }
      bind("loop", make_loop(loop, items, i));
      Result<Flow> f = exec_body(s.body);
      frames_.pop_back();
      if (!f.ok()) return f.error();
      if (*f == Flow::Break) break;
    }
    return Flow::Normal;
  }

  // The `loop` object's entries, built once per for-loop; make_loop fills in the values.
  struct LoopTemplate {
    DictEntries entries;
    std::shared_ptr<int64_t> index0 = std::make_shared<int64_t>(0);
  };
  enum LoopField { kIndex, kIndex0, kRevindex, kRevindex0, kFirst, kLast, kLength, kPrevitem, kNextitem };

  LoopTemplate make_loop_template() {
    LoopTemplate t;
    for (const char* k : {"index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem",
                          "nextitem", "depth", "depth0"})
      t.entries.emplace_back(Value::string(k), Value());
    t.entries[9].second = Value::integer(1);
    t.entries[10].second = Value::integer(0);
    std::shared_ptr<int64_t> index0 = t.index0;
    t.entries.emplace_back(Value::string("cycle"), Value::callable("loop.cycle", [index0](CallArgs& a) -> Result<Value> {
                             if (a.args.empty()) return make_error("loop.cycle() needs at least one argument");
                             return a.args[static_cast<size_t>(*index0) % a.args.size()];
                           }));
    return t;
  }

  Value make_loop(LoopTemplate& t, const List& items, int64_t i) {
    const int64_t n = static_cast<int64_t>(items.size());
    *t.index0 = i;
    DictEntries e = t.entries;
    e[kIndex].second = Value::integer(i + 1);
    e[kIndex0].second = Value::integer(i);
    e[kRevindex].second = Value::integer(n - i);
    e[kRevindex0].second = Value::integer(n - i - 1);
    e[kFirst].second = Value::boolean(i == 0);
    e[kLast].second = Value::boolean(i == n - 1);
    e[kLength].second = Value::integer(n);
    e[kPrevitem].second = i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("loop.previtem");
    e[kNextitem].second = i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("loop.nextitem");
    return Value::dict(std::move(e));
  }

  Value make_macro(const Stmt& s) {
    const Stmt* m = &s;
    return Value::callable(s.text, [this, m](CallArgs& a) -> Result<Value> {
      if (a.args.size() > m->params.size())
        return make_error(format("macro '%s' takes %zu arguments, %zu given", m->text.c_str(), m->params.size(),
                                 a.args.size()));
      if (call_depth_ >= opts_.limits.max_call_depth) return make_error("macro calls nested too deeply");
      Frame frame;
      for (size_t i = 0; i < m->params.size(); ++i) {
        const MacroParam& p = m->params[i];
        if (i < a.args.size()) {
          frame.emplace_back(p.name, a.args[i]);
          continue;
        }
        const Value* kw = nullptr;
        for (const auto& [k, v] : a.kwargs)
          if (k == p.name) kw = &v;
        if (kw) frame.emplace_back(p.name, *kw);
        else if (p.default_value) {
          NX_ASSIGN_OR_RETURN(Value d, eval(*p.default_value));
          frame.emplace_back(p.name, std::move(d));
        } else {
          frame.emplace_back(p.name, Value::undefined(p.name));
        }
      }
      for (const auto& [k, v] : a.kwargs) {
        bool known = false;
        for (const MacroParam& p : m->params) known |= p.name == k;
        if (!known) return make_error(format("macro '%s' has no parameter '%s'", m->text.c_str(), k.c_str()));
      }
      size_t saved_base = base_;
      frames_.push_back(std::move(frame));
      base_ = frames_.size() - 1;
      ++call_depth_;
      Result<std::string> r = capture(m->body);
      --call_depth_;
      frames_.resize(base_);
      base_ = saved_base;
      if (!r.ok()) return r.error();
      return Value::string(std::move(r).value());
    });
  }

  // ---- expressions ----
  Result<CallArgs> eval_args(const Expr& e) {
    CallArgs a;
    a.pos = e.pos;
    for (const ExprPtr& x : e.items) {
      NX_ASSIGN_OR_RETURN(Value v, eval(*x));
      a.args.push_back(std::move(v));
    }
    for (const auto& [k, x] : e.kwargs) {
      NX_ASSIGN_OR_RETURN(Value v, eval(*x));
      a.kwargs.emplace_back(k, std::move(v));
    }
    return a;
  }

  // A filter chain parsed for `{% filter %}` / `{% set x | f %}`, applied to `input`.
  Result<Value> eval_filter_chain(const Expr& e, const Value& input) {
    if (e.kind != Expr::Kind::Filter) return eval(e);
    Value base = input;
    if (e.a) { NX_ASSIGN_OR_RETURN(base, eval_filter_chain(*e.a, input)); }
    return apply_filter_node(e, base);
  }

  Result<Value> apply_filter_node(const Expr& e, const Value& v) {
    if (!has_filter(e.name)) return error_at(e.pos, "unsupported filter '" + e.name + "'");
    NX_ASSIGN_OR_RETURN(CallArgs a, eval_args(e));
    auto r = apply_filter(e.name, v, a, budget_);
    if (!r.ok()) return error_at(e.pos, "filter '" + e.name + "': " + r.error().message);
    return r;
  }

  Result<Value> eval(const Expr& e) {
    if (++eval_depth_ > 400) {
      --eval_depth_;
      return error_at(e.pos, "expression evaluation nested too deeply");
    }
    Result<Value> r = eval_inner(e);
    --eval_depth_;
    // Deeply nested values would make printing, comparing and freeing them recurse deeply.
    if (r.ok() && r->depth() > kMaxValueDepth) return error_at(e.pos, "value nested too deeply");
    return r;
  }

  Result<Value> get_attr(const Value& obj, const std::string& name) {
    if (obj.has_entries()) {
      if (const Value* v = obj.find(name)) return *v;
    }
    return Value::undefined(name);
  }

  Result<Value> get_item(size_t pos, const Value& obj, const Value& key) {
    switch (obj.kind()) {
      case Value::Kind::Dict:
      case Value::Kind::Namespace:
        if (const Value* v = obj.find(key)) return *v;
        return Value::undefined(key.str());
      case Value::Kind::List: {
        if (!key.is_int() && !key.is_bool()) return Value::undefined(key.str());
        int64_t n = static_cast<int64_t>(obj.as_list().size());
        int64_t i = key.as_int();
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::undefined("list index");
        return obj.as_list()[static_cast<size_t>(i)];
      }
      case Value::Kind::String: {
        if (!key.is_int() && !key.is_bool()) return Value::undefined(key.str());
        std::vector<uint32_t> cps = utf8_decode(obj.as_string());
        int64_t n = static_cast<int64_t>(cps.size());
        int64_t i = key.as_int();
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::undefined("string index");
        return Value::string(utf8_encode(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
      }
      default: return Value::undefined(key.str());
    }
  }

  Result<Value> eval_slice(const Expr& e) {
    NX_ASSIGN_OR_RETURN(Value obj, eval(*e.a));
    int64_t bounds[3] = {0, 0, 1};
    bool given[3] = {false, false, false};
    const Expr* parts[3] = {e.b.get(), e.c.get(), e.d.get()};
    for (int k = 0; k < 3; ++k) {
      if (!parts[k]) continue;
      NX_ASSIGN_OR_RETURN(Value v, eval(*parts[k]));
      if (v.is_none()) continue;
      if (!v.is_int() && !v.is_bool()) return error_at(e.pos, "slice indices must be integers or None");
      bounds[k] = v.as_int();
      given[k] = true;
    }
    int64_t step_v = given[2] ? bounds[2] : 1;
    if (step_v == 0) return error_at(e.pos, "slice step cannot be zero");
    if (step_v == std::numeric_limits<int64_t>::min()) step_v = -std::numeric_limits<int64_t>::max();
    std::vector<uint32_t> cps;
    int64_t n;
    if (obj.is_list()) n = static_cast<int64_t>(obj.as_list().size());
    else if (obj.is_string()) {
      cps = utf8_decode(obj.as_string());
      n = static_cast<int64_t>(cps.size());
    } else if (obj.is_undefined()) {
      return Value::undefined("slice");
    } else {
      return error_at(e.pos, format("'%s' object is not subscriptable", obj.type_name()));
    }
    // Python's slice.indices().
    auto clamp = [&](int64_t v, bool g, int64_t def_pos, int64_t def_neg) {
      if (!g) return step_v > 0 ? def_pos : def_neg;
      if (v < 0) {
        v += n;
        if (v < 0) v = step_v > 0 ? 0 : -1;
      } else if (v >= n) {
        v = step_v > 0 ? n : n - 1;
      }
      return v;
    };
    int64_t start = clamp(bounds[0], given[0], 0, n - 1);
    int64_t stop = clamp(bounds[1], given[1], n, -1);
    List out_list;
    std::string out_str;
    for (int64_t i = start; step_v > 0 ? i < stop : i > stop;) {
      if (obj.is_list()) out_list.push_back(obj.as_list()[static_cast<size_t>(i)]);
      else utf8_append(out_str, cps[static_cast<size_t>(i)]);
      if (__builtin_add_overflow(i, step_v, &i)) break;  // a huge step leaves the range
    }
    if (obj.is_list()) {
      if (auto st = budget_.charge(out_list.size() * kElementCost); !st.ok()) return wrap(e.pos, st.error());
      return Value::list(std::move(out_list));
    }
    if (auto st = budget_.charge(out_str.size()); !st.ok()) return wrap(e.pos, st.error());
    return Value::string(std::move(out_str));
  }

  Result<Value> eval_call(const Expr& e) {
    // Method calls on str / list / dict: "x".strip(), d.items(), ...
    if (e.a->kind == Expr::Kind::GetAttr) {
      NX_ASSIGN_OR_RETURN(Value obj, eval(*e.a->a));
      if (obj.is_string() || obj.is_list() || obj.is_dict()) {
        const Value* attr = obj.is_dict() ? obj.find(e.a->name) : nullptr;
        if (!attr || !attr->is_callable()) {
          NX_ASSIGN_OR_RETURN(CallArgs a, eval_args(e));
          auto r = call_method(obj, e.a->name, a, budget_);
          if (r) {
            if (!r->ok()) return error_at(e.a->pos, std::string(obj.type_name()) + "." + e.a->name + "(): " +
                                                        r->error().message);
            return std::move(*r);
          }
          if (!obj.is_dict() || !attr)
            return error_at(e.a->pos, "unsupported method '" + e.a->name + "' on " + obj.type_name());
        }
      }
      NX_ASSIGN_OR_RETURN(Value f, get_attr(obj, e.a->name));
      return call_value(e, f, obj.is_undefined() ? Value::undefined(e.a->name) : f);
    }
    NX_ASSIGN_OR_RETURN(Value f, eval(*e.a));
    return call_value(e, f, f);
  }

  Result<Value> call_value(const Expr& e, const Value& f, const Value& for_error) {
    if (f.is_undefined()) return undefined_error(e.pos, for_error);
    if (!f.is_callable()) return error_at(e.pos, format("'%s' object is not callable", f.type_name()));
    NX_ASSIGN_OR_RETURN(CallArgs a, eval_args(e));
    auto r = f.as_callable().fn(a);
    if (!r.ok()) {
      if (f.as_callable().name == "raise_exception")
        return make_error("chat template: " + r.error().message + " (" + describe_pos(tpl_.source, e.pos) + ")");
      // Errors from inside a macro body already carry their own position.
      if (r.error().message.rfind("chat template:", 0) == 0) return r.error();
      return error_at(e.pos, r.error().message);
    }
    return r;
  }

  Result<Value> eval_inner(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::Literal: return e.value;
      case Expr::Kind::Name: return lookup(e.name);
      case Expr::Kind::List: {
        List items;
        for (const ExprPtr& x : e.items) {
          NX_ASSIGN_OR_RETURN(Value v, eval(*x));
          items.push_back(std::move(v));
        }
        if (e.value.is_bool()) return Value::tuple(std::move(items));  // marked by the parser
        return Value::list(std::move(items));
      }
      case Expr::Kind::Dict: {
        Value d = Value::dict();
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          NX_ASSIGN_OR_RETURN(Value k, eval(*e.items[i]));
          NX_ASSIGN_OR_RETURN(Value v, eval(*e.items[i + 1]));
          if (k.is_list() || k.is_dict() || k.is_undefined())
            return error_at(e.items[i]->pos, format("unhashable dict key of type '%s'", k.type_name()));
          d.set(std::move(k), std::move(v));
        }
        return d;
      }
      case Expr::Kind::GetAttr: {
        NX_ASSIGN_OR_RETURN(Value obj, eval(*e.a));
        return get_attr(obj, e.name);
      }
      case Expr::Kind::GetItem: {
        NX_ASSIGN_OR_RETURN(Value obj, eval(*e.a));
        NX_ASSIGN_OR_RETURN(Value key, eval(*e.b));
        return get_item(e.pos, obj, key);
      }
      case Expr::Kind::Slice: return eval_slice(e);
      case Expr::Kind::Call: return eval_call(e);
      case Expr::Kind::Filter: {
        Value v;
        if (e.a) { NX_ASSIGN_OR_RETURN(v, eval(*e.a)); }
        return apply_filter_node(e, v);
      }
      case Expr::Kind::Test: {
        if (!has_test(e.name)) return error_at(e.pos, "unsupported test '" + e.name + "'");
        NX_ASSIGN_OR_RETURN(Value v, eval(*e.a));
        NX_ASSIGN_OR_RETURN(CallArgs a, eval_args(e));
        auto r = apply_test(e.name, v, a);
        if (!r.ok()) return error_at(e.pos, "test '" + e.name + "': " + r.error().message);
        return Value::boolean(*r != e.negated);
      }
      case Expr::Kind::Unary: {
        NX_ASSIGN_OR_RETURN(Value v, eval(*e.a));
        if (e.name == "not") return Value::boolean(!v.truthy());
        if (v.is_undefined()) return undefined_error(e.pos, v);
        if (!v.is_number()) return error_at(e.pos, format("bad operand type for unary %s: '%s'", e.name.c_str(), v.type_name()));
        if (e.name == "+") return v.is_float() ? v : Value::integer(v.as_int());
        if (v.is_float()) return Value::number(-v.as_double());
        if (v.as_int() == std::numeric_limits<int64_t>::min()) return error_at(e.pos, "integer overflow");
        return Value::integer(-v.as_int());
      }
      case Expr::Kind::And: {
        NX_ASSIGN_OR_RETURN(Value a, eval(*e.a));
        if (!a.truthy()) return a;
        return eval(*e.b);
      }
      case Expr::Kind::Or: {
        NX_ASSIGN_OR_RETURN(Value a, eval(*e.a));
        if (a.truthy()) return a;
        return eval(*e.b);
      }
      case Expr::Kind::Cond: {
        NX_ASSIGN_OR_RETURN(Value c, eval(*e.b));
        if (c.truthy()) return eval(*e.a);
        if (e.c) return eval(*e.c);
        return Value::undefined("conditional expression");
      }
      case Expr::Kind::Binary: {
        NX_ASSIGN_OR_RETURN(Value a, eval(*e.a));
        NX_ASSIGN_OR_RETURN(Value b, eval(*e.b));
        return binary(e, a, b);
      }
    }
    return error_at(e.pos, "unsupported expression");
  }

  Result<Value> binary(const Expr& e, const Value& a, const Value& b) {
    const std::string& op = e.name;
    if (op == "==") return Value::boolean(values_equal(a, b));
    if (op == "!=") return Value::boolean(!values_equal(a, b));
    if (op == "~") {
      std::string s = a.str() + b.str();
      if (auto st = budget_.charge(s.size()); !st.ok()) return wrap(e.pos, st.error());
      return Value::string(std::move(s));
    }
    if (op == "in" || op == "not in") {
      NX_ASSIGN_OR_RETURN(bool found, contains(e, b, a));
      return Value::boolean(found != (op == "not in"));
    }
    if (a.is_undefined()) return undefined_error(e.a->pos, a);
    if (b.is_undefined()) return undefined_error(e.b->pos, b);
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      int c;
      if (a.is_number() && b.is_number()) {
        double x = a.as_double(), y = b.as_double();
        if (!a.is_float() && !b.is_float()) c = a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
        else c = x < y ? -1 : x > y ? 1 : 0;
        if (std::isnan(x) || std::isnan(y)) return Value::boolean(false);
      } else if (is_text_like(a) && is_text_like(b)) {
        c = a.as_string().compare(b.as_string());
      } else {
        return error_at(e.pos, format("'%s' not supported between instances of '%s' and '%s'", op.c_str(),
                                      a.type_name(), b.type_name()));
      }
      bool r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
      return Value::boolean(r);
    }
    if (op == "+") {
      if (a.is_string() && b.is_string()) {
        if (auto st = budget_.charge(a.as_string().size() + b.as_string().size()); !st.ok()) return wrap(e.pos, st.error());
        return Value::string(a.as_string() + b.as_string());
      }
      if (a.is_list() && b.is_list()) {
        if (auto st = budget_.charge((a.as_list().size() + b.as_list().size()) * kElementCost); !st.ok()) return wrap(e.pos, st.error());
        List out = a.as_list();
        out.insert(out.end(), b.as_list().begin(), b.as_list().end());
        return Value::list(std::move(out));
      }
    }
    if (op == "*") {
      const Value* seq = a.is_string() || a.is_list() ? &a : b.is_string() || b.is_list() ? &b : nullptr;
      const Value* count = seq == &a ? &b : &a;
      if (seq && (count->is_int() || count->is_bool())) {
        int64_t n = std::max<int64_t>(0, count->as_int());
        size_t unit = seq->is_string() ? seq->as_string().size() : seq->as_list().size() * kElementCost;
        if (unit != 0 && static_cast<uint64_t>(n) > (1ull << 40) / unit)
          return wrap(e.pos, make_error("repetition result too large"));
        if (auto st = budget_.charge(unit * static_cast<size_t>(n)); !st.ok()) return wrap(e.pos, st.error());
        if (seq->is_string()) {
          std::string out;
          for (int64_t i = 0; i < n; ++i) out += seq->as_string();
          return Value::string(std::move(out));
        }
        List out;
        for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq->as_list().begin(), seq->as_list().end());
        return Value::list(std::move(out));
      }
    }
    if (!a.is_number() || !b.is_number())
      return error_at(e.pos, format("unsupported operand types for %s: '%s' and '%s'", op.c_str(), a.type_name(),
                                    b.type_name()));
    bool ints = !a.is_float() && !b.is_float();
    if (op == "/") {
      if (b.as_double() == 0) return error_at(e.pos, "division by zero");
      return Value::number(a.as_double() / b.as_double());
    }
    if (ints) {
      int64_t x = a.as_int(), y = b.as_int(), r = 0;
      if (op == "+" && !__builtin_add_overflow(x, y, &r)) return Value::integer(r);
      if (op == "-" && !__builtin_sub_overflow(x, y, &r)) return Value::integer(r);
      if (op == "*" && !__builtin_mul_overflow(x, y, &r)) return Value::integer(r);
      if (op == "//" || op == "%") {
        if (y == 0) return error_at(e.pos, "integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) return error_at(e.pos, "integer overflow");
        return Value::integer(op == "//" ? floor_div(x, y) : floor_mod(x, y));
      }
      if (op == "**") {
        if (y < 0) return Value::number(std::pow(static_cast<double>(x), static_cast<double>(y)));
        int64_t acc = 1;
        for (int64_t i = 0; i < y; ++i) {
          if (__builtin_mul_overflow(acc, x, &acc)) return error_at(e.pos, "integer overflow");
          if (acc == 0 || acc == 1) break;
          if (i > 64 && acc == -1) {
            acc = (y % 2 == 0) ? 1 : -1;
            break;
          }
        }
        return Value::integer(acc);
      }
      return error_at(e.pos, "integer overflow");
    }
    double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value::number(x + y);
    if (op == "-") return Value::number(x - y);
    if (op == "*") return Value::number(x * y);
    if (op == "**") return Value::number(std::pow(x, y));
    if (y == 0) return error_at(e.pos, "float division or modulo by zero");
    if (op == "//") return Value::number(std::floor(x / y));
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::number(m);
  }

  Result<bool> contains(const Expr& e, const Value& container, const Value& item) {
    switch (container.kind()) {
      case Value::Kind::String:
        if (!item.is_string())
          return error_at(e.pos, format("'in <string>' requires string as left operand, not %s", item.type_name()));
        return container.as_string().find(item.as_string()) != std::string::npos;
      case Value::Kind::List:
        for (const Value& x : container.as_list())
          if (values_equal(x, item)) return true;
        return false;
      case Value::Kind::Dict:
      case Value::Kind::Namespace: return container.find(item) != nullptr;
      case Value::Kind::Undefined: return undefined_error(e.b->pos, container);
      default: return error_at(e.pos, format("argument of type '%s' is not iterable", container.type_name()));
    }
  }

  const Template& tpl_;
  const RenderOptions& opts_;
  Budget budget_;
  std::vector<Frame> frames_;
  size_t base_ = 0;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int eval_depth_ = 0;
  int call_depth_ = 0;
};

}  // namespace

Result<std::string> render(const Template& tpl, const DictEntries& variables, const RenderOptions& opts) {
  Interpreter interp(tpl, opts);
  return interp.run(variables);
}

Result<std::string> render_source(std::string_view source, const DictEntries& variables,
                                  const RenderOptions& opts) {
  NX_ASSIGN_OR_RETURN(auto tpl, parse_template(source));
  return render(*tpl, variables, opts);
}

}  // namespace nexus::jinja
