#include "memory/tiered_weights.h"

#include "kv/kv_type.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "memory/layer_layout.h"
#include "memory/mem_stats.h"
#include "memory/size_parse.h"
#include "memory/streamed_layers.h"

namespace nexus {

namespace {

constexpr uint64_t kAlign = 4096;
constexpr uint64_t kBaselineSlack = uint64_t{8} << 20;  // thread stacks, allocator slack, page tables
constexpr int kHeadStages = 32;  // the output head lands in this many runs of rows (B3: 9.6 MiB each)

// Per-layer matrices that may stream, most worth keeping resident first (residency_plan.h).
int stream_priority(std::string_view suffix) {
  if (suffix == "attn_k.weight") return 0;
  if (suffix == "attn_v.weight") return 1;
  if (suffix == "attn_q.weight") return 2;
  if (suffix == "attn_output.weight") return 3;
  if (suffix == "ffn_gate.weight" || suffix == "ffn_up.weight" || suffix == "ffn_down.weight") return 4;
  return -1;
}

// "blk.12.ffn_up.weight" -> 12 and "ffn_up.weight"; -1 for model-wide tensors.
int layer_of(const std::string& name, std::string_view* suffix) {
  *suffix = name;
  if (!name.starts_with("blk.")) return -1;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos) return -1;
  int il = 0;
  for (size_t i = 4; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    il = il * 10 + (name[i] - '0');
    if (il > (1 << 20)) return -1;
  }
  *suffix = std::string_view(name).substr(dot + 1);
  return il;
}

// Scratch a session keeps besides the KV cache (mirrors RunState, the logits and matmul's
// per-thread activation buffer; see session.cc and llama_forward.h).
uint64_t scratch_bytes(const ModelConfig& c, int n_ctx, int threads) {
  const uint64_t B = static_cast<uint64_t>(std::min(512, n_ctx));
  const uint64_t E = c.n_embd, Q = c.q_dim(), F = c.n_ff;
  const uint64_t run_state = B * (3 * E + 2 * Q + 2 * F + c.rope.n_rot + c.rope_local.n_rot) * 4 +
                             static_cast<uint64_t>(threads) * (c.n_head / c.n_head_kv) * n_ctx * 4;  // scores
  const uint64_t logits = static_cast<uint64_t>(c.n_vocab) * 4;
  const uint64_t act = B * std::max({E, Q, F}) * 5 / 4;  // quantized activations of one matmul
  return run_state + logits + act;
}

// The planner's input for `file` under `o`: the budget's fixed parts and every tensor's use.
PlanInput make_plan_input(const gguf::File& file, const ModelConfig& c, const TieredOptions& o) {
  PlanInput in;
  in.n_layer = c.n_layer;
  in.n_ctx = o.n_ctx;
  in.budget = o.budget;
  in.kv_bytes = kv_cache_bytes(o.kv_type, c.n_layer, c.kv_dim(), o.n_ctx);
  in.scratch_bytes = scratch_bytes(c, o.n_ctx, o.threads);
  in.max_slots = o.max_slots;
  in.align = kAlign;
  // The process as it is now, less the file's header pages that parsing touched (they are
  // dropped below), plus what it has yet to allocate: code, heap, tokenizer, and the resident
  // copy's bounce buffers.
  const ProcessMemory pm = process_memory();
  const uint64_t header = std::min<uint64_t>(pm.rss_file, (file.data_offset() + kAlign - 1) / kAlign * kAlign);
  in.baseline_bytes = pm.rss - header + kBaselineSlack + LayerRing::kCopyBounceBytes + o.pending_bytes;

  const bool has_output = file.find_tensor("output.weight") != nullptr;
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  for (const gguf::TensorInfo& t : file.tensors()) {
    PlanTensor p;
    p.name = t.name;
    p.offset = file.data_offset() + t.offset;
    p.nbytes = t.nbytes;
    std::string_view suffix;
    p.layer = layer_of(t.name, &suffix);
    const int prio = p.layer >= 0 && p.layer < c.n_layer ? stream_priority(suffix) : -1;
    if (prio >= 0 && t.n_dims >= 2) {
      p.use = TensorUse::kStreamable;
      p.priority = prio;
    } else if (&t == embd && has_output) {
      p.use = TensorUse::kOnDemand;
      // Each token pages in about one row: one page per context position at most.
      in.on_demand_bytes = static_cast<uint64_t>(o.n_ctx) * kAlign;
    } else {
      p.use = TensorUse::kPinned;
    }
    in.tensors.push_back(std::move(p));
  }
  return in;
}

// The resident tensors' file ranges, aligned and merged: what the copy reads.
std::vector<Extent> resident_ranges(const PlanInput& in, const ResidencyPlan& plan) {
  std::vector<Extent> ranges;
  for (size_t i = 0; i < in.tensors.size(); ++i)
    if (plan.resident[i]) ranges.push_back({in.tensors[i].offset, in.tensors[i].nbytes});
  return merge_extents(ranges, kAlign);
}

}  // namespace

