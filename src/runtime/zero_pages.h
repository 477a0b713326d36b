// A large zero-filled buffer whose pages cost nothing until first written: anonymous memory
// from mmap, which the kernel hands out as zero pages on demand. A std::vector of the same
// size writes every byte up front; for a KV cache sized for the whole context that is
// hundreds of MiB touched before the first token (0.3 s for 224 MiB on a VM whose page faults
// are slow), and resident memory the session may never use.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace nexus {

class ZeroPages {
 public:
  ZeroPages() = default;
  // Throws std::bad_alloc when the mapping is refused, as a vector of the same size would.
  explicit ZeroPages(size_t size) : size_(size) {
    if (size == 0) return;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(p);
  }
  ~ZeroPages() {
    if (data_) ::munmap(data_, size_);
  }
  ZeroPages(ZeroPages&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ZeroPages& operator=(ZeroPages&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ZeroPages(const ZeroPages&) = delete;
  ZeroPages& operator=(const ZeroPages&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// An array of T (trivially copyable, all-zero bytes = value 0) over ZeroPages: a scratch
// buffer sized for the largest batch costs only the pages a forward pass writes. RunState's
// buffers for a 512-token batch are 68 MiB on a 3B model; as vectors they were zero-filled at
// session creation, 45-50 ms of page faults before the first token.
template <class T>
class ZeroArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  ZeroArray() = default;
  explicit ZeroArray(size_t n) : pages_(n * sizeof(T)), n_(n) {}

  T* data() { return reinterpret_cast<T*>(pages_.data()); }
  const T* data() const { return reinterpret_cast<const T*>(pages_.data()); }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }

 private:
  ZeroPages pages_;
  size_t n_ = 0;
};

}  // namespace nexus
