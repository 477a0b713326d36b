#include "memory/layer_stream.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <span>

namespace nexus {
namespace {

constexpr uint64_t kCopyTag = uint64_t{1} << 63;  // + chunk index: the resident copy; slot fills use the slot index
// LayerRing::kCopyWindow, the copy chunks in flight (2 MiB each), read in the idle I/O class
// (layer_stream.h holds the values, which bench's reference reads share). With 32 in flight at
// the default class, the disk's scheduler (mq-deadline here, which serves queued reads in
// sector order) kept the first pass's stream reads and its on-demand embedding page behind the
// copy (the embedding row waited 16-230 ms, traced on B3 at 1.5G) and the pass fell 10-13
// layers behind it. The idle class lets queued stream reads go first; the small window bounds
// what is already at the device ahead of them (with 32 the pass still fell 4-5 layers behind).
//
// One pread thread per copy chunk in flight. The copy lands in fresh anonymous memory, and in a
// VM the first touch of a page is what costs: B3's 1.13 GiB at 1.5G kept both vCPUs busy for
// the whole first pass while the disk read 0.5-0.9 GB/s of its 2.4-2.8 (sampled from /proc/stat
// and /proc/diskstats). Each copy chunk is read by its own pread thread, which faults in
// whatever pages of it are still fresh: the faults of the chunks in flight run side by side, on
// every CPU, instead of one after another on the stream's reaper thread (bench/NOTES.md section
// 13). Each thread reads through a huge-page bounce buffer of its own and copies out
// (io_reader.h): the disk then delivers the resident part about as fast as the stream's reads
// into the ring's huge pages, and B3's first token came 24 % sooner at 1.5G and 15 % at 1G
// (bench/NOTES.md section 17).

// Threads that fault the copy's destination in ahead of its reads (MADV_POPULATE_WRITE, in
// copy order, at the idle CPU policy). What a fresh page costs in this VM depends on how much
// fresh memory was taken before it: the first 1.1-1.4 GiB a process touches cost 0.3 ms per
// MiB, each MiB after that 2.1-3.1 ms on one thread and 0.7-1.4 ms with two to eight faulting
// at once (B3's copy at 1.5G is 1.13 GiB). With the faults left to the reads, the last ones
// (the head's, after the layers had landed) had nothing to overlap: the disk read 0.4-0.9 GB/s
// for the last 0.3-0.8 s of the first pass. Faulted ahead, they overlap the layers' reads.
// With that cheap memory used up beforehand (another process holding 1.4 GiB), B3's first
// token at 1.5G came after 1.44-1.49 s, against 1.57-1.94 s without these threads and
// 1.28-1.93 s with them at the normal policy (bench/NOTES.md section 14).
constexpr int kPopulateThreads = 3;
constexpr uint64_t kAlign = 4096;

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool same_time(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

}  // namespace

Result<std::unique_ptr<LayerRing>> LayerRing::open(const std::string& path, std::vector<std::vector<Extent>> extents,
                                                   const LayerRingOptions& o) {
  NX_CHECK(o.n_slots >= 1 && o.chunks_in_flight >= 1 && o.chunk_bytes >= kAlign && o.chunk_bytes % kAlign == 0, "slots %d chunk %llu", o.n_slots,
           static_cast<unsigned long long>(o.chunk_bytes));
  std::unique_ptr<LayerRing> r(new LayerRing());
  r->path_ = path;
  r->fd_ = o.direct ? ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT) : -1;
  r->direct_ = r->fd_ >= 0;
  if (!r->direct_) r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) return make_error(format("cannot open '%s': %s", path.c_str(), std::strerror(errno)));
  struct stat st {};
  if (::fstat(r->fd_, &st) != 0) return make_error(format("cannot stat '%s': %s", path.c_str(), std::strerror(errno)));
  r->file_size_ = static_cast<uint64_t>(st.st_size);
  r->mtime_ = st.st_mtim;

