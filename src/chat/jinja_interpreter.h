// Renders a parsed Jinja template the way transformers' apply_chat_template does
// (ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loop controls, its own
// tojson, and the globals raise_exception, strftime_now, namespace, dict, range).
//
// Supported: text, {{ }}, comments, raw; if/elif/else, for (targets, `if` filter, else,
// loop.*), break/continue, set (names, tuples, namespace attributes, blocks), macro,
// filter blocks, generation blocks. Python-like values and operators; see jinja_builtins.h
// for filters, tests and methods. Anything else is an error naming the construct.
//
// Undefined follows Jinja's default Undefined, except that an attribute or item of an
// undefined value is again undefined instead of an error.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "chat/jinja_parser.h"
#include "chat/jinja_value.h"
#include "nexus/result.h"

namespace nexus::jinja {

struct RenderLimits {
  size_t max_output_bytes = 4u << 20;
  int64_t max_steps = 1'000'000;      // statements executed + loop iterations
  int64_t max_work = 64ll << 20;      // bytes / elements of intermediate values created
  int max_call_depth = 32;            // nested macro calls
};

struct RenderOptions {
  RenderLimits limits;
  // Time strftime_now() formats; the current local time when unset.
  std::optional<std::time_t> now;
};

// Renders `tpl` with the given top-level variables (name -> value).
Result<std::string> render(const Template& tpl, const DictEntries& variables, const RenderOptions& opts = {});

// parse_template + render.
Result<std::string> render_source(std::string_view source, const DictEntries& variables,
                                  const RenderOptions& opts = {});

}  // namespace nexus::jinja
