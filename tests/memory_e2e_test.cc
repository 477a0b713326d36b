// End to end under --mem-budget on a synthetic model: a streamed run gives bit-identical logits
// and the same greedy tokens as the unlimited run (both read backends), stays within the
// budget (peak RSS + the file's cached pages, in a fresh process), refuses a budget that cannot
// hold one layer slot + KV, a context larger than planned, and a file changed while in use.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "memory/layer_layout.h"
#include "memory/mem_stats.h"
#include "memory/tiered_weights.h"
#include "model/model_impl.h"
#include "model/synthetic.h"
#include "nexus/nexus.h"
#include "test_util.h"

namespace nexus {
namespace {

constexpr int kCtx = 128;
constexpr int kGen = 32;

// ~20 MB of F32 weights in 6 layers (about 3 MB each): small enough to be quick, large enough
// that a budget a few MB over the process streams most of it.
const std::string& model_path() {
  static const std::string path = [] {
    SynthSpec spec;
    spec.dim = 256;
    spec.layers = 6;
    spec.ffn = 768;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.vocab = 512;
    spec.ctx = 512;
    spec.seed = 3;
    return test::synth_model(spec, "stream_model.gguf");
  }();
  return path;
}

// Greedy decode: every step's logits, concatenated, and the tokens chosen.
struct Trace {
  std::vector<float> logits;
  std::vector<int32_t> tokens;
};

Result<Trace> greedy(std::shared_ptr<Model> model) {
  NX_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::create(model, kCtx));
  Trace t;
  std::vector<int32_t> next = {1, 70, 80, 90, 100};
  for (int i = 0; i < kGen; ++i) {
    NX_ASSIGN_OR_RETURN(std::span<const float> l, s->eval(next));
    t.logits.insert(t.logits.end(), l.begin(), l.end());
    const int32_t best = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    t.tokens.push_back(best);
    next = {best};
  }
  return t;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // shadow memory and quarantine inflate RSS unpredictably
#else
constexpr bool kSanitized = false;
#endif

// The minimum budget named by the too-small error, in bytes (0 if the message has none).
uint64_t minimum_from_error(const std::string& message) {
  std::smatch m;
  if (!std::regex_search(message, m, std::regex("the minimum is ([0-9.]+) MiB"))) return 0;
  return static_cast<uint64_t>(std::stod(m[1]) * (1 << 20));
}

// The minimum budget for this process and model plus `extra`: the planner measures the
// process's own footprint, so the budget is found by asking it.
LoadOptions budget_options(uint64_t extra, const char* backend) {
  LoadOptions o;
  o.threads = 2;
  o.mem_budget = 1;
  o.budget_ctx = kCtx;
  o.io_backend = backend;
  const Result<std::shared_ptr<Model>> probe = Model::load(model_path(), o);
  NX_CHECK(!probe.ok(), "a 1-byte budget was accepted");
  o.mem_budget = minimum_from_error(probe.error().message) + extra;
  NX_CHECK(o.mem_budget > extra, "no minimum in '%s'", probe.error().message.c_str());
  return o;
}

TEST(MemoryBudget, StreamedLogitsAreBitIdentical) {
  for (const char* backend : {"pread", "auto"}) {
    Trace streamed;
    {
      Result<std::shared_ptr<Model>> m = Model::load(model_path(), budget_options(6 << 20, backend));
      ASSERT_TRUE(m.ok()) << m.error().message;
      const TieredWeights* t = (*m)->impl().tiered.get();
      ASSERT_NE(t, nullptr);
      ASSERT_NE((*m)->impl().layer_source(), nullptr) << t->describe();
      // Most of the layers stream.
      EXPECT_GT(t->plan().streamed_tensor_bytes, 8u << 20) << t->describe();
      const uint64_t io0 = process_read_bytes();
      Result<Trace> r = greedy(*m);
      ASSERT_TRUE(r.ok()) << r.error().message;
      streamed = std::move(*r);
      const uint64_t io = process_read_bytes() - io0;
      const StreamStats st = t->stats();
      // The kernel's count of bytes fetched from storage agrees with the reader's (plus a few
      // on-demand embedding pages): nothing resident is read again.
      EXPECT_LE(io, st.bytes_read + st.bytes_read / 20 + (1 << 20)) << backend;
      EXPECT_EQ(st.passes, static_cast<uint64_t>(kGen));
      // Bytes read per pass: the plan's streamed extents, nothing resident read again (2 %
      // slack for the prefetch past the last pass).
      EXPECT_LE(st.bytes_read, (kGen + 2) * t->plan().streamed_bytes_per_pass);
      EXPECT_GE(st.bytes_read, kGen * t->plan().streamed_bytes_per_pass);
    }
    LoadOptions plain;
    plain.threads = 2;
    Result<std::shared_ptr<Model>> m = Model::load(model_path(), plain);
    ASSERT_TRUE(m.ok()) << m.error().message;
    Result<Trace> resident = greedy(*m);
    ASSERT_TRUE(resident.ok()) << resident.error().message;
    EXPECT_EQ(streamed.tokens, resident->tokens) << backend;
    ASSERT_EQ(streamed.logits.size(), resident->logits.size());
    EXPECT_EQ(std::memcmp(streamed.logits.data(), resident->logits.data(), streamed.logits.size() * sizeof(float)), 0)
        << backend << ": logits differ";
  }
}

// The protection of the mapping holding `p` in /proc/self/maps, and whether that mapping is
// anonymous (the resident copy) rather than the model file's.
struct Mapping {
  bool found = false, writable = false, anonymous = false;
};
Mapping mapping_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode >> path;
    const size_t dash = range.find('-');
    const uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (a >= begin && a < end) return {true, perms[1] == 'w', path.empty()};
  }
  return {};
}

