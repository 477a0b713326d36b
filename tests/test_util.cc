#include "test_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/thread_pool.h"

namespace nexus::test {

std::string shared_dir() {
  const char* env = std::getenv("NEXUS_SHARED");
  std::string dir = env && *env ? env : NEXUS_SHARED_DEFAULT;
  return std::filesystem::is_directory(dir) ? dir : std::string();
}

std::string shared_file(const std::string& relpath) {
  std::string dir = shared_dir();
  if (dir.empty()) return {};
  std::string p = dir + "/" + relpath;
  return std::filesystem::exists(p) ? p : std::string();
}

std::string gemma3_gguf() {
  std::string path;
  if (const char* p = std::getenv("NEXUS_GEMMA3_GGUF"); p && *p) {
    path = p;
  } else if (const char* c = std::getenv("NEXUS_CACHE"); c && *c) {
    path = std::string(c) + "/gemma-3-270m-q4_k_m.gguf";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    path = std::string(home) + "/.cache/nexus/gemma-3-270m-q4_k_m.gguf";
  }
  return !path.empty() && std::filesystem::is_regular_file(path) ? path : std::string();
}

std::string source_dir() { return NEXUS_SOURCE_DIR; }

std::string temp_dir() {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp && *tmp ? tmp : "/tmp";
  std::string dir = base + "/nexus_test_" + std::to_string(getpid()) + "_" +
                    std::to_string(counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string synth_model(const SynthSpec& spec, const std::string& file_name) {
  const std::string path = temp_dir() + "/" + file_name;
  ThreadPool pool(2);
  const Status st = synth_model_file(spec, path, pool);
  NX_CHECK(st.ok(), "synth: %s", st.error().message.c_str());
  const int fd = ::open(path.c_str(), O_RDONLY);
  ::fsync(fd);
  ::close(fd);
  return path;
}

static std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

CommandResult run_nexus(const std::string& args, const std::string& stdin_text) {
  std::string dir = temp_dir();
  std::string in = dir + "/stdin", out = dir + "/stdout", err = dir + "/stderr";
  std::ofstream(in, std::ios::binary) << stdin_text;
  std::string cmd = std::string("'") + NEXUS_CLI_PATH + "' " + args + " <'" + in + "' >'" + out +
                    "' 2>'" + err + "'";
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_all(out);
  r.err = read_all(err);
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace nexus::test
