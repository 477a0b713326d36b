// The layer ring and its read backends on a plain file: bytes land where they should over many
// passes, with io_uring (when the kernel allows it) and the forced pread fallback, with and
// without O_DIRECT; the I/O-only passes bench takes as the streaming roofline read exactly the
// streamed bytes; faults (short read, file changed) stop the stream with a clear error; the
// bench's reference reads (bandwidth, the resident part alone) report what they measured.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include "memory/io_reader.h"
#include "memory/layer_stream.h"
#include "memory/mem_stats.h"
#include "memory/streamed_layers.h"
#include "test_util.h"

namespace nexus {
namespace {

constexpr uint64_t kPage = 4096;

struct Fixture {
  std::string path;
  std::vector<uint8_t> bytes;
  std::vector<std::vector<Extent>> layers;
};

// A file of random bytes whose size is not a multiple of the block, and per-layer extents of
// different sizes (one layer not streamed), the last running to the end of the file.
Fixture make_fixture(const std::string& name) {
  Fixture f;
  f.path = test::temp_dir() + "/" + name;
  std::mt19937 rng(7);
  f.bytes.resize(37 * kPage * 16 + 1234);
  for (uint8_t& b : f.bytes) b = static_cast<uint8_t>(rng());
  std::ofstream(f.path, std::ios::binary).write(reinterpret_cast<const char*>(f.bytes.data()), f.bytes.size());
  const uint64_t size = f.bytes.size();
  f.layers = {
      {{0, 40 * kPage}},
      {{40 * kPage, 10 * kPage}, {100 * kPage, 80 * kPage}},
      {},
      {{200 * kPage, 3 * kPage}},
      {{300 * kPage, (size - 300 * kPage + kPage - 1) / kPage * kPage}},
  };
  return f;
}

// The slot's bytes equal the file's at each extent, back to back.
void expect_layer_bytes(const Fixture& f, int il, const uint8_t* slot) {
  uint64_t at = 0;
  for (const Extent& e : f.layers[il]) {
    const uint64_t n = std::min<uint64_t>(e.len, f.bytes.size() - e.offset);
    ASSERT_EQ(std::memcmp(slot + at, f.bytes.data() + e.offset, n), 0) << "layer " << il;
    at += e.len;
  }
}

void run_passes(const Fixture& f, IoBackendKind kind, bool direct, int slots, const char* want_backend,
                int chunks_in_flight = LayerRingOptions{}.chunks_in_flight) {
  LayerRingOptions o;
  o.backend = kind;
  o.direct = direct;
  o.n_slots = slots;
  o.chunks_in_flight = chunks_in_flight;
  o.chunk_bytes = 8 * kPage;  // many chunks per layer
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, o);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  if (want_backend) {
    EXPECT_STREQ((*ring)->backend_name(), want_backend);
  }
  for (int pass = 0; pass < 5; ++pass) {
    for (int il = 0; il < 5; ++il) {
      if (f.layers[il].empty()) continue;
      Result<const uint8_t*> slot = (*ring)->acquire(il);
      ASSERT_TRUE(slot.ok()) << slot.error().message;
      expect_layer_bytes(f, il, *slot);
      (*ring)->release(il);
    }
  }
  // Out of order (an aborted pass): restarts there and still reads the right bytes.
  Result<const uint8_t*> slot = (*ring)->acquire(3);
  ASSERT_TRUE(slot.ok()) << slot.error().message;
  expect_layer_bytes(f, 3, *slot);
  (*ring)->release(3);
  const StreamStats st = (*ring)->stats();
  EXPECT_EQ(st.passes, 5u);
  EXPECT_GE(st.layers_read, 21u);
  EXPECT_GT(st.bytes_read, 0u);
  EXPECT_GT(st.io_busy_s, 0.0);
}

TEST(LayerRing, PreadFallbackDirect) {
  const Fixture f = make_fixture("ring_pread.bin");
  run_passes(f, IoBackendKind::kPread, true, 2, "pread");
  run_passes(f, IoBackendKind::kPread, true, 1, "pread");
  run_passes(f, IoBackendKind::kPread, true, 4, "pread");
}

// A narrow window: chunks are issued from completions, oldest fill first, and a restart drops
// the chunks not yet issued.
TEST(LayerRing, NarrowChunkWindow) {
  const Fixture f = make_fixture("ring_window.bin");
  for (int window : {1, 2, 3}) {
    run_passes(f, IoBackendKind::kPread, true, 2, "pread", window);
    run_passes(f, IoBackendKind::kAuto, true, 3, nullptr, window);
  }
}

TEST(LayerRing, PreadBuffered) {
  const Fixture f = make_fixture("ring_buffered.bin");
  run_passes(f, IoBackendKind::kPread, false, 3, "pread");
}

TEST(LayerRing, AutoBackend) {
  const Fixture f = make_fixture("ring_auto.bin");
  run_passes(f, IoBackendKind::kAuto, true, 2, nullptr);  // io_uring here, pread where refused
  run_passes(f, IoBackendKind::kAuto, true, 3, nullptr);
}

TEST(LayerRing, UringWhenAvailable) {
  const Fixture f = make_fixture("ring_uring.bin");
  LayerRingOptions o;
  o.backend = IoBackendKind::kUring;
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, o);
  if (!ring.ok()) GTEST_SKIP() << ring.error().message;
  run_passes(f, IoBackendKind::kUring, true, 2, "io_uring");
}

