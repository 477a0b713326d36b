// nexus tokenize -m MODEL [-p TEXT]: prints the token ids of TEXT (or of all of stdin) on one
// line. MODEL is a GGUF file (only its metadata is read; the weights are never touched) or a
// Hugging Face tokenizer.json (with tokenizer_config.json beside it, when present).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "cli/command.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace nexus::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  bool has_prompt = false;
  bool no_bos = false;
  bool special = false;
};

bool read_all_stdin(std::string& out) {
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) out.append(buf, n);
  return !std::ferror(stdin);
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Whole file into `out`; false when it cannot be read. Refuses files over 1 GiB.
bool read_file(const std::string& path, std::string& out) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > (1ull << 30)) return false;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return static_cast<bool>(in) || in.eof();
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path) {
  if (ends_with(path, ".json")) {
    std::string text, config;
    if (!read_file(path, text)) return make_error("cannot read file");
    const std::string config_path = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
    if (std::filesystem::exists(config_path) && !read_file(config_path, config))
      return make_error("cannot read " + config_path);
    return Tokenizer::from_hf_json(text, config);
  }
  NX_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path));
  return Tokenizer::from_gguf(file);
}

int run_tokenize(const TokenizeOptions& opt) {
  Result<std::unique_ptr<Tokenizer>> tok = load_tokenizer(opt.model);
  if (!tok) return fail(opt.model + ": " + tok.error().message);

  std::string text = opt.prompt;
  if (!opt.has_prompt && !read_all_stdin(text)) return fail("cannot read standard input");

  const std::vector<int32_t> ids = (*tok)->encode(text, !opt.no_bos, opt.special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) line += ' ';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

CommandRun setup(CLI::App& sub) {
  auto opt = std::make_shared<TokenizeOptions>();
  sub.add_option("-m,--model", opt->model, "GGUF file holding the vocabulary, or a Hugging Face tokenizer.json")->required();
  CLI::Option* prompt = sub.add_option("-p,--prompt", opt->prompt, "Text to tokenize (default: all of stdin)");
  sub.add_flag("--no-bos", opt->no_bos, "Do not add BOS (or EOS) even if the vocabulary asks for it");
  sub.add_flag("--special", opt->special, "Map control-token texts such as <s> in the text to their ids");
  return [opt, prompt] {
    opt->has_prompt = prompt->count() > 0;
    return run_tokenize(*opt);
  };
}

NEXUS_COMMAND("tokenize", "Print the token ids of a text", setup);

}  // namespace
}  // namespace nexus::cli