  // Per-layer chunk tables; a slot holds the largest layer.
  const int n_layer = static_cast<int>(extents.size());
  r->chunks_.resize(n_layer);
  r->position_.assign(n_layer, -1);
  size_t max_chunks = 1;
  for (int il = 0; il < n_layer; ++il) {
    uint64_t dst = 0;
    for (const Extent& e : extents[il]) {
      NX_CHECK(e.offset % kAlign == 0 && e.len % kAlign == 0, "unaligned extent of layer %d", il);
      for (uint64_t done = 0; done < e.len; done += o.chunk_bytes) {
        const uint64_t len = std::min(o.chunk_bytes, e.len - done);
        r->chunks_[il].push_back({e.offset + done, static_cast<uint32_t>(len), dst + done});
      }
      dst += e.len;
    }
    if (!r->chunks_[il].empty()) {
      r->position_[il] = static_cast<int>(r->order_.size());
      r->order_.push_back(il);
    }
    r->slot_bytes_ = std::max(r->slot_bytes_, dst);
    max_chunks = std::max(max_chunks, r->chunks_[il].size());
  }
  r->capacity_ = static_cast<int>(max_chunks) * o.n_slots + 64;
  r->slots_.resize(r->order_.empty() ? 0 : o.n_slots);
  for (Slot& s : r->slots_) {
    void* p = ::mmap(nullptr, r->slot_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return make_error(format("cannot allocate a %llu-byte layer slot: %s",
                               static_cast<unsigned long long>(r->slot_bytes_), std::strerror(errno)));
    s.buf = static_cast<uint8_t*>(p);
    // Transparent huge pages where the system allows them (madvise mode): fewer pages for
    // O_DIRECT to pin per read and fewer TLB misses while a layer computes from the slot.
    // B3 at 1G and 1.5G decoded 6-9 % faster with them (3 alternated rounds each). The
    // resident arena gets none: its first touch under direct compaction cost more time to
    // first token (1.7 vs 1.0 s) than it saved.
    ::madvise(p, r->slot_bytes_, MADV_HUGEPAGE);
    if (o.mlock && ::mlock(p, r->slot_bytes_) != 0)
      return make_error(format("cannot mlock a %llu-byte layer slot: %s (raise the memlock limit, ulimit -l)",
                               static_cast<unsigned long long>(r->slot_bytes_), std::strerror(errno)));
  }
  r->depth_ = std::max(1, std::min(2, o.n_slots));
  r->window_ = o.chunks_in_flight;
  LayerRing* self = r.get();
  NX_ASSIGN_OR_RETURN(r->backend_, make_read_backend(o.backend, r->fd_, r->capacity_, o.io_threads,
                                                     [self](const ReadRequest& q, int64_t res) { self->on_read_done(q, res); }));
  return r;
}

LayerRing::~LayerRing() {
  populate_stop_ = true;
  for (std::thread& t : populate_threads_) t.join();
  {
    std::unique_lock lock(mu_);
    copy_next_ = copy_.size();  // what the copy has not issued is not read
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }
  copy_backend_.reset();
  copy_bounce_.reset();
  backend_.reset();
  for (Slot& s : slots_)
    if (s.buf) ::munmap(s.buf, slot_bytes_);
  if (fd_ >= 0) ::close(fd_);
}

void LayerRing::chunk_started_locked(int n) {
  if (n <= 0) return;
  const Clock::time_point now = Clock::now();
  if (in_flight_ == 0) {
    busy_since_ = now;
    if (idle_valid_) stats_.io_idle_s += seconds(now - idle_since_);
    idle_valid_ = false;
  }
  in_flight_ += n;
}

void LayerRing::on_read_done(const ReadRequest& r, int64_t result) {
  // Bytes that must arrive: all of them, except past the end of the file (the last range is
  // rounded up to the block size).
  const uint64_t need = r.offset >= file_size_ ? 0 : std::min<uint64_t>(r.len, file_size_ - r.offset);
  std::string error;
  if (result < 0) {
    error = format("read error on '%s' at offset %llu: %s", path_.c_str(), static_cast<unsigned long long>(r.offset),
                   std::strerror(static_cast<int>(-result)));
  } else if (static_cast<uint64_t>(result) < need) {
    error = format("short read from '%s' at offset %llu: got %lld of %llu bytes (file truncated or changed while in use?)",
                   path_.c_str(), static_cast<unsigned long long>(r.offset), static_cast<long long>(result),
                   static_cast<unsigned long long>(need));
  }
  if (!direct_ && result > 0) ::posix_fadvise(fd_, static_cast<off_t>(r.offset), result, POSIX_FADV_DONTNEED);

  std::vector<ReadRequest>& reads = batch();
  std::unique_lock lock(mu_);
  const uint64_t got = result > 0 ? static_cast<uint64_t>(result) : 0;
  bool copy_done_now = false;
  if (r.tag & kCopyTag) {
    resident_bytes_read_ += got;
    if (!error.empty() && copy_error_.empty()) copy_error_ = error;
    --copy_in_flight_;
    if (error.empty()) {  // a failed chunk never completes its stage: waiting for it reports the error
      --stage_pending_[copy_[r.tag & ~kCopyTag].stage];
      advance_copy_stage_locked();
    }
    if (copy_next_ == copy_.size() && copy_in_flight_ == 0) {
      copy_s_ = seconds(Clock::now() - copy_start_);
      copy_done_now = true;
    }
  } else {
    stats_.bytes_read += got;
    Slot& s = slots_[r.tag];
    if (!error.empty() && s.error.empty()) s.error = error;
    if (--s.pending == 0) {
      s.state = SlotState::kReady;
      ++stats_.layers_read;
    }
  }
  if (--in_flight_ == 0) {
    const Clock::time_point now = Clock::now();
    stats_.io_busy_s += seconds(now - busy_since_);
    idle_since_ = now;
    idle_valid_ = true;
  }
  if (copy_done_now) {
    pump_locked(reads);  // the next pass's fills held back during the copy
  } else {
    collect_chunks_locked(reads);  // keep the window full
  }
  lock.unlock();
  cv_.notify_all();
  start_reads(reads);
}

void LayerRing::start_fill_locked(int slot, int layer) {
  Slot& s = slots_[slot];
  s.layer = layer;
  s.state = SlotState::kReading;
  s.error.clear();
  s.pending = static_cast<int>(chunks_[layer].size());
  s.issued = 0;
  s.fill_seq = next_fill_seq_++;
}

void LayerRing::collect_chunks_locked(std::vector<ReadRequest>& out) {
  const size_t first = out.size();
  const int stream_in_flight = in_flight_ - copy_in_flight_;
  // The resident copy, in its order, beside the stream (it is needed by the same first pass).
  // After a failed piece nothing more of it is read.
  for (; copy_next_ < copy_.size() && copy_in_flight_ < kCopyWindow && copy_error_.empty(); ++copy_next_) {
    const CopyChunk& c = copy_[copy_next_];
    out.push_back({c.offset, c.len, c.dst, kCopyTag | copy_next_, /*background=*/true});
    ++copy_in_flight_;
  }
  copy_issued_.store(copy_next_, std::memory_order_relaxed);
  for (int n = stream_in_flight; n < window_; ++n) {
    int oldest = -1;  // the fill started first that still has chunks to issue
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      const Slot& s = slots_[i];
      if (s.state == SlotState::kReading && s.issued < static_cast<int>(chunks_[s.layer].size()) &&
          (oldest < 0 || s.fill_seq < slots_[oldest].fill_seq))
        oldest = i;
    }
    if (oldest < 0) break;
    Slot& s = slots_[oldest];
    const Chunk& c = chunks_[s.layer][s.issued++];
    out.push_back({c.offset, c.len, s.buf + c.dst, static_cast<uint64_t>(oldest)});
  }
  chunk_started_locked(static_cast<int>(out.size() - first));
}