// The bytes a pass reads: every extent, the last one only up to the end of the file.
uint64_t streamed_bytes_per_pass(const Fixture& f) {
  uint64_t n = 0;
  for (const auto& layer : f.layers)
    for (const Extent& e : layer) n += std::min<uint64_t>(e.len, f.bytes.size() - e.offset);
  return n;
}

// The I/O-only pass reads exactly the streamed bytes of each timed pass, from a fresh ring and
// from one left mid-pass, leaves the statistics as they were, and the stream carries on with
// the right bytes afterwards.
void expect_io_only_pass(const Fixture& f, IoBackendKind kind, int slots) {
  LayerRingOptions o;
  o.backend = kind;
  o.n_slots = slots;
  o.chunk_bytes = 8 * kPage;
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, o);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  LayerRing& r = **ring;
  const Result<IoOnlyRate> fresh = r.measure_io_only(1, 2);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  EXPECT_EQ(fresh->bytes, 2 * streamed_bytes_per_pass(f));
  EXPECT_EQ(r.stats().bytes_read, 0u);
  EXPECT_EQ(r.stats().passes, 0u);

  for (int il : {0, 1}) {  // part of a forward pass
    Result<const uint8_t*> slot = r.acquire(il);
    ASSERT_TRUE(slot.ok()) << slot.error().message;
    expect_layer_bytes(f, il, *slot);
    r.release(il);
  }
  const StreamStats before = r.stats();
  const Result<IoOnlyRate> rate = r.measure_io_only(1, 3);
  ASSERT_TRUE(rate.ok()) << rate.error().message;
  EXPECT_EQ(rate->passes, 3);
  EXPECT_EQ(rate->bytes, 3 * streamed_bytes_per_pass(f));
  EXPECT_GT(rate->seconds, 0.0);
  EXPECT_GT(rate->bandwidth(), 0.0);
  const StreamStats after = r.stats();
  EXPECT_EQ(after.bytes_read, before.bytes_read);
  EXPECT_EQ(after.passes, before.passes);
  EXPECT_EQ(after.layers_read, before.layers_read);
  EXPECT_EQ(after.depth, before.depth);

  for (int pass = 0; pass < 2; ++pass)
    for (int il : {0, 1, 3, 4}) {
      Result<const uint8_t*> slot = r.acquire(il);
      ASSERT_TRUE(slot.ok()) << slot.error().message;
      expect_layer_bytes(f, il, *slot);
      r.release(il);
    }
  EXPECT_EQ(r.stats().passes, before.passes + 2);
}

