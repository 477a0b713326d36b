// nexus tokenize -m MODEL [-p TEXT]: prints the token ids of TEXT (or of all of stdin) on one
// line. Reads only the GGUF metadata; the weights are never touched.
#include <cstdio>
#include <memory>
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

int run_tokenize(const TokenizeOptions& opt) {
  Result<gguf::File> file = gguf::File::open(opt.model);
  if (!file) return fail(opt.model + ": " + file.error().message);
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf(*file);
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
  sub.add_option("-m,--model", opt->model, "GGUF file holding the vocabulary")->required();
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
