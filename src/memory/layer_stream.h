// The streaming engine: a fixed ring of layer slots that per-layer weights are read into ahead
// of the layer that computes on them. Reads for the next layers are in flight while the current
// one computes; slots and request tables are allocated once at open, nothing while generating.
//
// The file is opened with O_DIRECT (page-aligned buffers and ranges) so streamed weights do not
// also fill the page cache; where O_DIRECT is refused the reads are buffered and each range is
// dropped from the cache (posix_fadvise DONTNEED) once read. Reads go through io_reader.h
// (io_uring, or pread threads; the resident copy always on pread threads of its own).
//
// Faults stop the stream: a read error or a short read fails the acquire() that waits on it and
// every later one, with a message naming the file and offset; a file whose size or modification
// time changed since open is refused at the start of the next forward pass.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "memory/io_reader.h"
#include "memory/residency_plan.h"
#include "nexus/result.h"

namespace nexus {

struct StreamStats {
  uint64_t bytes_read = 0;       // streamed bytes the reader returned
  uint64_t layers_read = 0;
  uint64_t passes = 0;           // forward passes (acquires of the first streamed layer)
  double compute_wait_s = 0;     // time acquire() blocked on reads: compute waiting on I/O
  double io_idle_s = 0;          // no read in flight, waiting for a slot to be released: I/O waiting on compute
  double io_busy_s = 0;          // time with at least one read in flight
  int depth = 0;                 // current prefetch depth (slots that may be filled ahead)
  uint64_t bytes_per_pass() const { return passes ? bytes_read / passes : 0; }
  double read_bandwidth() const { return io_busy_s > 0 ? static_cast<double>(bytes_read) / io_busy_s : 0; }
};

// One timed run of the stream without compute (LayerRing::measure_io_only).
struct IoOnlyRate {
  uint64_t bytes = 0;  // streamed bytes the reader returned in the timed passes
  int passes = 0;
  double seconds = 0;  // wall time of the timed passes
  double bandwidth() const { return seconds > 0 ? static_cast<double>(bytes) / seconds : 0; }
};

struct LayerRingOptions {
  IoBackendKind backend = IoBackendKind::kAuto;
  int n_slots = 2;
  // Reads are split into chunks this size (aligned), at most chunks_in_flight of them in
  // flight, issued in layer order. With every chunk of the slots' layers in flight at once
  // the device served them interleaved, so a layer landed only with the last of them (traced
  // on B3: two layers' chunks completing within 0.1 ms) and the disk idled while the first
  // computed. 8 MiB x 4 measured best of 2x16, 4x8 and 8x4 on B3 at 1.5G (bench/NOTES.md).
  uint64_t chunk_bytes = uint64_t{8} << 20;
  int chunks_in_flight = 4;
  int io_threads = 4;                        // pread backend
  bool direct = true;                        // try O_DIRECT
  bool mlock = false;                        // lock the slots in RAM (error if not allowed)
};

class LayerRing {
 public:
  // extents[il]: the ranges of layer il, read back to back into a slot; empty when the layer
  // is not streamed. Every slot holds the largest layer.
  static Result<std::unique_ptr<LayerRing>> open(const std::string& path, std::vector<std::vector<Extent>> extents,
                                                 const LayerRingOptions& options);
  ~LayerRing();
  LayerRing(const LayerRing&) = delete;
  LayerRing& operator=(const LayerRing&) = delete;

  // Waits until layer il's ranges are in a slot and returns the slot's bytes (extents back to
  // back). Acquires are expected in cyclic layer order; any other layer restarts the prefetch
  // there. Valid until release(il).
  Result<const uint8_t*> acquire(int il);
  void release(int il);

  // The resident copy at load, read in the background on pread threads of its own (one per
  // chunk in flight, so the destination's fresh pages fault in side by side; threads at the
  // idle CPU policy fault the pages of chunks not yet issued ahead of their reads) while forward
  // passes run, so the first pass computes each layer as soon as that layer's part has landed
  // instead of after the whole copy. Pieces are read in the order given, each into its own
  // destination; stage s is complete when every piece of a stage <= s has landed. One copy
  // per ring. Its bytes count in resident_bytes_read(), not in the stream statistics.
  struct CopyPiece {
    uint64_t offset = 0;  // aligned, as are len and dst
    uint64_t len = 0;
    uint8_t* dst = nullptr;
    int stage = 0;  // nondecreasing along the pieces
  };
  Status start_copy(const std::vector<CopyPiece>& pieces);
  // How the copy reads (layer_stream.cc says why): chunks of kCopyChunk bytes, kCopyWindow in
  // flight, each on a pread thread of its own through a bounce buffer of kCopyChunk bytes.
  // Bench's reference reads of the resident part (mem_stats.cc) read the same way.
  static constexpr int kCopyWindow = 8;
  static constexpr uint64_t kCopyChunk = uint64_t{2} << 20;
  // The memory the copy's reads go through while it lands (its threads' bounce buffers, which
  // go with them); the residency plan counts it.
  static constexpr uint64_t kCopyBounceBytes = kCopyWindow * kCopyChunk;
  // Waits until stage `stage` of the copy is complete; the copy's first read error otherwise
  // (which also stops the stream).
  Status wait_copy(int stage);
  // The last stage such that it and every earlier one have landed (-1: none yet); no wait.
  int copy_stage_done() const;
  // Wall time from start_copy to the last piece landing; 0 until then.
  double copy_seconds() const;