TEST(LayerRing, IoOnlyPassPread) {
  const Fixture f = make_fixture("io_only_pread.bin");
  expect_io_only_pass(f, IoBackendKind::kPread, 1);
  expect_io_only_pass(f, IoBackendKind::kPread, 2);
  expect_io_only_pass(f, IoBackendKind::kPread, 3);
}

TEST(LayerRing, IoOnlyPassAuto) {
  const Fixture f = make_fixture("io_only_auto.bin");
  expect_io_only_pass(f, IoBackendKind::kAuto, 2);
}

// The resident copy in stages, beside the stream: once wait_copy(s) returns, every piece of
// stage <= s holds the file's bytes, whatever the window and backend; the stream still reads
// the right bytes meanwhile.
void expect_staged_copy(const Fixture& f, IoBackendKind kind, int chunks_in_flight) {
  LayerRingOptions o;
  o.backend = kind;
  o.chunk_bytes = 8 * kPage;
  o.chunks_in_flight = chunks_in_flight;
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, o);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  // Pieces of 1..1100 pages (several 2 MiB copy chunks for the largest), stages 0, 0, 1, 3.
  const uint64_t lens[] = {3, 1, 1100, 40};
  const uint64_t offs[] = {500, 2, 40, 5};
  const int stages[] = {0, 0, 1, 3};
  uint64_t total = 0;
  for (uint64_t l : lens) total += l * kPage;
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, kPage, total), 0);
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(static_cast<uint8_t*>(raw), &std::free);
  std::vector<LayerRing::CopyPiece> pieces;
  uint64_t at = 0;
  for (int k = 0; k < 4; ++k) {
    pieces.push_back({offs[k] * kPage, lens[k] * kPage, buf.get() + at, stages[k]});
    at += lens[k] * kPage;
  }
  ASSERT_TRUE((*ring)->start_copy(pieces).ok());
  // A layer streams while the copy runs.
  Result<const uint8_t*> slot = (*ring)->acquire(0);
  ASSERT_TRUE(slot.ok()) << slot.error().message;
  expect_layer_bytes(f, 0, *slot);
  (*ring)->release(0);
  for (int stage = 0; stage <= 4; ++stage) {
    ASSERT_TRUE((*ring)->wait_copy(stage).ok());
    EXPECT_GE((*ring)->copy_stage_done(), std::min(stage, 3));
    for (int k = 0; k < 4; ++k) {
      if (stages[k] > stage) continue;
      const uint64_t n = std::min<uint64_t>(lens[k] * kPage, f.bytes.size() - offs[k] * kPage);
      EXPECT_EQ(std::memcmp(pieces[k].dst, f.bytes.data() + offs[k] * kPage, n), 0) << "piece " << k << " stage " << stage;
    }
  }
  // Every piece whole, but the one running past the end of the file up to that end.
  EXPECT_EQ((*ring)->resident_bytes_read(), 44 * kPage + (f.bytes.size() - 40 * kPage));
  EXPECT_GT((*ring)->copy_seconds(), 0.0);
  // The copy's bytes are not stream statistics: at most one prefetched pass of layers is.
  EXPECT_LE((*ring)->stats().bytes_read, streamed_bytes_per_pass(f));
}

TEST(LayerRing, StagedCopy) {
  const Fixture f = make_fixture("ring_copy.bin");
  for (int window : {1, 4}) {
    expect_staged_copy(f, IoBackendKind::kPread, window);
    expect_staged_copy(f, IoBackendKind::kAuto, window);
  }
}

