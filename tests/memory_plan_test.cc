// Residency planner and size parsing: pure arithmetic on made-up tensor tables.
#include <gtest/gtest.h>

#include "memory/residency_plan.h"
#include "memory/size_parse.h"

namespace nexus {
namespace {

TEST(SizeParse, Suffixes) {
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_EQ(*parse_size("64k"), 64u << 10);
  EXPECT_EQ(*parse_size("512M"), 512ull << 20);
  EXPECT_EQ(*parse_size("1G"), 1ull << 30);
  EXPECT_EQ(*parse_size("1.5G"), 3ull << 29);
  EXPECT_EQ(*parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(*parse_size("3MB"), 3ull << 20);
}

TEST(SizeParse, Errors) {
  for (const char* bad : {"", "G", "1X", "1.5", "-1G", "1GG", "0", "99999999999T"}) {
    const Result<uint64_t> r = parse_size(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("size"), std::string::npos) << r.error().message;
  }
}

TEST(MergeExtents, AlignsAndMerges) {
  const std::vector<Extent> e = merge_extents({{5000, 100}, {100, 10}, {8200, 5000}, {40000, 1}}, 4096);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].offset, 0u);
  EXPECT_EQ(e[0].len, 16384u);  // [0,4096) [4096,8192) [8192,16384) touch: one extent
  EXPECT_EQ(e[1].offset, 36864u);
  EXPECT_EQ(e[1].len, 4096u);
}

// A model of `layers` layers laid out like a GGUF: per layer a norm and 7 matrices, then the
// output head. Attention matrices are 1 MiB, feed-forward 3 MiB.
PlanInput toy_model(int layers, uint64_t budget) {
  PlanInput in;
  in.n_layer = layers;
  in.n_ctx = 128;
  in.budget = budget;
  in.kv_bytes = 1 << 20;
  in.scratch_bytes = 1 << 20;
  in.baseline_bytes = 2 << 20;
  uint64_t off = 4096;
  auto add = [&](std::string name, int layer, uint64_t bytes, TensorUse use, int prio) {
    in.tensors.push_back({std::move(name), layer, off, bytes, use, prio});
    off += (bytes + 31) / 32 * 32;
  };
  add("token_embd.weight", -1, 2 << 20, TensorUse::kOnDemand, 0);
  const char* names[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  const int prios[] = {2, 0, 1, 3, 4, 4, 4};
  for (int il = 0; il < layers; ++il) {
    add("blk." + std::to_string(il) + ".attn_norm.weight", il, 1024, TensorUse::kPinned, 0);
    for (int k = 0; k < 7; ++k)
      add("blk." + std::to_string(il) + "." + names[k] + ".weight", il, (k < 4 ? 1u : 3u) << 20,
          TensorUse::kStreamable, prios[k]);
  }
  add("output.weight", -1, 2 << 20, TensorUse::kPinned, 0);
  return in;
}

TEST(ResidencyPlan, TooSmallNamesTheMinimum) {
  const PlanInput in = toy_model(4, 8 << 20);
  const Result<ResidencyPlan> r = plan_residency(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("the minimum is"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("context of 128 tokens"), std::string::npos) << r.error().message;
  // Fixed 4 MiB + head 2 MiB + one 13 MiB layer (+ alignment) is the minimum: just above it
  // plans one slot, just below it fails.
  const Result<ResidencyPlan> below = plan_residency(toy_model(4, 19ull << 20));
  EXPECT_FALSE(below.ok());
  const PlanInput at_min = toy_model(4, (19ull << 20) + (128 << 10));
  const Result<ResidencyPlan> ok = plan_residency(at_min);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->n_slots, 1);
  EXPECT_LE(ok->total_bytes, at_min.budget);
  EXPECT_GE(ok->streamed_bytes_per_pass, 4 * (13ull << 20) - (128 << 10));
}

TEST(ResidencyPlan, EverythingFits) {
  const PlanInput in = toy_model(4, 1ull << 30);
  const Result<ResidencyPlan> r = plan_residency(in);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->n_slots, 0);
  EXPECT_EQ(r->streamed_bytes_per_pass, 0u);
  for (size_t i = 0; i < in.tensors.size(); ++i)
    EXPECT_EQ(r->resident[i], in.tensors[i].use != TensorUse::kOnDemand) << in.tensors[i].name;
}

TEST(ResidencyPlan, WithinBudgetAndSlotsHoldEveryLayer) {
  for (uint64_t mib : {40, 50, 60, 70}) {
    const PlanInput in = toy_model(8, mib << 20);
    const Result<ResidencyPlan> r = plan_residency(in);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_LE(r->total_bytes, in.budget);
    EXPECT_EQ(r->n_slots, 2);
    uint64_t streamed = 0;
    for (size_t i = 0; i < in.tensors.size(); ++i) {
      const PlanTensor& t = in.tensors[i];
      if (t.use == TensorUse::kStreamable && !r->resident[i]) streamed += t.nbytes;
    }
    EXPECT_EQ(streamed, r->streamed_tensor_bytes);
    EXPECT_GE(r->streamed_bytes_per_pass, streamed);
    EXPECT_LE(r->streamed_bytes_per_pass, streamed + 8 * 8 * 4096);  // alignment only
    // Every layer's extents fit one slot.
    for (const auto& ex : r->layer_extents) {
      uint64_t b = 0;
      for (const Extent& e : ex) b += e.len;
      EXPECT_LE(b, r->slot_bytes);
    }
  }
  // More budget never streams more.
  uint64_t prev = UINT64_MAX;
  for (uint64_t mib = 40; mib <= 140; mib += 10) {
    const Result<ResidencyPlan> r = plan_residency(toy_model(8, mib << 20));
    ASSERT_TRUE(r.ok());
    EXPECT_LE(r->streamed_bytes_per_pass, prev);
    prev = r->streamed_bytes_per_pass;
  }
}

TEST(ResidencyPlan, ReadsSpreadEvenlyOverTheLayers) {
  // 8 layers of 13 MiB (4 x 1 MiB attention, 3 x 3 MiB feed-forward); about 84 MiB for the
  // streamable matrices and the two slots. Whole layers resident would stream 5 layers of
  // 13 MiB through 13 MiB slots (65 MiB a pass at best); capping every layer at one
  // feed-forward and one attention matrix (4 MiB slots) streams at most 32 MiB, and the
  // budget that is left makes a few more attention matrices resident.
  const PlanInput in = toy_model(8, 90ull << 20);
  const Result<ResidencyPlan> r = plan_residency(in);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->n_slots, 2);
  EXPECT_LE(r->slot_bytes, (4ull << 20) + 2 * 4096);
  EXPECT_LE(r->streamed_bytes_per_pass, 32ull << 20);
  EXPECT_LE(r->total_bytes, in.budget);
  // Every layer streams, within one attention matrix of the others: the disk has work
  // while any layer computes.
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const auto& ex : r->layer_extents) {
    uint64_t b = 0;
    for (const Extent& e : ex) b += e.len;
    lo = std::min(lo, b);
    hi = std::max(hi, b);
  }
  EXPECT_GE(lo, 3ull << 20);
  EXPECT_LE(hi - lo, (1ull << 20) + 2 * 4096);
}

}  // namespace
}  // namespace nexus
