#include "model/interleaved_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>
#include <vector>

#include "kernels/kernel_table.h"
#include "memory/mem_stats.h"
#include "runtime/thread_pool.h"
#include "tensor/interleaved_rows.h"

namespace nexus {

namespace {

// Drops this process's pages of [p, p + n) of a read-only file mapping (whole pages inside
// the range only): the bytes now live in the interleaved copy.
void release_file_pages(const void* p, size_t n) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (begin < end) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

// The interleaved layout of a file type, where this CPU's kernel table has a gemm for it.
const InterleavedLayout* layout_for(DType t) {
  for (const InterleavedLayout& l : kInterleavedLayouts)
    if (l.plain == t && kernels().entry(l.interleaved).gemm != nullptr) return &l;
  return nullptr;
}

Result<InterleavedWeights> interleave_weights(LlamaWeights& w, int threads) {
  InterleavedWeights out;
  std::vector<TensorView*> todo;
  auto consider = [&](TensorView& t) {
    if (t.data != nullptr && layout_for(t.type) && t.rows() % 8 == 0 && t.data != w.token_embd.data)
      todo.push_back(&t);
  };
  for (LayerWeights& l : w.layers)
    for (TensorView* t : {&l.attn_q, &l.attn_k, &l.attn_v, &l.attn_output, &l.ffn_gate, &l.ffn_up, &l.ffn_down})
      consider(*t);
  consider(w.output);  // skipped when tied to token_embd
  if (todo.empty()) return out;

  constexpr size_t kAlign = 64;
  size_t total = 0;
  for (const TensorView* t : todo) total += (t->nbytes + kAlign - 1) / kAlign * kAlign;
  // The copy is anonymous memory the kernel cannot drop, where the file's pages could be; a
  // model near or past the machine's memory stays mapped (slow, but it runs).
  const uint64_t available = available_memory_bytes();
  if (available > 0 && total > available / 4 * 3) return out;
  try {
    out.storage = ZeroPages(total);
  } catch (const std::bad_alloc&) {
    return make_error(format("cannot allocate %zu bytes for the interleaved weights (--no-repack loads without)", total));
  }
  ThreadPool pool(threads);
  size_t offset = 0;
  for (TensorView* t : todo) {
    uint8_t* dst = out.storage.data() + offset;
    const auto* src = static_cast<const uint8_t*>(t->data);
    const InterleavedLayout& layout = *layout_for(t->type);
    const size_t group_bytes = 8 * t->row_stride();
    const int64_t cols = t->cols();
    pool.parallel_for(t->rows() / 8, 8, [&](int64_t g0, int64_t g1) {
      for (int64_t g = g0; g < g1; ++g) layout.interleave(src + g * group_bytes, cols, dst + g * group_bytes);
    });
    release_file_pages(t->data, t->nbytes);
    t->type = layout.interleaved;
    t->data = dst;
    offset += (t->nbytes + kAlign - 1) / kAlign * kAlign;
  }
  out.n_tensors = todo.size();
  return out;
}

}  // namespace nexus
