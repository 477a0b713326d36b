// One sequence's keys and values: a table of blocks from a KvPool, position p living in
// block blocks[p / block_tokens] at slot p % block_tokens. A Session owns a pool of its own
// sized for its context; the server's sequences share one pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_pool.h"

namespace nexus {

class KvCache {
 public:
  explicit KvCache(KvPool& pool) : pool_(&pool), shift_(log2_exact(pool.block_tokens())) {}
  ~KvCache() { clear(); }
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int kv_dim() const { return pool_->kv_dim(); }
  DType type() const { return pool_->type(); }
  int capacity() const { return static_cast<int>(blocks_.size()) << shift_; }  // positions with a block
  int block_tokens() const { return pool_->block_tokens(); }
  std::span<const int> blocks() const { return blocks_; }
  KvPool& pool() { return *pool_; }
  const KvPool& pool() const { return *pool_; }

  // Head `head` of `pos` (< capacity()) in `layer`: head_dim elements of type(). Positions
  // of one block follow each other at pool().head_bytes() apart.
  const uint8_t* k(int layer, int pos, int head = 0) const { return pool_->k(block_of(pos), layer, head, slot_of(pos)); }
  const uint8_t* v(int layer, int pos, int head = 0) const { return pool_->v(block_of(pos), layer, head, slot_of(pos)); }
  // Writes position `pos` of `layer` from kv_dim floats each, converted to type().
  void store(int layer, int pos, const float* k, const float* v);

  // Allocates blocks until capacity() >= n_positions. False (with what was allocated kept)
  // when the pool runs out.
  bool reserve(int n_positions);
  // Appends a block someone else filled (a cached prefix), already retained for this sequence.
  void append_shared(int block) { blocks_.push_back(block); }
  // Releases every block past the first ceil(n_positions / block_tokens).
  void shrink(int n_positions);
  void clear() { shrink(0); }

 private:
  static int log2_exact(int n);
  int block_of(int pos) const {
    NX_DCHECK(pos >= 0 && pos < capacity(), "position %d of %d", pos, capacity());
    return blocks_[pos >> shift_];
  }
  int slot_of(int pos) const { return pos & ((1 << shift_) - 1); }

  KvPool* pool_;
  int shift_;
  std::vector<int> blocks_;
};

}  // namespace nexus
