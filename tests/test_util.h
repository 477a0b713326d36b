// Helpers shared by the tests: where ../shared is, running the nexus CLI, temp files.
#pragma once

#include <string>

#include "model/synthetic.h"

namespace nexus::test {

// Path of ../shared (env NEXUS_SHARED overrides). Empty when it does not exist.
std::string shared_dir();

// GTEST_SKIP()s with a clear message when ../shared or the file under it is missing.
#define NEXUS_REQUIRE_SHARED(relpath)                                                   \
  do {                                                                                  \
    if (::nexus::test::shared_file(relpath).empty())                                    \
      GTEST_SKIP() << "../shared/" << relpath << " not found (set NEXUS_SHARED)";       \
  } while (0)

// Full path of a file under shared/, or "" when missing.
std::string shared_file(const std::string& relpath);

// Path of the Gemma 3 270M GGUF (tools/fetch_gemma3.sh): $NEXUS_GEMMA3_GGUF, else
// ${NEXUS_CACHE:-$HOME/.cache/nexus}/gemma-3-270m-q4_k_m.gguf. "" when the file is missing.
std::string gemma3_gguf();

#define NEXUS_REQUIRE_GEMMA3(var)                                                           \
  const std::string var = ::nexus::test::gemma3_gguf();                                      \
  if (var.empty())                                                                          \
  GTEST_SKIP() << "Gemma 3 270M not found (run tools/fetch_gemma3.sh, or set "              \
                  "NEXUS_GEMMA3_GGUF / NEXUS_CACHE)"

// Source tree root (for committed golden data under tests/data).
std::string source_dir();

// A fresh empty directory under $TMPDIR, removed by nothing (tests are short-lived).
std::string temp_dir();

// Writes the synthetic model `spec` to a fresh temp_dir()/file_name and returns its path. The
// file is flushed to disk, so a budgeted load can drop its pages from the cache. Aborts on
// an error (a bad spec is a bug in the test).
std::string synth_model(const SynthSpec& spec, const std::string& file_name);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the built `nexus` CLI with the given argument string (shell-quoted by the caller).
CommandResult run_nexus(const std::string& args, const std::string& stdin_text = "");

}  // namespace nexus::test