// The copy's reader through bounce buffers (one per thread, 2 MiB): many requests at once on
// three threads, each landing the file's bytes at its own destination, whether it went through
// a bounce buffer (up to 2 MiB), straight in (larger) or ran past the end of the file (short,
// up to the end). Where the system gives no huge pages the buffers are empty and every read
// goes straight in; the bytes are the same either way.
TEST(PreadBackend, BounceBuffersLandTheFileBytes) {
  const Fixture f = make_fixture("bounce.bin");
  int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  if (fd < 0) fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const uint64_t two_mib = uint64_t{2} << 20;
  const BounceBuffers bounce(3, two_mib);
  if (!bounce.empty()) {
    EXPECT_EQ(bounce.count(), 3);
    EXPECT_EQ(bounce.bytes(), two_mib);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(reinterpret_cast<uintptr_t>(bounce.buffer(i)) % two_mib, 0u);
  }
  const uint64_t size = f.bytes.size();
  const uint64_t past_end = (size / kPage - 2) * kPage;  // 2 pages + 1234 bytes before the end
  std::vector<ReadRequest> requests;
  std::mt19937 rng(3);
  uint64_t dst = 0;
  for (int i = 0; i < 40; ++i) {  // small reads anywhere in the file
    const uint64_t len = (1 + rng() % 24) * kPage;
    const uint64_t offset = rng() % ((size - len) / kPage) * kPage;
    requests.push_back({offset, static_cast<uint32_t>(len), nullptr, static_cast<uint64_t>(i)});
  }
  requests.push_back({0, static_cast<uint32_t>(two_mib), nullptr, 40});                   // one whole buffer
  requests.push_back({kPage, static_cast<uint32_t>(two_mib + 4 * kPage), nullptr, 41});  // larger: straight in
  requests.push_back({past_end, static_cast<uint32_t>(8 * kPage), nullptr, 42});         // short, at the end
  for (ReadRequest& r : requests) {
    r.dst = reinterpret_cast<uint8_t*>(dst);  // an offset into `out` for now
    dst += r.len;
  }
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, kPage, dst), 0);
  std::unique_ptr<uint8_t, decltype(&std::free)> out(static_cast<uint8_t*>(raw), &std::free);
  for (ReadRequest& r : requests) r.dst = out.get() + reinterpret_cast<uintptr_t>(r.dst);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> results(requests.size(), -1);
  size_t done = 0;
  {
    Result<std::unique_ptr<ReadBackend>> backend =
        make_pread_backend(fd, static_cast<int>(requests.size()), 3, &bounce, [&](const ReadRequest& r, int64_t res) {
          std::lock_guard lock(mu);
          results[r.tag] = res;
          ++done;
          cv.notify_all();
        });
    ASSERT_TRUE(backend.ok()) << backend.error().message;
    EXPECT_STREQ((*backend)->name(), "pread");
    (*backend)->submit(requests);
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == requests.size(); });
  }
  ::close(fd);
  for (const ReadRequest& r : requests) {
    const uint64_t want = std::min<uint64_t>(r.len, size - r.offset);
    ASSERT_EQ(results[r.tag], static_cast<int64_t>(want)) << "request " << r.tag;
    EXPECT_EQ(std::memcmp(r.dst, f.bytes.data() + r.offset, want), 0) << "request " << r.tag;
  }
}

int thread_count() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) n += e.is_directory() ? 1 : 0;
  return n;
}

// The copy reads on threads of its own, which go once it has landed (at the next release).
TEST(LayerRing, CopyThreadsGoWhenTheCopyIsOver) {
  const Fixture f = make_fixture("copy_threads.bin");
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, {});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  const int before = thread_count();
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, kPage, 64 * kPage), 0);
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(static_cast<uint8_t*>(raw), &std::free);
  ASSERT_TRUE((*ring)->start_copy({{0, 64 * kPage, buf.get(), 0}}).ok());
  EXPECT_GT(thread_count(), before);
  ASSERT_TRUE((*ring)->wait_copy(0).ok());
  EXPECT_EQ(std::memcmp(buf.get(), f.bytes.data(), 64 * kPage), 0);
  ASSERT_TRUE((*ring)->acquire(0).ok());
  (*ring)->release(0);
  EXPECT_EQ(thread_count(), before);
}