  // The stream with no compute: acquires and releases every streamed layer in order for
  // `warmup` (>= 1) + `passes` forward passes through this ring's reader, slots, chunks and
  // requests, prefetching as deep as the slots allow, and times the last `passes`. Its rate is
  // what decoding could reach if compute were free, on the same byte ranges and in the same
  // state of any cache below the file (the warm-up makes it match a decode in progress). The
  // timed window starts and ends with the reads in flight drained, so `bytes` is exactly
  // `passes` times the streamed bytes of a pass. Statistics and the adaptive depth are left as
  // they were. Must not run concurrently with a forward pass.
  Result<IoOnlyRate> measure_io_only(int warmup, int passes);

  StreamStats stats() const;
  void reset_stats();
  uint64_t resident_bytes_read() const;
  const char* backend_name() const { return backend_->name(); }
  bool direct() const { return direct_; }
  uint64_t slot_bytes() const { return slot_bytes_; }
  int n_slots() const { return static_cast<int>(slots_.size()); }

 private:
  using Clock = std::chrono::steady_clock;
  enum class SlotState { kFree, kReading, kReady, kInUse };
  struct Slot {
    uint8_t* buf = nullptr;
    int layer = -1;
    SlotState state = SlotState::kFree;
    int pending = 0;        // chunks not yet completed
    int issued = 0;         // chunks handed to the reader
    uint64_t fill_seq = 0;  // fills are served oldest first
    std::string error;      // first failure of this fill
    Clock::time_point acquired;
  };
  struct Chunk {
    uint64_t offset;
    uint32_t len;
    uint64_t dst;  // offset in the slot
  };

  LayerRing() = default;
  // Reads are chosen under mu_ (collect_chunks_locked, pump_locked, restart_locked append them
  // to a batch) and started by start_reads after mu_ is released: a submit can fault in its
  // destination pages (fresh memory, about 1 ms per 2 MiB here), and when the copy was
  // submitted under mu_ the forward pass starved of the lock: a trace showed the first pass
  // blocked on it for 0.44 s while the copy's completions kept re-taking it.
  std::vector<ReadRequest>& batch() const;  // this thread's, emptied, with room for capacity_
  void start_reads(std::vector<ReadRequest>& requests);
  void on_read_done(const ReadRequest& r, int64_t result);
  void pump_locked(std::vector<ReadRequest>& out);
  void start_fill_locked(int slot, int layer);
  void collect_chunks_locked(std::vector<ReadRequest>& out);
  void advance_copy_stage_locked();
  void populate_copy();  // a populate thread's loop
  bool copy_landing_locked() const;  // started, not all landed, no error
  void restart_locked(std::unique_lock<std::mutex>& lock, int il, std::vector<ReadRequest>& out);
  Status check_file_locked();
  void chunk_started_locked(int n);

  std::string path_;
  int fd_ = -1;
  bool direct_ = false;
  uint64_t file_size_ = 0;
  timespec mtime_{};
  uint64_t slot_bytes_ = 0;
  std::vector<std::vector<Chunk>> chunks_;  // per layer
  std::vector<int> order_;                  // streamed layers, in order
  std::vector<int> position_;               // layer -> index in order_, -1 if not streamed
  int capacity_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  size_t next_fetch_ = 0;
  int in_flight_ = 0;  // chunks submitted, not completed
  int window_ = 4;     // LayerRingOptions::chunks_in_flight
  uint64_t next_fill_seq_ = 0;
  int depth_ = 1;
  std::string failed_;  // sticky error: the stream stopped
  // the resident copy
  struct CopyChunk {
    uint64_t offset;
    uint32_t len;
    uint8_t* dst;
    int stage;
  };
  std::vector<CopyChunk> copy_;
  size_t copy_next_ = 0;           // first chunk not yet issued
  int copy_in_flight_ = 0;
  std::vector<int> stage_pending_;  // per stage: chunks not yet landed
  int copy_stage_done_ = -1;        // every stage <= this one is complete
  std::string copy_error_;
  Clock::time_point copy_start_{};
  double copy_s_ = 0;
  uint64_t resident_bytes_read_ = 0;
  // statistics and the adaptive depth
  StreamStats stats_;
  Clock::time_point busy_since_{}, idle_since_{};
  bool idle_valid_ = false;
  double ema_compute_s_ = 0;  // per layer
  bool io_only_ = false;      // measure_io_only running: the depth stays at the slot count
  std::unique_ptr<ReadBackend> backend_;       // the stream's reads
  // The resident copy's reads: pread threads (kCopyWindow), from start_copy until the copy is
  // over (released by the first release() after).
  std::unique_ptr<ReadBackend> copy_backend_;
  std::unique_ptr<BounceBuffers> copy_bounce_;  // its threads' bounce buffers, while it has them
  // Threads faulting in the copy's destination ahead of its reads (kPopulateThreads, started
  // by start_copy, joined with the copy's threads); see populate_copy().
  std::vector<std::thread> populate_threads_;
  std::atomic<size_t> populate_next_{0};  // the next copy chunk to fault in
  std::atomic<size_t> copy_issued_{0};    // copy_next_, for the populate threads (no lock)
  std::atomic<bool> populate_stop_{false};
};

}  // namespace nexus
