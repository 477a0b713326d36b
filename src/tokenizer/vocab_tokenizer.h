// The part of every vocabulary-based tokenizer (SPM, BPE) that does not depend on the subword
// algorithm: owning the Vocab, the special-token splitter over it, the special ids and the
// end-of-generation set. The algorithms derive from it and add encode/decode.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "tokenizer/special_split.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace nexus::tokenizer {

class VocabTokenizer : public Tokenizer {
 public:
  // splitter_ refers to vocab_, so the object stays where it was built.
  VocabTokenizer(const VocabTokenizer&) = delete;
  VocabTokenizer& operator=(const VocabTokenizer&) = delete;

  int32_t vocab_size() const override { return vocab_.size(); }
  int32_t bos() const override { return vocab_.bos_id; }
  int32_t eos() const override { return vocab_.eos_id; }
  bool is_end_of_generation(int32_t id) const override;

  const Vocab& vocab() const { return vocab_; }

 protected:
  // `extra_end_texts`: control-token texts that also end generation for this algorithm, on
  // top of Vocab::end_of_generation_ids' own list.
  explicit VocabTokenizer(Vocab vocab, std::initializer_list<std::string_view> extra_end_texts = {});

  Vocab vocab_;
  SpecialSplitter splitter_;

 private:
  std::vector<int32_t> end_of_generation_;  // sorted ids
};

}  // namespace nexus::tokenizer
