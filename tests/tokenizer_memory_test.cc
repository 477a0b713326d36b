// Tokenizer::memory_bound, which the memory planner reserves before the tokenizer is built
// (the resident copy of a budgeted model starts first): on every vocabulary in ../shared the
// tokenizer's memory, measured as the growth of resident memory while from_gguf runs in a
// fresh child process, stays under the bound, and the bound is not wildly above it.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "gguf/gguf.h"
#include "memory/mem_stats.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace nexus {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // shadow memory and quarantine inflate RSS unpredictably
#else
constexpr bool kSanitized = false;
#endif

struct Footprint {
  uint64_t growth = 0;  // resident memory added by Tokenizer::from_gguf
  uint64_t bound = 0;   // Tokenizer::memory_bound
};

// In a child process, so no memory freed by an earlier test is reused and hides the growth.
Footprint measure(const std::string& path) {
  int fds[2];
  NX_CHECK(::pipe(fds) == 0, "pipe");
  const pid_t pid = ::fork();
  NX_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    ::close(fds[0]);
    Footprint f;
    Result<gguf::File> file = gguf::File::open(path);
    if (file.ok()) {
      f.bound = Tokenizer::memory_bound(*file);
      const uint64_t before = process_memory().rss;
      Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf(*file);
      if (tok.ok()) f.growth = process_memory().rss - before;
    }
    const ssize_t n = ::write(fds[1], &f, sizeof f);
    ::_exit(n == sizeof f ? 0 : 1);
  }
  ::close(fds[1]);
  Footprint f;
  const ssize_t n = ::read(fds[0], &f, sizeof f);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  NX_CHECK(n == sizeof f && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child for %s failed", path.c_str());
  return f;
}

TEST(TokenizerMemory, BoundCoversEveryVocabulary) {
  if (kSanitized) GTEST_SKIP() << "resident memory is not meaningful under AddressSanitizer";
  int measured = 0;
  for (const char* rel : {"tokenizer-tests/ggml-vocab-llama-spm.gguf", "tokenizer-tests/ggml-vocab-phi-3.gguf",
                          "tokenizer-tests/ggml-vocab-gpt-2.gguf", "tokenizer-tests/ggml-vocab-mpt.gguf",
                          "tokenizer-tests/ggml-vocab-deepseek-coder.gguf", "tokenizer-tests/ggml-vocab-refact.gguf",
                          "models/stories260K.gguf"}) {
    const std::string path = test::shared_file(rel);
    if (path.empty()) continue;
    const Footprint f = measure(path);
    ASSERT_GT(f.growth, 0u) << rel << ": the tokenizer did not load";
    EXPECT_LE(f.growth, f.bound) << rel;
    EXPECT_LE(f.bound, 2 * f.growth + (uint64_t{1} << 20)) << rel << ": the bound reserves far more than is used";
    ++measured;
  }
  // The largest vocabulary at hand: Gemma 3's 262k tokens.
  if (const std::string gemma = test::gemma3_gguf(); !gemma.empty()) {
    const Footprint f = measure(gemma);
    EXPECT_LE(f.growth, f.bound) << gemma;
    EXPECT_LE(f.bound, 2 * f.growth + (uint64_t{1} << 20)) << gemma;
    ++measured;
  }
  if (measured == 0) GTEST_SKIP() << "no vocabulary in ../shared (set NEXUS_SHARED)";
}

}  // namespace
}  // namespace nexus