std::vector<ReadRequest>& LayerRing::batch() const {
  thread_local std::vector<ReadRequest> requests;
  requests.clear();
  if (requests.capacity() < static_cast<size_t>(capacity_)) requests.reserve(capacity_);
  return requests;
}

void LayerRing::start_reads(std::vector<ReadRequest>& requests) {
  // collect_chunks_locked puts the copy's reads first: they go to the copy's own threads.
  const auto is_copy = [](const ReadRequest& r) { return (r.tag & kCopyTag) != 0; };
  NX_CHECK(std::is_partitioned(requests.begin(), requests.end(), is_copy), "copy reads after stream reads in a batch");
  const auto stream_begin = std::partition_point(requests.begin(), requests.end(), is_copy);
  const std::span<const ReadRequest> all(requests);
  const size_t n_copy = static_cast<size_t>(stream_begin - requests.begin());
  if (n_copy > 0) copy_backend_->submit(all.first(n_copy));
  if (n_copy < all.size()) backend_->submit(all.subspan(n_copy));
  requests.clear();
}

void LayerRing::pump_locked(std::vector<ReadRequest>& out) {
  for (; !order_.empty() && failed_.empty();) {
    int occupied = 0, free_slot = -1;
    const int next = order_[next_fetch_];
    bool next_held = false;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      if (slots_[i].state == SlotState::kFree) {
        if (free_slot < 0) free_slot = i;
      } else {
        ++occupied;
        if (slots_[i].layer == next) next_held = true;
      }
    }
    if (free_slot < 0 || occupied >= depth_ || next_held) break;
    // While the resident copy lands, the first pass waits on it, not on the next pass: reading
    // the next pass's first layers beside it would only delay the copy (and the first token).
    if (next_fetch_ == 0 && copy_landing_locked()) break;
    next_fetch_ = (next_fetch_ + 1) % order_.size();
    start_fill_locked(free_slot, next);
  }
  collect_chunks_locked(out);
}

