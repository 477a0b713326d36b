// libFuzzer target for tokenizer.json loading: any input must load into a Tokenizer or give a
// one-line Error, never crash, hang or allocate without bound; a loaded tokenizer must encode
// and decode arbitrary text without crashing and produce only ids inside its vocabulary.
// Seeds: small tokenizer.json files (models/TinyStories-656K/tokenizer.json, hand-written
// ones with Split/ByteLevel/Metaspace/normalizer steps).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  nexus::Result<std::unique_ptr<nexus::Tokenizer>> t = nexus::Tokenizer::from_hf_json(input);
  if (!t.ok()) {
    const std::string& m = t.error().message;
    if (m.empty() || m.find('\n') != std::string::npos) __builtin_trap();  // one line, says something
    return 0;
  }
  const nexus::Tokenizer& tok = **t;
  // The input's own tail is as good a hostile text as any: invalid UTF-8, odd spaces, specials.
  const std::string_view texts[] = {"Hello world! 123 4567  \n\n\t x\xC3\xA9 \xF0\x9F\xA6\x99 <s>",
                                    input.substr(size > 256 ? size - 256 : 0)};
  for (std::string_view text : texts) {
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = tok.encode(text, special, special);
      for (int32_t id : ids)
        if (id < 0 || id >= tok.vocab_size()) __builtin_trap();
      (void)tok.decode(ids, special);
    }
  }
  return 0;
}
