// ZeroPages: zero-filled, writable, moved without copying, and untouched pages not resident
// (the point of using it for a KV cache sized for the whole context).
#include "runtime/zero_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <vector>

namespace nexus {
namespace {

// Pages of [p, p + n) in memory, by mincore.
size_t resident_pages(const uint8_t* p, size_t n) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> v((n + page - 1) / page);
  EXPECT_EQ(::mincore(const_cast<uint8_t*>(p), n, v.data()), 0);
  size_t r = 0;
  for (unsigned char c : v) r += c & 1;
  return r;
}

TEST(ZeroPages, ZeroFilledAndTouchedOnlyWhereWritten) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t n = 64 * page + 123;
  ZeroPages z(n);
  ASSERT_NE(z.data(), nullptr);
  EXPECT_EQ(z.size(), n);
  EXPECT_EQ(resident_pages(z.data(), n), 0u);
  z.data()[5 * page + 7] = 42;
  z.data()[n - 1] = 7;
  EXPECT_LE(resident_pages(z.data(), n), 2u);  // only the pages written
  for (size_t i = 0; i < n; i += 97) {
    if (i != 5 * page + 7) {
      EXPECT_EQ(z.data()[i], 0) << i;
    }
  }
  EXPECT_EQ(z.data()[5 * page + 7], 42);

  ZeroPages moved(std::move(z));
  EXPECT_EQ(z.data(), nullptr);
  EXPECT_EQ(z.size(), 0u);
  EXPECT_EQ(moved.data()[n - 1], 7);
  ZeroPages empty;
  EXPECT_EQ(empty.data(), nullptr);
  empty = std::move(moved);
  EXPECT_EQ(empty.size(), n);
  EXPECT_EQ(empty.data()[5 * page + 7], 42);
}

TEST(ZeroArray, TypedZerosTouchedOnlyWhereWritten) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t n = 16 * page + 5;  // floats: 64 pages and a bit
  ZeroArray<float> a(n);
  EXPECT_EQ(a.size(), n);
  EXPECT_EQ(resident_pages(reinterpret_cast<const uint8_t*>(a.data()), n * sizeof(float)), 0u);
  a[3] = 1.5f;
  a[n - 1] = -2.0f;
  EXPECT_LE(resident_pages(reinterpret_cast<const uint8_t*>(a.data()), n * sizeof(float)), 2u);
  EXPECT_EQ(a[0], 0.0f);
  EXPECT_EQ(a[n / 2], 0.0f);
  EXPECT_EQ(a.data()[3], 1.5f);
  ZeroArray<float> b(std::move(a));
  EXPECT_EQ(b[n - 1], -2.0f);
  EXPECT_EQ(b.size(), n);
}

}  // namespace
}  // namespace nexus