// The output head in stages: wait_output(done) returns more rows than `done`, as many as the
// landed stages hold, and seals every stage up to the one it returns for, in order; once the
// whole head has landed it returns every row at once.
TEST(StreamedLayers, HeadRowsLandInStages) {
  const Fixture f = make_fixture("head_stages.bin");
  const int n_layer = static_cast<int>(f.layers.size());
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, {});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  // One piece per stage: 0 (model-wide), the layers, then three runs of the head.
  const int last = n_layer + 3;
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, kPage, (last + 1) * 64 * kPage), 0);
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(static_cast<uint8_t*>(raw), &std::free);
  std::vector<LayerRing::CopyPiece> pieces;
  for (int s = 0; s <= last; ++s) pieces.push_back({s * 64 * kPage, 64 * kPage, buf.get() + s * 64 * kPage, s});
  ASSERT_TRUE((*ring)->start_copy(pieces).ok());
  std::vector<int> sealed;
  StreamedLayers source{std::vector<LayerWeights>(n_layer), std::vector<std::vector<SlotPatch>>(n_layer), std::move(*ring),
                        {100, 200, 250}, [&](int first, int last) {
                          for (int s = first; s <= last; ++s) sealed.push_back(s);
                        }};
  int64_t done = 0;
  while (done < 250) {
    Result<int64_t> rows = source.wait_output(done);
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    ASSERT_GT(*rows, done);
    ASSERT_TRUE(*rows == 100 || *rows == 200 || *rows == 250) << *rows;
    // Sealed up to the stage holding those rows.
    const int stage = n_layer + 1 + (*rows == 100 ? 0 : *rows == 200 ? 1 : 2);
    ASSERT_EQ(static_cast<int>(sealed.size()), stage + 1);
    done = *rows;
  }
  for (int s = 0; s <= last; ++s) EXPECT_EQ(sealed[s], s);
  Result<int64_t> again = source.wait_output(0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 250);
  EXPECT_EQ(static_cast<int>(sealed.size()), last + 1);
}

// A resident copy that comes back short (the file lost its tail after open) fails the stage
// that needed it, later stages and the stream, with the file named; earlier stages stay good.
TEST(LayerRing, ShortCopyIsAClearError) {
  Fixture f = make_fixture("short_copy.bin");
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, {});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  LayerRing& r = **ring;
  ASSERT_EQ(::truncate(f.path.c_str(), 320 * kPage), 0);
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, kPage, 20 * kPage), 0);
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(static_cast<uint8_t*>(raw), &std::free);
  ASSERT_TRUE(r.start_copy({{0, 10 * kPage, buf.get(), 0}, {400 * kPage, 10 * kPage, buf.get() + 10 * kPage, 1}}).ok());
  EXPECT_TRUE(r.wait_copy(0).ok());
  EXPECT_EQ(std::memcmp(buf.get(), f.bytes.data(), 10 * kPage), 0);
  const Status bad = r.wait_copy(1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("short read from '" + f.path + "'"), std::string::npos) << bad.error().message;
  const Result<const uint8_t*> stream = r.acquire(0);
  ASSERT_FALSE(stream.ok());
  EXPECT_NE(stream.error().message.find("short read"), std::string::npos) << stream.error().message;
}

void expect_short_read_stops(IoBackendKind kind) {
  Fixture f = make_fixture(kind == IoBackendKind::kPread ? "short_pread.bin" : "short_auto.bin");
  LayerRingOptions o;
  o.backend = kind;
  o.n_slots = 1;  // nothing of layer 4 is read before the file is cut
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, o);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  LayerRing& r = **ring;
  ASSERT_TRUE(r.acquire(0).ok());
  r.release(0);
  ASSERT_TRUE(r.acquire(1).ok());
  // The file loses its tail while layer 1 computes: layer 4 (prefetched after layer 3) comes
  // back short.
  ASSERT_EQ(::truncate(f.path.c_str(), 320 * kPage + 100), 0);
  r.release(1);
  ASSERT_TRUE(r.acquire(3).ok());
  r.release(3);
  const Result<const uint8_t*> bad = r.acquire(4);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("short read from '" + f.path + "'"), std::string::npos) << bad.error().message;
  // Stopped for good: no garbage later either.
  const Result<const uint8_t*> again = r.acquire(0);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("short read"), std::string::npos);
}

