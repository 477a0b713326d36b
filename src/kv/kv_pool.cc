#include "kv/kv_pool.h"

namespace nexus {

KvPool::KvPool(int n_layer, int kv_dim, int block_tokens, int n_blocks, DType type, int head_dim)
    : n_layer_(n_layer),
      kv_dim_(kv_dim),
      block_tokens_(block_tokens),
      n_blocks_(n_blocks),
      type_(type),
      head_dim_(head_dim > 0 ? head_dim : kv_dim),
      head_bytes_(row_bytes(type, head_dim_)),
      k_(static_cast<size_t>(n_blocks) * n_layer * block_tokens * (kv_dim / head_dim_) * head_bytes_),
      v_(static_cast<size_t>(n_blocks) * n_layer * block_tokens * (kv_dim / head_dim_) * head_bytes_),
      refs_(n_blocks, 0),
      hash_of_(n_blocks, 0),
      lru_pos_(n_blocks) {
  NX_CHECK(n_layer > 0 && kv_dim > 0 && block_tokens > 0 && n_blocks > 0 && kv_dim % head_dim_ == 0,
           "KvPool %d layers, %d dims (heads of %d), %d x %d", n_layer, kv_dim, head_dim_, n_blocks, block_tokens);
  // Hand out low block numbers first: a single sequence then gets its blocks in order.
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int KvPool::allocate() {
  int block;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    block = lru_.front();
    lru_.pop_front();
    forget_hash(block);
  } else {
    return -1;
  }
  refs_[block] = 1;
  ++in_use_;
  return block;
}

void KvPool::retain(int block) {
  NX_CHECK(block >= 0 && block < n_blocks_, "retain of block %d", block);
  if (refs_[block]++ == 0) {  // a cached block comes back into use
    lru_.erase(lru_pos_[block]);
    ++in_use_;
  }
}

void KvPool::release(int block) {
  NX_CHECK(block >= 0 && block < n_blocks_ && refs_[block] > 0, "release of block %d", block);
  if (--refs_[block] > 0) return;
  --in_use_;
  if (hash_of_[block] != 0) {
    lru_pos_[block] = lru_.insert(lru_.end(), block);
  } else {
    free_.push_back(block);
  }
}

uint64_t KvPool::hash_block(uint64_t prev, std::span<const int32_t> tokens) {
  // FNV-1a over the previous hash and the token ids; 0 is reserved for "no hash".
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t x) {
    for (int i = 0; i < 8; ++i) {
      h ^= (x >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(prev);
  for (int32_t t : tokens) mix(static_cast<uint32_t>(t));
  return h == 0 ? 1 : h;
}

int KvPool::find_cached(uint64_t hash) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return -1;
  retain(it->second);
  return it->second;
}

void KvPool::publish(int block, uint64_t hash) {
  NX_CHECK(block >= 0 && block < n_blocks_ && refs_[block] > 0, "publish of block %d", block);
  if (hash_of_[block] != 0 || by_hash_.count(hash)) return;
  hash_of_[block] = hash;
  by_hash_.emplace(hash, block);
}

void KvPool::forget_hash(int block) {
  if (hash_of_[block] == 0) return;
  by_hash_.erase(hash_of_[block]);
  hash_of_[block] = 0;
}

}  // namespace nexus
