// nexus convert HF_DIR OUT.gguf [--type F32|F16|BF16|Q8_0|...]: Hugging Face checkpoint -> GGUF.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "gguf/hf_import.h"

namespace nexus::cli {
namespace {

struct ConvertArgs {
  std::string hf_dir;
  std::string out;
  std::string type = "F32";
};

CommandRun setup_convert(CLI::App& sub) {
  auto args = std::make_shared<ConvertArgs>();
  sub.add_option("hf_dir", args->hf_dir, "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)")
      ->required();
  sub.add_option("out", args->out, "output GGUF file")->required();
  sub.add_option("--type", args->type, "storage type of 2-D weights: F32, F16, BF16, Q8_0, Q4_K, ...")
      ->capture_default_str();
  return [args]() -> int {
    std::optional<DType> type = dtype_from_name(args->type);
    if (!type) return fail("unknown --type '" + args->type + "'");
    hf::ConvertOptions options;
    options.type = *type;
    Status s = hf::convert(args->hf_dir, args->out, options,
                           [](const std::string& line) { std::fprintf(stderr, "convert: %s\n", line.c_str()); });
    if (!s.ok()) return fail(s.error().message);
    return 0;
  };
}

NEXUS_COMMAND("convert", "convert a Hugging Face model directory to GGUF", setup_convert);

}  // namespace
}  // namespace nexus::cli