void LayerRing::restart_locked(std::unique_lock<std::mutex>& lock, int il, std::vector<ReadRequest>& out) {
  // Chunks not yet issued are dropped; reads cannot be cancelled: let those in flight land
  // (the resident copy's go on beside), then forget every slot not in use.
  for (Slot& s : slots_)
    if (s.state == SlotState::kReading) {
      s.pending -= static_cast<int>(chunks_[s.layer].size()) - s.issued;
      s.issued = static_cast<int>(chunks_[s.layer].size());
    }
  cv_.wait(lock, [&] { return in_flight_ == copy_in_flight_; });
  for (Slot& s : slots_)
    if (s.state != SlotState::kInUse) {
      s.state = SlotState::kFree;
      s.layer = -1;
    }
  // The layer asked for is read first, whatever pump_locked would hold back.
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i)
    if (slots_[i].state == SlotState::kFree) {
      start_fill_locked(i, il);
      break;
    }
  next_fetch_ = (static_cast<size_t>(position_[il]) + 1) % order_.size();
  pump_locked(out);
}

bool LayerRing::copy_landing_locked() const { return !copy_.empty() && copy_s_ == 0 && copy_error_.empty(); }

Status LayerRing::check_file_locked() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return make_error(format("cannot stat '%s': %s", path_.c_str(), std::strerror(errno)));
  const bool size_changed = static_cast<uint64_t>(st.st_size) != file_size_;
  if (size_changed || !same_time(st.st_mtim, mtime_))
    return make_error(format("model file '%s' changed on disk while in use (%s); load it again",
                             path_.c_str(),
                             size_changed ? format("size %llu -> %llu bytes", static_cast<unsigned long long>(file_size_),
                                                   static_cast<unsigned long long>(st.st_size)).c_str()
                                          : "modification time changed"));
  return Status::Ok();
}

Result<const uint8_t*> LayerRing::acquire(int il) {
  std::unique_lock lock(mu_);
  NX_CHECK(il >= 0 && il < static_cast<int>(position_.size()) && position_[il] >= 0, "layer %d is not streamed", il);
  if (!failed_.empty()) return make_error(failed_);
  if (position_[il] == 0) {  // a new forward pass
    ++stats_.passes;
    const Status st = check_file_locked();
    if (!st.ok()) {
      failed_ = st.error().message;
      return st.error();
    }
  }
  auto find = [&]() -> int {
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i)
      if (slots_[i].layer == il && (slots_[i].state == SlotState::kReading || slots_[i].state == SlotState::kReady))
        return i;
    return -1;
  };
  int i = find();
  if (i < 0) {
    std::vector<ReadRequest>& reads = batch();
    restart_locked(lock, il, reads);
    i = find();
    NX_CHECK(i >= 0, "no free slot for layer %d (was a layer acquired twice?)", il);
    lock.unlock();
    start_reads(reads);
    lock.lock();
  }
  const Clock::time_point t0 = Clock::now();
  cv_.wait(lock, [&] { return slots_[i].state != SlotState::kReading; });
  stats_.compute_wait_s += seconds(Clock::now() - t0);
  Slot& s = slots_[i];
  if (!s.error.empty()) {
    failed_ = s.error;
    s.state = SlotState::kFree;
    s.layer = -1;
    return make_error(failed_);
  }
  s.state = SlotState::kInUse;
  s.acquired = Clock::now();
  return static_cast<const uint8_t*>(s.buf);
}

