#include "kv/kv_cache.h"

#include "kv/kv_type.h"

namespace nexus {

int KvCache::log2_exact(int n) {
  int s = 0;
  while ((1 << s) < n) ++s;
  NX_CHECK((1 << s) == n, "block size %d is not a power of two", n);
  return s;
}

void KvCache::store(int layer, int pos, const float* k, const float* v) {
  const int hd = pool_->head_dim();
  for (int h = 0; h < pool_->n_heads(); ++h) {
    encode_kv_row(type(), k + h * hd, pool_->k(block_of(pos), layer, h, slot_of(pos)), hd);
    encode_kv_row(type(), v + h * hd, pool_->v(block_of(pos), layer, h, slot_of(pos)), hd);
  }
}

bool KvCache::reserve(int n_positions) {
  while (capacity() < n_positions) {
    const int b = pool_->allocate();
    if (b < 0) return false;
    blocks_.push_back(b);
  }
  return true;
}

void KvCache::shrink(int n_positions) {
  const size_t keep = static_cast<size_t>((n_positions + block_tokens() - 1) >> shift_);
  while (blocks_.size() > keep) {
    pool_->release(blocks_.back());
    blocks_.pop_back();
  }
}

}  // namespace nexus
