// A read-only memory mapping of a whole file (RAII). Model files are mapped rather than read
// so that weights are paged in on demand and shared between processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "nexus/result.h"

namespace nexus {

class MappedFile {
 public:
  // Maps `path` with PROT_READ / MAP_PRIVATE. Errors read "cannot open 'path': <strerror>".
  // An empty file yields an empty span (mmap refuses length 0).
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {static_cast<const uint8_t*>(addr_), size_}; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void reset();

  void* addr_ = nullptr;  // nullptr when nothing is mapped (empty file or moved-from)
  size_t size_ = 0;
  std::string path_;
};

}  // namespace nexus