void LayerRing::release(int il) {
  std::vector<ReadRequest>& reads = batch();
  std::unique_lock lock(mu_);
  for (Slot& s : slots_) {
    if (s.layer != il || s.state != SlotState::kInUse) continue;
    s.state = SlotState::kFree;
    s.layer = -1;
    // Prefetch depth: enough layers ahead to cover one layer's read at the measured bandwidth
    // while one computes, plus the one computing.
    const double compute = seconds(Clock::now() - s.acquired);
    ema_compute_s_ = ema_compute_s_ == 0 ? compute : 0.8 * ema_compute_s_ + 0.2 * compute;
    const double bw = stats_.read_bandwidth();
    if (!io_only_ && bw > 0 && ema_compute_s_ > 0 && !order_.empty()) {
      const double read_s = static_cast<double>(slot_bytes_) / bw;
      const int ahead = static_cast<int>(std::ceil(read_s / ema_compute_s_));
      depth_ = std::clamp(1 + ahead, std::min(2, n_slots()), n_slots());
    }
    stats_.depth = depth_;
    break;
  }
  pump_locked(reads);
  // The copy's threads go once it is over (landed or failed): no read of it is left to start.
  std::unique_ptr<BounceBuffers> bounce_over;  // declared first: goes after the threads using it
  std::unique_ptr<ReadBackend> copy_over;
  std::vector<std::thread> populate_over;
  if (copy_backend_ && copy_in_flight_ == 0 && (copy_next_ == copy_.size() || !copy_error_.empty())) {
    bounce_over = std::move(copy_bounce_);
    copy_over = std::move(copy_backend_);
    populate_stop_ = true;
    populate_over = std::move(populate_threads_);
  }
  lock.unlock();
  start_reads(reads);
  for (std::thread& t : populate_over) t.join();  // every chunk was issued: they are done or about to be
}

Status LayerRing::start_copy(const std::vector<CopyPiece>& pieces) {
  NX_CHECK(!copy_backend_ && copy_.empty() && stage_pending_.empty(), "one resident copy per ring");
  if (direct_) copy_bounce_ = std::make_unique<BounceBuffers>(kCopyWindow, kCopyChunk);
  NX_ASSIGN_OR_RETURN(copy_backend_, make_pread_backend(fd_, kCopyWindow, kCopyWindow, copy_bounce_.get(),
                                                        [this](const ReadRequest& q, int64_t res) { on_read_done(q, res); }));
  std::vector<ReadRequest>& reads = batch();
  std::unique_lock lock(mu_);
  int last_stage = 0;
  for (const CopyPiece& p : pieces) {
    NX_CHECK(p.offset % kAlign == 0 && p.len % kAlign == 0 && reinterpret_cast<uintptr_t>(p.dst) % kAlign == 0,
             "unaligned copy piece");
    NX_CHECK(p.stage >= last_stage, "copy stages out of order (%d after %d)", p.stage, last_stage);
    last_stage = p.stage;
    for (uint64_t done = 0; done < p.len; done += kCopyChunk)
      copy_.push_back({p.offset + done, static_cast<uint32_t>(std::min(kCopyChunk, p.len - done)), p.dst + done, p.stage});
  }
  stage_pending_.assign(static_cast<size_t>(last_stage) + 1, 0);
  for (const CopyChunk& c : copy_) ++stage_pending_[c.stage];
  copy_stage_done_ = -1;
  advance_copy_stage_locked();  // stages without pieces are complete
  copy_start_ = Clock::now();
  collect_chunks_locked(reads);
  lock.unlock();
  start_reads(reads);
  for (int i = 0; i < kPopulateThreads; ++i) populate_threads_.emplace_back([this] { populate_copy(); });
  return Status::Ok();
}