TEST(LayerRing, ShortReadIsAClearErrorPread) { expect_short_read_stops(IoBackendKind::kPread); }
TEST(LayerRing, ShortReadIsAClearErrorAuto) { expect_short_read_stops(IoBackendKind::kAuto); }

TEST(LayerRing, FileChangedOnDiskIsRefused) {
  const Fixture f = make_fixture("changed.bin");
  Result<std::unique_ptr<LayerRing>> ring = LayerRing::open(f.path, f.layers, {});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  LayerRing& r = **ring;
  for (int il : {0, 1, 3, 4}) {
    ASSERT_TRUE(r.acquire(il).ok());
    r.release(il);
  }
  // Same size, new modification time (an in-place rewrite).
  const timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, f.path.c_str(), times, 0), 0);
  const Result<const uint8_t*> bad = r.acquire(0);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("changed on disk"), std::string::npos) << bad.error().message;
}

TEST(MemStats, CachedBytesAndBandwidth) {
  const Fixture f = make_fixture("stats.bin");
  ASSERT_TRUE(drop_file_cache(f.path).ok());
  // Buffered read fills the cache; mincore sees it.
  {
    std::ifstream in(f.path, std::ios::binary);
    std::vector<char> all(f.bytes.size());
    in.read(all.data(), all.size());
  }
  const Result<uint64_t> cached = file_cached_bytes(f.path);
  ASSERT_TRUE(cached.ok()) << cached.error().message;
  EXPECT_GT(*cached, 0u);
  EXPECT_LE(*cached, f.bytes.size());
  const Result<double> bw = measure_file_read_bandwidth(f.path, 1 << 30);
  ASSERT_TRUE(bw.ok()) << bw.error().message;
  EXPECT_GT(*bw, 0.0);
  const ProcessMemory m = process_memory();
  EXPECT_GT(m.rss, 0u);
  EXPECT_GE(m.peak_rss, m.rss);
  // MemAvailable: at least what a fresh 64 MiB allocation leaves untouched, below the
  // machine's memory (sysconf's physical pages)
  const uint64_t available = available_memory_bytes();
  EXPECT_GT(available, 64u << 20);
  EXPECT_LE(available, static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
}

// The resident part's read time alone, taken in a child process: the ranges are read into
// fresh memory, then touched and read again elsewhere (the last one rounded up past the end of
// the file), the memory they land in is not this process's, and a missing file is a clear
// error.
TEST(MemStats, ResidentReadRunsInAChild) {
  const Fixture f = make_fixture("fresh_read.bin");
  std::vector<Extent> ranges = f.layers[1];
  ranges.insert(ranges.end(), f.layers[4].begin(), f.layers[4].end());
  uint64_t total = 0;
  for (const Extent& e : ranges) total += e.len;
  const Result<ResidentReadTime> s = measure_resident_read(f.path, ranges);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->bytes, total);
  EXPECT_GT(s->fresh_read_s, 0.0);
  EXPECT_GT(s->warm_touch_s, 0.0);
  EXPECT_GT(s->read_s, 0.0);
  // 64 MiB read into fresh memory by the child leave this process's peak where it was (a
  // sparse file: the reads cost no disk).
  const std::string big = test::temp_dir() + "/fresh_read_big.bin";
  {
    const int fd = ::open(big.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);
    ::close(fd);
  }
  const uint64_t peak_before = process_memory().peak_rss;
  const Result<ResidentReadTime> big_s = measure_resident_read(big, {{0, 64 << 20}});
  ASSERT_TRUE(big_s.ok()) << big_s.error().message;
  EXPECT_LT(process_memory().peak_rss, peak_before + (16 << 20));
  ::unlink(big.c_str());
  const Result<ResidentReadTime> missing = measure_resident_read(test::temp_dir() + "/no_such_file.bin", ranges);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no_such_file.bin"), std::string::npos) << missing.error().message;
}

}  // namespace
}  // namespace nexus