// Once the first pass has run, every resident weight (in the anonymous copy) is read-only:
// each copy stage is sealed as it lands, not only the last one.
TEST(MemoryBudget, ResidentCopyIsReadOnlyAfterTheFirstPass) {
  Result<std::shared_ptr<Model>> m = Model::load(model_path(), budget_options(6 << 20, "auto"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  const ModelImpl& impl = (*m)->impl();
  ASSERT_NE(impl.layer_source(), nullptr);
  Result<std::unique_ptr<Session>> s = Session::create(*m, kCtx);
  ASSERT_TRUE(s.ok());
  const int32_t tok[] = {1, 5};
  ASSERT_TRUE((*s)->eval(tok).ok());

  const TieredWeights& t = *impl.tiered;
  int resident = 0;  // resident per-layer tensors in the plan
  for (size_t i = 0; i < t.plan_input().tensors.size(); ++i)
    if (t.plan().resident[i] && t.plan_input().tensors[i].layer >= 0) ++resident;
  int in_copy = 0;
  for (const LayerWeights& l : impl.weights.layers)
    for (TensorView LayerWeights::* f : layer_weight_fields()) {
      if ((l.*f).data == nullptr) continue;
      const Mapping mp = mapping_of((l.*f).data);
      ASSERT_TRUE(mp.found);
      if (!mp.anonymous) continue;  // streamed: still a view of the file
      ++in_copy;
      EXPECT_FALSE(mp.writable);
    }
  EXPECT_GT(resident, 0);
  EXPECT_EQ(in_copy, resident);
  const Mapping head = mapping_of(impl.weights.output.data);
  EXPECT_TRUE(head.anonymous);
  EXPECT_FALSE(head.writable);
}

// What `bench --resident-read-only` reads alone for the first token's bound is what a load with
// the same options copies: the same ranges, planned from the header alone; none without a
// budget, the load's error for too small a one. The plan counts the process's memory when it
// is made, which moves between two plans: at a budget that holds everything the ranges are the
// same, at a tight one the bytes are within 2 MiB (the same ranges in a Release build; 1.1 MiB
// apart under AddressSanitizer; a plan for the model's default context instead of this one
// would be 2.3 MiB of KV cache off).
TEST(MemoryBudget, PlannedResidentExtentsAreWhatTheLoadCopies) {
  auto total = [](const std::vector<Extent>& v) {
    uint64_t n = 0;
    for (const Extent& e : v) n += e.len;
    return n;
  };
  const LoadOptions all = budget_options(256 << 20, "auto");
  const Result<std::vector<Extent>> planned_all = planned_resident_extents(model_path(), all);
  ASSERT_TRUE(planned_all.ok()) << planned_all.error().message;
  {
    Result<std::shared_ptr<Model>> m = Model::load(model_path(), all);
    ASSERT_TRUE(m.ok()) << m.error().message;
    const std::vector<Extent>& copied = (*m)->impl().tiered->resident_extents();
    ASSERT_EQ(planned_all->size(), copied.size());
    for (size_t i = 0; i < copied.size(); ++i) {
      EXPECT_EQ((*planned_all)[i].offset, copied[i].offset) << i;
      EXPECT_EQ((*planned_all)[i].len, copied[i].len) << i;
    }
  }
  const LoadOptions o = budget_options(6 << 20, "auto");
  const Result<std::vector<Extent>> planned = planned_resident_extents(model_path(), o);
  ASSERT_TRUE(planned.ok()) << planned.error().message;
  Result<std::shared_ptr<Model>> m = Model::load(model_path(), o);
  ASSERT_TRUE(m.ok()) << m.error().message;
  const uint64_t copied = total((*m)->impl().tiered->resident_extents());
  ASSERT_GT(copied, 0u);
  EXPECT_LT(total(*planned), total(*planned_all));
  EXPECT_NEAR(static_cast<double>(total(*planned)), static_cast<double>(copied), 2.0 * (1 << 20));
  LoadOptions plain = o;
  plain.mem_budget = 0;
  const Result<std::vector<Extent>> none = planned_resident_extents(model_path(), plain);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  LoadOptions tiny = o;
  tiny.mem_budget = 1;
  const Result<std::vector<Extent>> refused = planned_resident_extents(model_path(), tiny);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("minimum"), std::string::npos) << refused.error().message;
}

// A budget that holds everything: all weights copied resident, nothing streamed, same logits.
TEST(MemoryBudget, AllResidentCopyIsBitIdentical) {
  Trace copied;
  {
    Result<std::shared_ptr<Model>> m = Model::load(model_path(), budget_options(256 << 20, "auto"));
    ASSERT_TRUE(m.ok()) << m.error().message;
    ASSERT_NE((*m)->impl().tiered, nullptr);
    EXPECT_EQ((*m)->impl().layer_source(), nullptr);
    EXPECT_EQ((*m)->impl().tiered->plan().streamed_bytes_per_pass, 0u);
    Result<Trace> r = greedy(*m);
    ASSERT_TRUE(r.ok()) << r.error().message;
    copied = std::move(*r);
  }
  Result<std::shared_ptr<Model>> m = Model::load(model_path());
  ASSERT_TRUE(m.ok());
  Result<Trace> mapped = greedy(*m);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(copied.tokens, mapped->tokens);
  EXPECT_EQ(std::memcmp(copied.logits.data(), mapped->logits.data(), copied.logits.size() * sizeof(float)), 0);
}

TEST(MemoryBudget, TooSmallNamesTheMinimum) {
  LoadOptions o;
  o.mem_budget = 1 << 20;
  o.budget_ctx = kCtx;
  const Result<std::shared_ptr<Model>> m = Model::load(model_path(), o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("is too small for this model at a context of 128 tokens: the minimum is"),
            std::string::npos)
      << m.error().message;
}

TEST(MemoryBudget, ContextLargerThanPlannedIsRefused) {
  Result<std::shared_ptr<Model>> m = Model::load(model_path(), budget_options(6 << 20, "auto"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  const Result<std::unique_ptr<Session>> s = Session::create(*m, 2 * kCtx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("memory budget was planned for"), std::string::npos) << s.error().message;
  EXPECT_TRUE(Session::create(*m, kCtx).ok());
}

TEST(MemoryBudget, FileChangedWhileInUseIsRefused) {
  const std::string copy = test::temp_dir() + "/changed_model.gguf";
  ASSERT_EQ(std::system(("cp '" + model_path() + "' '" + copy + "'").c_str()), 0);
  Result<std::shared_ptr<Model>> m = Model::load(copy, budget_options(6 << 20, "auto"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  Result<std::unique_ptr<Session>> s = Session::create(*m, kCtx);
  ASSERT_TRUE(s.ok());
  const int32_t tok[] = {1, 5};
  ASSERT_TRUE((*s)->eval(tok).ok());
  const timespec times[2] = {{0, UTIME_OMIT}, {4242, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, copy.c_str(), times, 0), 0);
  const int32_t next[] = {7};
  const Result<std::span<const float>> r = (*s)->eval(next);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("changed on disk"), std::string::npos) << r.error().message;
  EXPECT_EQ((*s)->n_past(), 2);  // the failed token did not enter the context
}

// In a fresh process (peak RSS is per process): same text as the unlimited run, and peak RSS +
// the model file's cached pages within the budget + 5 %.
TEST(MemoryBudget, CliStaysWithinBudget) {
  const std::string base = "run -m '" + model_path() + "' -p 'hello there' -n 32 --temp 0 -c 128 -t 2";
  const test::CommandResult plain = test::run_nexus(base);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  // The CLI process's minimum (its own footprint counts) plus room for a second slot and a
  // few resident matrices: most of the model streams.
  const test::CommandResult small = test::run_nexus(base + " --mem-budget 2M");
  EXPECT_NE(small.exit_code, 0);
  const uint64_t minimum = minimum_from_error(small.err);
  ASSERT_GT(minimum, 0u) << small.err;
  const uint64_t budget = (minimum + (8 << 20)) >> 20 << 20;  // whole MiB
  ASSERT_TRUE(drop_file_cache(model_path()).ok());
  const test::CommandResult r = test::run_nexus(base + " --mem-budget " + std::to_string(budget >> 20) + "M -v");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, plain.out);
  EXPECT_NE(r.err.find(format("memory plan: budget %llu.0 MiB", static_cast<unsigned long long>(budget >> 20))),
            std::string::npos) << r.err;
  std::smatch mm;
  ASSERT_TRUE(std::regex_search(r.err, mm, std::regex("peak_rss=(\\d+) file_cached=(\\d+) budget=(\\d+)"))) << r.err;
  const uint64_t peak = std::stoull(mm[1]), cached = std::stoull(mm[2]);
  EXPECT_EQ(std::stoull(mm[3]), budget);
  if (!kSanitized) {
    EXPECT_LE(peak + cached, budget * 105 / 100) << r.err;
  }
  // Streaming happened.
  EXPECT_NE(r.err.find("stream: "), std::string::npos) << r.err;
}

// bench under a budget: each decode repetition's roofline is against the I/O-only rate taken
// right before and after it, and the JSON row carries the rate it used.
TEST(MemoryBudget, BenchReportsStreamingRoofline) {
  const test::CommandResult small = test::run_nexus("run -m '" + model_path() + "' -p hi -n 1 -c 128 --mem-budget 2M");
  const uint64_t minimum = minimum_from_error(small.err);
  ASSERT_GT(minimum, 0u) << small.err;
  const std::string budget = std::to_string(((minimum + (8 << 20)) >> 20)) + "M";
  const test::CommandResult r =
      test::run_nexus("bench -m '" + model_path() + "' -p 0 -n 4 -r 2 -c 128 -t 1 --json --mem-budget " + budget);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("tg4 rep 1: .*I/O-only rate ([0-9.]+) / ([0-9.]+) GB/s before / after"))) << r.err;
  EXPECT_GT(std::stod(m[1]), 0.0);
  EXPECT_GT(std::stod(m[2]), 0.0);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"stream_io_only_gbs\":([0-9.e+-]+)"))) << r.out;
  EXPECT_GT(std::stod(m[1]), 0.0);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"roofline_fraction\":([0-9.e+-]+)"))) << r.out;
  EXPECT_GT(std::stod(m[1]), 0.0);
  // Time to first token against the resident part read alone (reads + touching its memory)
  // plus one streamed decode pass; the reads-only bound is below it.
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"resident_read_s\":([0-9.e+-]+)"))) << r.out;
  const double reads = std::stod(m[1]);
  EXPECT_GT(reads, 0.0);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"resident_touch_s\":([0-9.e+-]+)"))) << r.out;
  const double touch = std::stod(m[1]);
  EXPECT_GT(touch, 0.0);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"resident_fresh_read_s\":([0-9.e+-]+)"))) << r.out;
  EXPECT_GT(std::stod(m[1]), 0.0);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"ttft_bound_reads_only_s\":([0-9.e+-]+)"))) << r.out;
  const double bound_reads = std::stod(m[1]);
  EXPECT_GT(bound_reads, reads);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"ttft_bound_s\":([0-9.e+-]+)"))) << r.out;
  EXPECT_NEAR(std::stod(m[1]), bound_reads + touch, 1e-6);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"ttft_s\":([0-9.e+-]+)"))) << r.out;
  EXPECT_GT(std::stod(m[1]), 0.0);

  // The same reads in a process of their own, with no load: the ranges the load would copy.
  const test::CommandResult alone = test::run_nexus("bench -m '" + model_path() +
                                                    "' -p 0 -n 4 -c 128 -t 1 --json --resident-read-only --mem-budget " + budget);
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  ASSERT_TRUE(std::regex_search(alone.out, m, std::regex("\"resident_fresh_read_s\":([0-9.e+-]+)"))) << alone.out;
  EXPECT_GT(std::stod(m[1]), 0.0);
  ASSERT_TRUE(std::regex_search(alone.out, m, std::regex("\"resident_bytes\":([0-9]+)"))) << alone.out;
  EXPECT_GT(std::stoull(m[1]), 0u);
  EXPECT_EQ(alone.out.find("tokens_per_s"), std::string::npos) << alone.out;  // no tests ran
  const test::CommandResult unbudgeted =
      test::run_nexus("bench -m '" + model_path() + "' -p 0 -n 4 -c 128 --resident-read-only");
  EXPECT_NE(unbudgeted.exit_code, 0);
  EXPECT_NE(unbudgeted.err.find("--resident-read-only needs --mem-budget"), std::string::npos) << unbudgeted.err;
}

}  // namespace
}  // namespace nexus
