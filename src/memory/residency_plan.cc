#include "memory/residency_plan.h"

#include <algorithm>
#include <numeric>
#include <optional>

#include "memory/size_parse.h"

namespace nexus {

namespace {

uint64_t align_down(uint64_t v, uint64_t a) { return v / a * a; }
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t aligned_size(const PlanTensor& t, uint64_t a) {
  return align_up(t.offset + t.nbytes, a) - align_down(t.offset, a);
}

uint64_t extents_bytes(const std::vector<Extent>& e) {
  uint64_t s = 0;
  for (const Extent& x : e) s += x.len;
  return s;
}

// rank[il]: the order in which layers are made resident within one priority class, spread
// evenly over the model (van der Corput: the layers at n/2, n/4, 3n/4, n/8, ..., 0 last) rather
// than first to last. The ring reads ahead only as many layers as it has slots, so a run of
// fully resident layers leaves the disk idle while they compute; resident layers spread between
// streamed ones keep it busy. The first layer comes late: at the pass boundary the output head
// already computes with nothing to read.
std::vector<int> spread_rank(int n_layer) {
  std::vector<int> rank(static_cast<size_t>(std::max(n_layer, 0)), -1);
  int bits = 1;  // 2^bits points, at least two per layer: every layer is hit
  while ((1 << bits) < 2 * n_layer) ++bits;
  const uint32_t points = 1u << bits;
  int next = 0;
  for (uint32_t k = 1; k <= points; ++k) {
    const uint32_t j = k % points;  // 0 (the first layer) last
    uint32_t rev = 0;               // j's bits reversed: the j-th point of the sequence, times 2^bits
    for (int b = 0; b < bits; ++b) rev |= ((j >> b) & 1u) << (bits - 1 - b);
    const int il = static_cast<int>((static_cast<uint64_t>(rev) * static_cast<uint64_t>(n_layer)) >> bits);
    if (rank[il] < 0) rank[il] = next++;
  }
  return rank;
}

// One way to split a layer: the streamed matrices (bit k: by_layer's k-th tensor) and the bytes
// of their merged extents.
struct LayerChoice {
  uint32_t mask = 0;
  uint64_t streamed = 0;
};

// Bytes one layer streams under each split of its matrices: entry m streams the matrices whose
// bits are set in m (bit k: by_layer's k-th tensor), their extents merged.
std::vector<uint64_t> streamed_by_mask(const PlanInput& in, const std::vector<size_t>& tensors) {
  const size_t k = tensors.size();
  std::vector<uint64_t> out(size_t{1} << k);
  for (uint32_t m = 0; m < out.size(); ++m) {
    std::vector<Extent> r;
    for (size_t j = 0; j < k; ++j)
      if (m >> j & 1u) r.push_back({in.tensors[tensors[j]].offset, in.tensors[tensors[j]].nbytes});
    out[m] = extents_bytes(merge_extents(std::move(r), in.align));
  }
  return out;
}

// The distinct ways to split one layer (a dense layer has 7 matrices, so 128 splits). Of
// splits that stream the same bytes, the one streaming the least valuable matrices (highest
// priority numbers) is kept.
std::vector<LayerChoice> layer_choices(const PlanInput& in, const std::vector<size_t>& tensors,
                                       const std::vector<uint64_t>& by_mask) {
  std::vector<LayerChoice> out;
  std::vector<int> prio_sum;
  for (uint32_t m = 0; m < by_mask.size(); ++m) {
    int ps = 0;
    for (size_t j = 0; j < tensors.size(); ++j)
      if (m >> j & 1u) ps += in.tensors[tensors[j]].priority;
    const uint64_t bytes = by_mask[m];
    auto same = std::find_if(out.begin(), out.end(), [&](const LayerChoice& c) { return c.streamed == bytes; });
    if (same == out.end()) {
      out.push_back({m, bytes});
      prio_sum.push_back(ps);
    } else if (ps > prio_sum[same - out.begin()]) {
      same->mask = m;
      prio_sum[same - out.begin()] = ps;
    }
  }
  return out;
}

}  // namespace

std::vector<Extent> merge_extents(std::vector<Extent> ranges, uint64_t align) {
  for (Extent& r : ranges) {
    const uint64_t end = align_up(r.offset + r.len, align);
    r.offset = align_down(r.offset, align);
    r.len = end - r.offset;
  }
  std::sort(ranges.begin(), ranges.end(), [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
  std::vector<Extent> out;
  for (const Extent& r : ranges) {
    if (r.len == 0) continue;
    if (!out.empty() && r.offset <= out.back().offset + out.back().len) {
      out.back().len = std::max(out.back().offset + out.back().len, r.offset + r.len) - out.back().offset;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

Result<ResidencyPlan> plan_residency(const PlanInput& in) {
  const size_t T = in.tensors.size();
  ResidencyPlan p;
  p.resident.assign(T, false);
  p.fixed_bytes = in.kv_bytes + in.scratch_bytes + in.baseline_bytes + in.on_demand_bytes;

  uint64_t pinned = 0;
  std::vector<std::vector<size_t>> by_layer(static_cast<size_t>(std::max(in.n_layer, 0)));
  for (size_t i = 0; i < T; ++i) {
    const PlanTensor& t = in.tensors[i];
    if (t.use == TensorUse::kPinned) {
      p.resident[i] = true;
      pinned += aligned_size(t, in.align);
    } else if (t.use == TensorUse::kStreamable) {
      NX_CHECK(t.layer >= 0 && t.layer < in.n_layer, "streamable tensor '%s' has layer %d", t.name.c_str(), t.layer);
      by_layer[t.layer].push_back(i);
      NX_CHECK(by_layer[t.layer].size() <= 12, "layer %d has more than 12 streamable matrices", t.layer);
    }
  }
  // Streamed extents of one layer under a residency.
  auto layer_extents = [&](int il, const std::vector<bool>& resident) {
    std::vector<Extent> r;
    for (size_t i : by_layer[il])
      if (!resident[i]) r.push_back({in.tensors[i].offset, in.tensors[i].nbytes});
    return merge_extents(std::move(r), in.align);
  };
  std::vector<uint64_t> layer_bytes(by_layer.size());
  for (int il = 0; il < in.n_layer; ++il) layer_bytes[il] = extents_bytes(layer_extents(il, p.resident));
  const uint64_t full_slot = layer_bytes.empty() ? 0 : *std::max_element(layer_bytes.begin(), layer_bytes.end());

  p.min_budget = p.fixed_bytes + pinned + full_slot;
  if (in.budget < p.min_budget)
    return make_error(format(
        "memory budget %s is too small for this model at a context of %d tokens: the minimum is %s "
        "(KV cache %s, scratch %s, process baseline %s, resident norms and output head %s, one layer slot %s)",
        format_size(in.budget).c_str(), in.n_ctx, format_size(p.min_budget).c_str(), format_size(in.kv_bytes).c_str(),
        format_size(in.scratch_bytes).c_str(), format_size(in.baseline_bytes + in.on_demand_bytes).c_str(),
        format_size(pinned).c_str(), format_size(full_slot).c_str()));

  // The slot cap: every layer streams at most `cap` bytes, so a slot holds `cap` and each
  // layer keeps resident whatever it needs to get under it. Equal reads per layer keep the
  // disk busy through the whole pass; a plan with whole layers resident leaves it idle while
  // they compute, since the ring reads ahead only as many layers as it has slots. Every cap
  // that is some layer's streamed size under some choice of its matrices is tried, the budget
  // left after the cap's slots and required residency is filled greedily (below), and the
  // plan that streams the fewest bytes per pass wins. More slots come first: with one slot,
  // reading cannot overlap computing.
  std::vector<std::vector<uint64_t>> by_mask(by_layer.size());
  std::vector<std::vector<LayerChoice>> choices(by_layer.size());
  std::vector<uint64_t> caps;
  for (int il = 0; il < in.n_layer; ++il) {
    by_mask[il] = streamed_by_mask(in, by_layer[il]);
    choices[il] = layer_choices(in, by_layer[il], by_mask[il]);
    for (const LayerChoice& ch : choices[il]) caps.push_back(ch.streamed);
  }
  std::sort(caps.begin(), caps.end());
  caps.erase(std::unique(caps.begin(), caps.end()), caps.end());

  const std::vector<int> rank = spread_rank(in.n_layer);
  std::vector<size_t> fill_order;  // greedy fill: attention first, layers spread over the model
  for (size_t i = 0; i < T; ++i)
    if (in.tensors[i].use == TensorUse::kStreamable) fill_order.push_back(i);
  std::stable_sort(fill_order.begin(), fill_order.end(), [&](size_t a, size_t b) {
    const PlanTensor &x = in.tensors[a], &y = in.tensors[b];
    if (x.priority != y.priority) return x.priority < y.priority;
    return rank[x.layer] < rank[y.layer];
  });

  std::vector<uint32_t> bit_in_layer(T, 0);  // a streamable tensor's bit in its layer's masks
  for (const std::vector<size_t>& tensors : by_layer)
    for (size_t k = 0; k < tensors.size(); ++k) bit_in_layer[tensors[k]] = 1u << k;

  struct Candidate {
    std::vector<bool> resident;
    std::vector<uint32_t> streamed_mask;  // per layer
    std::vector<uint64_t> layer_bytes;
    uint64_t resident_bytes = 0, slot = 0, streamed = 0;
  };
  std::optional<Candidate> best;
  int slots = std::max(1, in.max_slots) + 1;
  while (!best && --slots >= 1) {
    for (uint64_t cap : caps) {
      Candidate c;
      c.resident = p.resident;
      c.streamed_mask.assign(by_layer.size(), 0);
      c.layer_bytes.assign(by_layer.size(), 0);
      c.resident_bytes = pinned;
      for (int il = 0; il < in.n_layer; ++il) {
        const LayerChoice* pick = nullptr;  // the most bytes under the cap
        for (const LayerChoice& ch : choices[il])
          if (ch.streamed <= cap && (!pick || ch.streamed > pick->streamed)) pick = &ch;
        for (size_t k = 0; k < by_layer[il].size(); ++k) {
          const bool streams = pick->mask >> k & 1u;
          c.resident[by_layer[il][k]] = !streams;
          if (!streams) c.resident_bytes += aligned_size(in.tensors[by_layer[il][k]], in.align);
        }
        c.streamed_mask[il] = pick->mask;
        c.layer_bytes[il] = pick->streamed;
        c.slot = std::max(c.slot, pick->streamed);
      }
      if (p.fixed_bytes + c.resident_bytes + static_cast<uint64_t>(slots) * c.slot > in.budget) continue;
      // Fill what the budget has left, one matrix at a time; a matrix made resident may also
      // shrink the slot (when its layer was the largest).
      for (size_t i : fill_order) {
        if (c.resident[i]) continue;
        const PlanTensor& t = in.tensors[i];
        const uint32_t new_mask = c.streamed_mask[t.layer] & ~bit_in_layer[i];
        const uint64_t new_layer = by_mask[t.layer][new_mask];
        uint64_t new_slot = new_layer;
        for (int il = 0; il < in.n_layer; ++il)
          if (il != t.layer) new_slot = std::max(new_slot, c.layer_bytes[il]);
        const uint64_t new_resident = c.resident_bytes + aligned_size(t, in.align);
        if (p.fixed_bytes + new_resident + static_cast<uint64_t>(slots) * new_slot <= in.budget) {
          c.resident[i] = true;
          c.streamed_mask[t.layer] = new_mask;
          c.resident_bytes = new_resident;
          c.layer_bytes[t.layer] = new_layer;
          c.slot = new_slot;
        }
      }
      for (uint64_t b : c.layer_bytes) c.streamed += b;
      if (!best || c.streamed < best->streamed) best = std::move(c);
    }
  }
  NX_CHECK(best.has_value(), "no plan within %llu bytes although the minimum %llu fits",
           static_cast<unsigned long long>(in.budget), static_cast<unsigned long long>(p.min_budget));
  p.resident = std::move(best->resident);
  const uint64_t resident = best->resident_bytes;
  const uint64_t slot = best->slot;

  p.layer_extents.resize(by_layer.size());
  for (int il = 0; il < in.n_layer; ++il) {
    p.layer_extents[il] = layer_extents(il, p.resident);
    p.streamed_bytes_per_pass += extents_bytes(p.layer_extents[il]);
    for (size_t i : by_layer[il])
      if (!p.resident[i]) p.streamed_tensor_bytes += in.tensors[i].nbytes;
  }
  p.n_slots = slot == 0 ? 0 : slots;
  p.slot_bytes = slot;
  p.resident_bytes = resident;
  p.total_bytes = p.fixed_bytes + resident + static_cast<uint64_t>(p.n_slots) * slot;
  return p;
}

std::string describe_plan(const PlanInput& in, const ResidencyPlan& p) {
  std::string s = format("memory plan: budget %s, planned %s\n", format_size(in.budget).c_str(),
                         format_size(p.total_bytes).c_str());
  s += format("  KV cache %s (context %d), scratch %s, process baseline %s, on-demand pages %s\n",
              format_size(in.kv_bytes).c_str(), in.n_ctx, format_size(in.scratch_bytes).c_str(),
              format_size(in.baseline_bytes).c_str(), format_size(in.on_demand_bytes).c_str());
  s += format("  resident weights %s; ring of %d slot(s) x %s; streamed per forward pass %s\n",
              format_size(p.resident_bytes).c_str(), p.n_slots, format_size(p.slot_bytes).c_str(),
              format_size(p.streamed_bytes_per_pass).c_str());
  std::vector<std::string> global_resident, on_demand;
  for (size_t i = 0; i < in.tensors.size(); ++i) {
    const PlanTensor& t = in.tensors[i];
    if (t.layer >= 0) continue;
    if (t.use == TensorUse::kOnDemand) on_demand.push_back(t.name);
    else if (p.resident[i]) global_resident.push_back(t.name);
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string r;
    for (const std::string& x : v) r += (r.empty() ? "" : " ") + x;
    return r.empty() ? std::string("-") : r;
  };
  s += "  model-wide resident: " + join(global_resident) + "; on demand (mapped rows): " + join(on_demand) + "\n";
  for (int il = 0; il < in.n_layer; ++il) {
    std::vector<std::string> res, str;
    for (size_t i = 0; i < in.tensors.size(); ++i) {
      const PlanTensor& t = in.tensors[i];
      if (t.layer != il || t.use != TensorUse::kStreamable) continue;
      std::string short_name = t.name.substr(t.name.find('.', 4) + 1);  // "blk.N." dropped
      if (short_name.size() > 7 && short_name.ends_with(".weight")) short_name.resize(short_name.size() - 7);
      (p.resident[i] ? res : str).push_back(short_name);
    }
    uint64_t bytes = 0;
    for (const Extent& e : p.layer_extents[il]) bytes += e.len;
    s += format("  blk.%d: resident %s | streamed %s (%s)\n", il, join(res).c_str(), join(str).c_str(),
                format_size(bytes).c_str());
  }
  return s;
}

}  // namespace nexus