// Faults in the destination of the chunks whose reads have not started, in copy order, so the
// reads land in memory already faulted in while the faults overlap other reads (see
// kPopulateThreads). A chunk whose read has started is left to that read. Only faulting: the
// bytes are the reads', and a page that is already there is left as it is.
void LayerRing::populate_copy() {
  // Only when a CPU is otherwise idle: the first pass's compute and the stream's completions
  // come first (sched(7); a thread may always lower its own policy). At the normal policy B3's
  // first token at 1G, with the cheap memory used up, came after 1.33-1.49 s, against
  // 0.91-1.38 s at the idle one.
  sched_param idle{};
  ::sched_setscheduler(0, SCHED_IDLE, &idle);
  for (;;) {
    const size_t i = populate_next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= copy_.size() || populate_stop_.load(std::memory_order_relaxed)) return;
    if (i < copy_issued_.load(std::memory_order_relaxed)) continue;
    // A failure leaves the chunk to its read, which faults the pages as it would have anyway:
    // kernels before 5.14 lack MADV_POPULATE_WRITE, and a chunk can land and be sealed
    // read-only while this runs.
    ::madvise(copy_[i].dst, copy_[i].len, MADV_POPULATE_WRITE);
  }
}

void LayerRing::advance_copy_stage_locked() {
  while (copy_stage_done_ + 1 < static_cast<int>(stage_pending_.size()) && stage_pending_[copy_stage_done_ + 1] == 0)
    ++copy_stage_done_;
}

Status LayerRing::wait_copy(int stage) {
  std::unique_lock lock(mu_);
  stage = std::min(stage, static_cast<int>(stage_pending_.size()) - 1);
  // A failed piece: the rest of its stage never lands; wait for what is in flight, then report.
  cv_.wait(lock, [&] { return copy_stage_done_ >= stage || (!copy_error_.empty() && copy_in_flight_ == 0); });
  if (copy_stage_done_ >= stage) return Status::Ok();
  if (failed_.empty()) failed_ = copy_error_;
  return make_error(copy_error_);
}

int LayerRing::copy_stage_done() const {
  std::lock_guard lock(mu_);
  return copy_stage_done_;
}

double LayerRing::copy_seconds() const {
  std::lock_guard lock(mu_);
  return copy_s_;
}

Result<IoOnlyRate> LayerRing::measure_io_only(int warmup, int passes) {
  // One warm-up pass at least: it leaves the ring in the state every in-order pass ends in,
  // so the timed window reads whole passes.
  NX_CHECK(warmup >= 1 && passes >= 1, "warmup %d passes %d", warmup, passes);
  IoOnlyRate rate;
  rate.passes = passes;
  if (order_.empty()) return rate;
  StreamStats saved;
  double saved_ema = 0;
  int saved_depth = 0;
  {
    std::lock_guard lock(mu_);
    saved = stats_;
    saved_ema = ema_compute_s_;
    saved_depth = depth_;
    io_only_ = true;
    depth_ = n_slots();
  }
  auto pass = [&]() -> Status {
    for (int il : order_) {
      if (Result<const uint8_t*> slot = acquire(il); !slot.ok()) return slot.error();
      release(il);
    }
    return Status::Ok();
  };
  auto drain = [&] {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
    return stats_.bytes_read;
  };
  auto timed = [&]() -> Status {
    for (int p = 0; p < warmup; ++p) NX_TRY(pass());
    const uint64_t bytes0 = drain();
    const Clock::time_point t0 = Clock::now();
    for (int p = 0; p < passes; ++p) NX_TRY(pass());
    rate.bytes = drain() - bytes0;
    rate.seconds = seconds(Clock::now() - t0);
    return Status::Ok();
  };
  const Status st = timed();
  {
    std::lock_guard lock(mu_);
    io_only_ = false;
    stats_ = saved;
    ema_compute_s_ = saved_ema;
    depth_ = saved_depth;
    // The measurement's reads count neither as busy nor as idle time of the stream.
    idle_since_ = busy_since_ = Clock::now();
    idle_valid_ = in_flight_ == 0;
  }
  if (!st.ok()) return st.error();
  return rate;
}

StreamStats LayerRing::stats() const {
  std::lock_guard lock(mu_);
  StreamStats s = stats_;
  s.depth = depth_;
  if (in_flight_ > 0) s.io_busy_s += seconds(Clock::now() - busy_since_);  // the busy period so far
  return s;
}

void LayerRing::reset_stats() {
  std::lock_guard lock(mu_);
  const bool busy = in_flight_ > 0;
  stats_ = StreamStats{};
  stats_.depth = depth_;
  busy_since_ = Clock::now();
  idle_valid_ = idle_valid_ && !busy;
  if (idle_valid_) idle_since_ = busy_since_;
}

uint64_t LayerRing::resident_bytes_read() const {
  std::lock_guard lock(mu_);
  return resident_bytes_read_;
}

}  // namespace nexus