Result<std::vector<Extent>> TieredWeights::plan_resident_extents(const gguf::File& file, const ModelConfig& c,
                                                                 const TieredOptions& o) {
  const PlanInput in = make_plan_input(file, c, o);
  NX_ASSIGN_OR_RETURN(const ResidencyPlan plan, plan_residency(in));
  return resident_ranges(in, plan);
}

Result<std::unique_ptr<TieredWeights>> TieredWeights::create(const std::string& path, const gguf::File& file,
                                                            const ModelConfig& c, LlamaWeights& w,
                                                            const TieredOptions& o) {
  NX_CHECK(o.budget > 0 && o.n_ctx > 0, "budget %llu ctx %d", static_cast<unsigned long long>(o.budget), o.n_ctx);
  std::unique_ptr<TieredWeights> tw(new TieredWeights());
  tw->input_ = make_plan_input(file, c, o);
  const PlanInput& in = tw->input_;
  NX_ASSIGN_OR_RETURN(tw->plan_, plan_residency(in));
  const ResidencyPlan& plan = tw->plan_;

  // Map every view of `w` to its tensor by the address it points at in the mapping.
  std::map<const void*, size_t> tensor_at;
  for (size_t i = 0; i < file.tensors().size(); ++i) tensor_at[file.view(file.tensors()[i]).data] = i;

  // The resident copy: aligned extents of the resident tensors, back to back.
  tw->resident_extents_ = resident_ranges(in, plan);
  const std::vector<Extent>& res_extents = tw->resident_extents_;
  std::vector<uint64_t> res_dst;
  for (const Extent& e : res_extents) {
    res_dst.push_back(tw->arena_bytes_);
    tw->arena_bytes_ += e.len;
  }
  // Where a file offset landed in the arena (the extent holding it).
  auto arena_ptr = [&](uint64_t offset) -> uint8_t* {
    auto it = std::upper_bound(res_extents.begin(), res_extents.end(), offset,
                               [](uint64_t v, const Extent& e) { return v < e.offset; });
    NX_CHECK(it != res_extents.begin(), "offset %llu before every resident extent", static_cast<unsigned long long>(offset));
    --it;
    const size_t k = static_cast<size_t>(it - res_extents.begin());
    return tw->arena_ + res_dst[k] + (offset - it->offset);
  };

  LayerRingOptions ro;
  ro.backend = o.backend;
  ro.n_slots = std::max(1, plan.n_slots);
  ro.direct = o.direct;
  ro.mlock = o.mlock;
  NX_ASSIGN_OR_RETURN(std::unique_ptr<LayerRing> ring, LayerRing::open(path, plan.layer_extents, ro));
  tw->backend_ = ring->backend_name();
  tw->direct_ = ring->direct();

  if (tw->arena_bytes_ > 0) {
    void* p = ::mmap(nullptr, tw->arena_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return make_error(format("cannot allocate %s for the resident weights: %s",
                               format_size(tw->arena_bytes_).c_str(), std::strerror(errno)));
    tw->arena_ = static_cast<uint8_t*>(p);
    if (o.mlock && ::mlock(tw->arena_, tw->arena_bytes_) != 0)
      return make_error(format("cannot mlock %s of resident weights: %s (raise the memlock limit, ulimit -l)",
                               format_size(tw->arena_bytes_).c_str(), std::strerror(errno)));
  }
  // The copy in the order the first pass needs it (streamed_layers.h: stage 0 = model-wide
  // weights read first, il + 1 = layer il, then the output norm, anything the forward pass
  // does not read and the head). The head lands in kHeadStages runs of whole rows, stages
  // n_layer + 1 + k, so the first pass projects the rows that have landed while the rest are
  // read: after the last byte lands there is one run's projection left, not the whole head's
  // (26 ms on B3). head_rows[k]: rows readable once stage n_layer + 1 + k has landed.
  // Extents are cut at tensor (and run) starts so each piece takes the earliest stage of the
  // bytes in it.
  auto stage_of = [&](const PlanTensor& t) {
    if (t.layer >= 0) return t.layer < c.n_layer ? t.layer + 1 : c.n_layer + 1;
    return t.name.starts_with("output") ? c.n_layer + 1 : 0;
  };
  std::vector<int64_t> head_rows;
  int last_stage = 0;
  std::vector<LayerRing::CopyPiece> pieces;
  {
    struct Span {
      uint64_t begin, end;  // bytes in the file: a tensor, or a run of whole rows of the head
      int stage;
    };
    std::vector<Span> spans;
    for (size_t i = 0; i < in.tensors.size(); ++i) {
      if (!plan.resident[i]) continue;
      const PlanTensor& t = in.tensors[i];
      const gguf::TensorInfo& info = file.tensors()[i];
      if (t.name == "output.weight" && info.ne[1] > 0 && w.output.data == file.view(info).data) {
        const int64_t rows = info.ne[1];
        const uint64_t row_bytes = t.nbytes / static_cast<uint64_t>(rows);
        const int64_t per_stage = (rows + kHeadStages - 1) / kHeadStages;
        for (int64_t r = 0; r < rows; r += per_stage) {
          const int64_t end = std::min(rows, r + per_stage);
          spans.push_back({t.offset + static_cast<uint64_t>(r) * row_bytes, t.offset + static_cast<uint64_t>(end) * row_bytes,
                           c.n_layer + 1 + static_cast<int>(head_rows.size())});
          head_rows.push_back(end);
        }
        continue;
      }
      spans.push_back({t.offset, t.offset + t.nbytes, stage_of(t)});
    }
    if (head_rows.empty()) head_rows.push_back(w.output.rows());  // not copied in rows: one stage
    last_stage = c.n_layer + static_cast<int>(head_rows.size());
    std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.begin < y.begin; });
    size_t first = 0;  // first span ending past the current piece's start
    for (size_t k = 0; k < res_extents.size(); ++k) {
      const Extent& e = res_extents[k];
      uint64_t at = e.offset;
      while (at < e.offset + e.len) {
        while (first < spans.size() && spans[first].end <= at) ++first;
        // The piece ends at the next aligned tensor start past `at` (or the extent's end).
        uint64_t end = e.offset + e.len;
        for (size_t u = first; u < spans.size() && spans[u].begin / kAlign * kAlign < end; ++u)
          if (spans[u].begin / kAlign * kAlign > at) end = spans[u].begin / kAlign * kAlign;
        int stage = last_stage;
        for (size_t u = first; u < spans.size() && spans[u].begin < end; ++u) stage = std::min(stage, spans[u].stage);
        pieces.push_back({at, end - at, tw->arena_ + res_dst[k] + (at - e.offset), stage});
        at = end;
      }
    }
    std::stable_sort(pieces.begin(), pieces.end(),
                     [](const LayerRing::CopyPiece& x, const LayerRing::CopyPiece& y) { return x.stage < y.stage; });
  }
  NX_TRY(ring->start_copy(pieces));

  // Re-point resident views at the copy; collect slot patches for the streamed ones.
  auto repoint = [&](TensorView& v) -> const PlanTensor* {
    if (!v.data) return nullptr;
    auto it = tensor_at.find(v.data);
    NX_CHECK(it != tensor_at.end(), "a weight view points outside the file's tensors");
    const PlanTensor& t = in.tensors[it->second];
    if (plan.resident[it->second]) v.data = arena_ptr(t.offset);
    return plan.resident[it->second] || t.use == TensorUse::kOnDemand ? nullptr : &t;
  };
  repoint(w.token_embd);
  repoint(w.output_norm);
  repoint(w.output);
  repoint(w.rope_freqs);
  std::vector<std::vector<SlotPatch>> patches(c.n_layer);
  for (int il = 0; il < c.n_layer; ++il) {
    const std::vector<Extent>& ex = plan.layer_extents[il];
    for (TensorView LayerWeights::*field : layer_weight_fields()) {
      const PlanTensor* t = repoint(w.layers[il].*field);
      if (!t) continue;
      uint64_t dst = 0;
      bool found = false;
      for (const Extent& e : ex) {
        if (t->offset >= e.offset && t->offset + t->nbytes <= e.offset + e.len) {
          patches[il].push_back({field, dst + (t->offset - e.offset)});
          found = true;
          break;
        }
        dst += e.len;
      }
      NX_CHECK(found, "streamed tensor '%s' is in no extent of layer %d", t->name.c_str(), il);
    }
  }

  // The mapping's pages are no longer needed for resident or streamed tensors: drop them from
  // this process and from the page cache. An untied embedding's rows are paged in on demand,
  // one page at a time (no read-around).
  std::span<const uint8_t> mapped = file.bytes();
  if (!mapped.empty()) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(mapped.data());
    ::madvise(reinterpret_cast<void*>(base), mapped.size(), MADV_DONTNEED);
    if (in.on_demand_bytes > 0 && w.token_embd.data) {  // an untied embedding (make_plan_input)
      const uintptr_t b = reinterpret_cast<uintptr_t>(w.token_embd.data) / kAlign * kAlign;
      ::madvise(reinterpret_cast<void*>(b), w.token_embd.nbytes + kAlign, MADV_RANDOM);
    }
  }
  NX_TRY(drop_file_cache(path));

  bool any_streamed = false;
  for (const auto& p : patches) any_streamed = any_streamed || !p.empty();
  // Weights are read-only once they have landed: per stage when the first pass seals them as
  // it goes (streamed_layers.h), all at once otherwise.
  if (any_streamed) {  // the first forward pass waits for the copy stage by stage
    std::vector<std::vector<std::pair<uint8_t*, uint64_t>>> stage_ranges(static_cast<size_t>(last_stage) + 1);
    for (const LayerRing::CopyPiece& p : pieces) {
      auto& ranges = stage_ranges[static_cast<size_t>(p.stage)];
      if (!ranges.empty() && ranges.back().first + ranges.back().second == p.dst)
        ranges.back().second += p.len;  // adjacent in the arena: one call
      else
        ranges.emplace_back(p.dst, p.len);
    }
    // One mprotect per run of adjacent ranges across the stages. While the copy lands, a call
    // costs about 1 ms whatever its size (B3 at 1G: one 9.6 MiB run of the head ~1 ms, 27 runs
    // that had landed together 5.8 ms in one call), and after a late last layer the head's
    // landed runs, sealed one by one, held the first token back by 20 ms.
    auto seal = [stage_ranges = std::move(stage_ranges)](int first, int last) {
      uint8_t* run = nullptr;
      uint64_t run_len = 0;
      for (int s = first; s <= last; ++s)
        for (const auto& [p, n] : stage_ranges[static_cast<size_t>(s)]) {
          if (run != nullptr && run + run_len == p) {
            run_len += n;
            continue;
          }
          if (run != nullptr) ::mprotect(run, run_len, PROT_READ);
          run = p;
          run_len = n;
        }
      if (run != nullptr) ::mprotect(run, run_len, PROT_READ);
    };
    tw->ring_ = ring.get();
    tw->source_ = std::make_unique<StreamedLayers>(w.layers, std::move(patches), std::move(ring), std::move(head_rows),
                                                   std::move(seal));
  } else {  // nothing streams: no pass waits, so the load does; then the ring and its threads go
    NX_TRY(ring->wait_copy(last_stage));
    if (tw->arena_) ::mprotect(tw->arena_, tw->arena_bytes_, PROT_READ);
    tw->load_read_s_ = ring->copy_seconds();
    tw->resident_read_ = ring->resident_bytes_read();
  }
  return tw;
}

