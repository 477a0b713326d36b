// libFuzzer target for the chat-template interpreter: any template text must parse and render
// to a string or give an Error, never crash, hang or allocate without bound.
// Seeds: the templates in tests/data/chat/*.json (the "template" fields, one per file).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "chat/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<nexus::ChatMessage> kMessages = {
      {"system", "Be brief."},
      {"user", "Hi <think>x</think> there"},
      {"assistant", "Hello!"},
      {"tool", "{\"temperature\": 21}"},
      {"user", "Grüße 🚀"},
  };
  std::string source(reinterpret_cast<const char*>(data), size);
  nexus::ChatRenderOptions opts;
  opts.bos_token = "<s>";
  opts.eos_token = "</s>";
  opts.add_generation_prompt = size % 2 == 0;
  opts.now = 0;
  nexus::Result<std::string> r = nexus::render_chat(source, kMessages, opts);
  if (!r.ok() && r.error().message.empty()) __builtin_trap();  // every error must say something
  if (r.ok() && r->size() > (4u << 20)) __builtin_trap();     // the output limit must hold
  return 0;
}
