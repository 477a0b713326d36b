#include "tokenizer/vocab_tokenizer.h"

#include <algorithm>

namespace nexus::tokenizer {

VocabTokenizer::VocabTokenizer(Vocab vocab, std::initializer_list<std::string_view> extra_end_texts)
    : vocab_(std::move(vocab)), splitter_(vocab_), end_of_generation_(vocab_.end_of_generation_ids(extra_end_texts)) {}

bool VocabTokenizer::is_end_of_generation(int32_t id) const {
  return std::binary_search(end_of_generation_.begin(), end_of_generation_.end(), id);
}

}  // namespace nexus::tokenizer
