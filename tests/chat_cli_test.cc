// `nexus chat` end to end: non-interactive (stdin is a file: one message, only the answer on
// stdout) on stories260K and, when its file is there, Gemma 3 270M; an interactive session
// through a pseudo-terminal (util-linux `script`).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "test_util.h"

namespace nexus {
namespace {

using nexus::test::run_nexus;
using nexus::test::shared_file;

constexpr const char* kStories = "models/stories260K.gguf";

std::string quoted(const std::string& path) { return "'" + path + "'"; }

std::string stories() { return quoted(shared_file(kStories)); }

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(ChatCli, NonInteractivePrintsOnlyTheAnswer) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto r = run_nexus("chat -m " + stories() + " --chat-template chatml --temp 0 -n 24", "Once upon a time\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_GT(r.out.size(), 1u);
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_EQ(r.out.find("<|im_start|>"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");  // no timings without --verbose

  // Greedy is deterministic; --verbose adds the turn's figures on stderr only.
  auto v = run_nexus("chat -m " + stories() + " --chat-template chatml --temp 0 -n 24 --verbose",
                     "Once upon a time\n");
  ASSERT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(v.out, r.out);
  EXPECT_NE(v.err.find("answer: 24 tokens"), std::string::npos) << v.err;
}

TEST(ChatCli, SamplingFlagsAreShared) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto a = run_nexus("chat -m " + stories() + " --seed 7 --top-k 20 --top-p 0.9 --min-p 0.1 --repeat-penalty 1.1 -n 16",
                     "Hello");
  auto b = run_nexus("chat -m " + stories() + " --seed 7 --top-k 20 --top-p 0.9 --min-p 0.1 --repeat-penalty 1.1 -n 16",
                     "Hello");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  auto help = run_nexus("chat --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--temp"), std::string::npos);
  EXPECT_NE(help.out.find("/reset"), std::string::npos);
}

TEST(ChatCli, ErrorsAreOneLine) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto empty = run_nexus("chat -m " + stories(), " \n");
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_EQ(empty.err.rfind("nexus: error: ", 0), 0u) << empty.err;
  EXPECT_EQ(count_lines(empty.err), 1) << empty.err;

  auto tpl = run_nexus("chat -m " + stories() + " --chat-template nosuch", "hi");
  EXPECT_EQ(tpl.exit_code, 1);
  EXPECT_NE(tpl.err.find("not a built-in template"), std::string::npos) << tpl.err;
  EXPECT_EQ(count_lines(tpl.err), 1) << tpl.err;

  auto full = run_nexus("chat -m " + stories() + " -c 16", std::string(300, 'x'));
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_NE(full.err.find("context holds 16"), std::string::npos) << full.err;
  EXPECT_EQ(full.out, "");

  auto missing = run_nexus("chat -m /nonexistent/model.gguf", "hi");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(count_lines(missing.err), 1) << missing.err;
}

// Drives `nexus chat` on a pseudo-terminal: `script` runs it with stdin/stdout on a pty and
// copies our (file) stdin to it.
TEST(ChatCli, InteractiveSessionOnATerminal) {
  NEXUS_REQUIRE_SHARED(kStories);
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "util-linux script not installed";
  const std::string cmd = std::string(NEXUS_CLI_PATH) + " chat -m " + shared_file(kStories) +
                          " --chat-template chatml --temp 0 -n 12";
  const std::string dir = nexus::test::temp_dir();
  const std::string out = dir + "/out";
  // Two turns, a reset, a multi-line message (backslash continuation), then /exit.
  const std::string script = "printf 'Once upon a time\\nThe end\\n/reset\\nOne day \\\\\\nLily\\n/exit\\n' | "
                             "timeout 60 script -qfec \"" + cmd + "\" /dev/null > '" + out + "' 2>&1";
  const int rc = std::system(script.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0);
  std::string text;
  {
    FILE* f = std::fopen(out.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
  }
  std::filesystem::remove_all(dir);
  EXPECT_NE(text.find("> "), std::string::npos) << text;
  EXPECT_NE(text.find("... "), std::string::npos) << text;  // the continuation prompt
  EXPECT_NE(text.find("[conversation cleared]"), std::string::npos) << text;
  // Turn 2 reused turn 1's cache; the turn after /reset reused nothing.
  const size_t first = text.find("[prompt:");
  ASSERT_NE(first, std::string::npos) << text;
  const size_t second = text.find("[prompt:", first + 1);
  ASSERT_NE(second, std::string::npos) << text;
  const std::string second_line = text.substr(second, text.find(']', second) - second);
  EXPECT_EQ(second_line.find("(0 reused)"), std::string::npos) << second_line;
  const size_t after_reset = text.find("[prompt:", text.find("[conversation cleared]"));
  ASSERT_NE(after_reset, std::string::npos) << text;
  EXPECT_EQ(text.find("(0 reused)", after_reset), text.find("(", after_reset)) << text;
}

// Gemma 3 270M (a pretrained base model, no chat template in the file: the built-in gemma
// one is used). Skipped when the file is absent.
TEST(ChatCli, Gemma3CapitalOfFrance) {
  NEXUS_REQUIRE_GEMMA3(path);
  auto r = run_nexus("chat -m " + quoted(path) + " --temp 0 -n 32 --verbose", "What is the capital of France?\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(r.out.size(), 1u);
  EXPECT_EQ(r.out.find("<start_of_turn>"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("<end_of_turn>"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("gemma chat template"), std::string::npos) << r.err;
  std::printf("gemma3 answer: %s", r.out.c_str());
}

}  // namespace
}  // namespace nexus