double TieredWeights::load_read_seconds() const { return ring_ ? ring_->copy_seconds() : load_read_s_; }

uint64_t TieredWeights::resident_bytes_read() const { return ring_ ? ring_->resident_bytes_read() : resident_read_; }

TieredWeights::~TieredWeights() {
  source_.reset();  // waits for reads in flight before the slots go
  if (arena_) ::munmap(arena_, arena_bytes_);
}

StreamStats TieredWeights::stats() const { return ring_ ? ring_->stats() : StreamStats{}; }

void TieredWeights::reset_stats() {
  if (ring_) ring_->reset_stats();
}

Result<IoOnlyRate> TieredWeights::measure_io_only(int warmup, int passes) {
  if (!ring_) return IoOnlyRate{};
  return ring_->measure_io_only(warmup, passes);
}

std::string TieredWeights::describe() const {
  std::string s = describe_plan(input_, plan_);
  const double copy_s = load_read_seconds();
  s += format("  I/O: %s, %s; resident copy %s read %s\n", backend_.c_str(), direct_ ? "O_DIRECT" : "buffered + DONTNEED",
              format_size(resident_bytes_read()).c_str(),
              copy_s > 0 ? format("in %.2f s", copy_s).c_str() : "so far (it lands during the first forward pass)");
  return s;
}

}  // namespace nexus
