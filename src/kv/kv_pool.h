// KV memory in fixed-size blocks from one pool (paged attention's layout), so sequences of any
// length share memory without fragmentation, and full blocks can be shared between sequences
// whose prompts start alike (prefix reuse).
//
// A block holds block_tokens consecutive positions of one sequence, for every layer and KV
// head: k[block][layer][head][slot] = head_dim elements in the pool's type (F32, F16 or Q8_0,
// kv_type.h), same for v. One head's keys of a block are contiguous, so attention over a
// block reads one run of memory per head instead of a slice of every row. Blocks are reference-counted; a block whose
// count drops to zero stays "cached" (its keys and values intact, findable by the hash of the
// tokens it and all blocks before it hold) until allocate() needs it, least recently used first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

#include "nexus/result.h"
#include "runtime/zero_pages.h"
#include "tensor/dtype.h"

namespace nexus {

class KvPool {
 public:
  // head_dim divides kv_dim (default: the whole row is one head).
  KvPool(int n_layer, int kv_dim, int block_tokens, int n_blocks, DType type = DType::F32, int head_dim = 0);

  int n_layer() const { return n_layer_; }
  int kv_dim() const { return kv_dim_; }
  int block_tokens() const { return block_tokens_; }
  int n_blocks() const { return n_blocks_; }
  DType type() const { return type_; }
  int head_dim() const { return head_dim_; }
  int n_heads() const { return kv_dim_ / head_dim_; }
  size_t head_bytes() const { return head_bytes_; }  // one position's K (or V) of one head
  size_t bytes() const { return k_.size() + v_.size(); }

  // Head `head` of `slot` (0..block_tokens) of `block` in `layer`: head_dim elements of
  // type(); the next slot's follow at + head_bytes().
  uint8_t* k(int block, int layer, int head, int slot) { return k_.data() + offset(block, layer, head, slot); }
  uint8_t* v(int block, int layer, int head, int slot) { return v_.data() + offset(block, layer, head, slot); }
  const uint8_t* k(int block, int layer, int head, int slot) const {
    return k_.data() + offset(block, layer, head, slot);
  }
  const uint8_t* v(int block, int layer, int head, int slot) const {
    return v_.data() + offset(block, layer, head, slot);
  }

  // A block with count 1: a never-used one, else the least recently used cached one (its
  // prefix entry dropped). -1 when every block is in use.
  int allocate();
  void retain(int block);
  void release(int block);  // count 0: back to the free list, or cached when it has a prefix hash

  // Prefix cache. hash_block chains: h_i = hash(h_{i-1}, tokens of block i), with h_{-1} = 0,
  // so a hash names a block's tokens and everything before them.
  static uint64_t hash_block(uint64_t prev, std::span<const int32_t> tokens);
  // The block holding exactly that prefix, retained for the caller; -1 when not cached.
  int find_cached(uint64_t hash);
  // Records that `block` (full, in use) holds the prefix named by `hash`. A block already
  // published under another hash, or a hash already published, is left as it is.
  void publish(int block, uint64_t hash);

  int blocks_in_use() const { return in_use_; }              // count > 0
  int blocks_cached() const { return static_cast<int>(lru_.size()); }  // count 0, prefix kept
  int blocks_available() const { return n_blocks_ - in_use_; }  // free + cached

 private:
  size_t offset(int block, int layer, int head, int slot) const {
    NX_DCHECK(block >= 0 && block < n_blocks_ && layer >= 0 && layer < n_layer_ && head >= 0 && head < n_heads() &&
                  slot >= 0 && slot < block_tokens_,
              "block %d layer %d head %d slot %d", block, layer, head, slot);
    return (((static_cast<size_t>(block) * n_layer_ + layer) * n_heads() + head) * block_tokens_ + slot) *
           head_bytes_;
  }
  void forget_hash(int block);

  int n_layer_, kv_dim_, block_tokens_, n_blocks_;
  DType type_;
  int head_dim_;
  size_t head_bytes_;
  ZeroPages k_, v_;  // pages are touched as positions are written
  std::vector<int> refs_;
  std::vector<uint64_t> hash_of_;           // 0: no prefix published
  std::vector<int> free_;                   // count 0, no prefix
  std::list<int> lru_;                      // count 0 with a prefix, least recently used first
  std::vector<std::list<int>::iterator> lru_pos_;
  std::unordered_map<uint64_t, int> by_hash_;
  int in_use_ = 0;
};

}  // namespace nexus
