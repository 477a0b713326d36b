#include "memory/residency_plan.h"

#include <algorithm>
#include <numeric>

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
    }
  }
  // Streamed extents of one layer under the current residency.
  auto layer_extents = [&](int il) {
    std::vector<Extent> r;
    for (size_t i : by_layer[il])
      if (!p.resident[i]) r.push_back({in.tensors[i].offset, in.tensors[i].nbytes});
    return merge_extents(std::move(r), in.align);
  };
  std::vector<uint64_t> layer_bytes(by_layer.size());
  for (int il = 0; il < in.n_layer; ++il) layer_bytes[il] = extents_bytes(layer_extents(il));
  const uint64_t full_slot = layer_bytes.empty() ? 0 : *std::max_element(layer_bytes.begin(), layer_bytes.end());

  p.min_budget = p.fixed_bytes + pinned + full_slot;
  if (in.budget < p.min_budget)
    return make_error(format(
        "memory budget %s is too small for this model at a context of %d tokens: the minimum is %s "
        "(KV cache %s, scratch %s, process baseline %s, resident norms and output head %s, one layer slot %s)",
        format_size(in.budget).c_str(), in.n_ctx, format_size(p.min_budget).c_str(), format_size(in.kv_bytes).c_str(),
        format_size(in.scratch_bytes).c_str(), format_size(in.baseline_bytes + in.on_demand_bytes).c_str(),
        format_size(pinned).c_str(), format_size(full_slot).c_str()));

  // As many slots as fit (up to max_slots) before anything else is made resident: one slot
  // cannot overlap reading with computing.
  int slots = 1;
  while (slots < std::max(1, in.max_slots) && p.fixed_bytes + pinned + (slots + 1) * full_slot <= in.budget) ++slots;
  if (full_slot == 0) slots = 0;

  std::vector<size_t> order;
  for (size_t i = 0; i < T; ++i)
    if (in.tensors[i].use == TensorUse::kStreamable) order.push_back(i);
  const std::vector<int> rank = spread_rank(in.n_layer);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const PlanTensor &x = in.tensors[a], &y = in.tensors[b];
    if (x.priority != y.priority) return x.priority < y.priority;
    return rank[x.layer] < rank[y.layer];
  });

  uint64_t resident = pinned;
  uint64_t slot = full_slot;
  for (size_t i : order) {
    const PlanTensor& t = in.tensors[i];
    p.resident[i] = true;
    const uint64_t new_layer = extents_bytes(layer_extents(t.layer));
    uint64_t new_slot = new_layer;
    for (int il = 0; il < in.n_layer; ++il)
      if (il != t.layer) new_slot = std::max(new_slot, layer_bytes[il]);
    const uint64_t new_resident = resident + aligned_size(t, in.align);
    if (p.fixed_bytes + new_resident + static_cast<uint64_t>(slots) * new_slot <= in.budget) {
      resident = new_resident;
      layer_bytes[t.layer] = new_layer;
      slot = new_slot;
    } else {
      p.resident[i] = false;
    }
  }

  p.layer_extents.resize(by_layer.size());
  for (int il = 0; il < in.n_layer; ++il) {
    p.layer_extents[il] = layer_extents(il);
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
