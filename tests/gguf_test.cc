// GGUF reader/writer: round trips of every value type and several tensor types, every
// corruption the parser must refuse (with the message it must give), and the real
// stories260K model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "gguf/gguf.h"
#include "test_util.h"

namespace nexus::gguf {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Serialises a Writer to bytes (through a temp file, exercising write()).
std::vector<uint8_t> to_bytes(const Writer& w) {
  const std::string path = test::temp_dir() + "/t.gguf";
  const Status s = w.write(path);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return read_file(path);
}

// Offset of the first occurrence of `needle` in `b` (the test aborts if absent).
size_t find_bytes(const std::vector<uint8_t>& b, std::string_view needle) {
  auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  EXPECT_NE(it, b.end()) << "'" << needle << "' not found";
  return static_cast<size_t>(it - b.begin());
}

template <typename T>
void poke(std::vector<uint8_t>& b, size_t at, T v) {
  ASSERT_LE(at + sizeof(T), b.size());
  std::memcpy(b.data() + at, &v, sizeof(T));
}

// Byte offsets of the fields of the tensor info for `name` (its name string is unique).
struct InfoFields {
  size_t n_dims, dims, type, offset;
};
InfoFields info_fields(const std::vector<uint8_t>& b, const std::string& name, int n_dims) {
  const size_t name_at = find_bytes(b, name);
  InfoFields f;
  f.n_dims = name_at + name.size();
  f.dims = f.n_dims + 4;
  f.type = f.dims + 8 * static_cast<size_t>(n_dims);
  f.offset = f.type + 4;
  return f;
}

std::vector<float> iota_f32(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
  return v;
}

// A small valid model: two F32 tensors (the second of 3*5 floats, so the data ends unaligned).
Writer tiny_writer() {
  Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  w.set_strings("tokenizer.ggml.tokens", {"a", "b", "c"});
  const auto a = iota_f32(8), b = iota_f32(15);
  w.add_tensor("weight.a", DType::F32, {8}, a.data(), a.size() * 4);
  w.add_tensor("weight.b", DType::F32, {3, 5}, b.data(), b.size() * 4);
  return w;
}

Result<File> parse(const std::vector<uint8_t>& b) { return File::parse({b.data(), b.size()}); }

std::string parse_error(const std::vector<uint8_t>& b) {
  Result<File> r = parse(b);
  EXPECT_FALSE(r.ok()) << "parse unexpectedly succeeded";
  return r.ok() ? std::string() : r.error().message;
}

TEST(GgufRoundTrip, EveryValueTypeAndTensorType) {
  Writer w;
  w.set("u8", Value{ValueType::UINT8, uint64_t{200}});
  w.set("i8", Value{ValueType::INT8, int64_t{-100}});
  w.set("u16", Value{ValueType::UINT16, uint64_t{60000}});
  w.set("i16", Value{ValueType::INT16, int64_t{-30000}});
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set_f32("f32", 1.5f);
  w.set_bool("bool", true);
  w.set_string("string", std::string("with\0nul", 8));
  w.set("u64", Value{ValueType::UINT64, uint64_t{1} << 63});
  w.set("i64", Value{ValueType::INT64, int64_t{-(int64_t{1} << 62)}});
  w.set("f64", Value{ValueType::FLOAT64, 3.141592653589793});
  w.set_strings("arr.string", {"", "x", "hello"});
  w.set_f32s("arr.f32", {1.0f, -2.5f});
  w.set_i32s("arr.i32", {-1, 0, 7});
  {
    Array a;
    a.elem_type = ValueType::BOOL;
    a.ints = {1, 0, 1};
    w.set("arr.bool", Value{ValueType::ARRAY, a});
    Array u;
    u.elem_type = ValueType::UINT16;
    u.uints = {1, 65535};
    w.set("arr.u16", Value{ValueType::ARRAY, u});
    Array d;
    d.elem_type = ValueType::FLOAT64;
    d.floats = {1e300, -0.0};
    w.set("arr.f64", Value{ValueType::ARRAY, d});
    Array e;
    e.elem_type = ValueType::INT64;
    w.set("arr.empty", Value{ValueType::ARRAY, e});
  }
  w.set_u32("general.alignment", 64);

  // Tensor data of several types; the bytes need not be meaningful quantized values.
  auto bytes_of = [](size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed);
    return v;
  };
  struct T {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
  };
  const std::vector<T> specs = {
      {"f32", DType::F32, {7, 3}},          {"f16", DType::F16, {5}},
      {"q4_0", DType::Q4_0, {64, 2}},       {"q8_0", DType::Q8_0, {32, 3, 2}},
      {"q4_k", DType::Q4_K, {256, 1, 1, 2}}, {"q6_k", DType::Q6_K, {512, 3}},
      {"i32", DType::I32, {3}},             {"empty", DType::F32, {0, 4}},
  };
  std::vector<std::vector<uint8_t>> datas;
  for (size_t i = 0; i < specs.size(); ++i) {
    int64_t rows = 1;
    for (size_t d = 1; d < specs[i].ne.size(); ++d) rows *= specs[i].ne[d];
    datas.push_back(bytes_of(row_bytes(specs[i].type, specs[i].ne[0]) * rows, static_cast<uint8_t>(i)));
    w.add_tensor(specs[i].name, specs[i].type, specs[i].ne, datas[i].data(), datas[i].size());
  }

  const std::string path = test::temp_dir() + "/rt.gguf";
  const Status s = w.write(path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  Result<File> r = File::open(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const File& f = *r;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);

  // Metadata: same keys in insertion order with identical values.
  const std::vector<std::string> keys = {"u8",  "i8",  "u16",        "i16",     "u32",     "i32",
                                         "f32", "bool", "string",    "u64",     "i64",     "f64",
                                         "arr.string", "arr.f32", "arr.i32", "arr.bool", "arr.u16",
                                         "arr.f64", "arr.empty", "general.alignment"};
  ASSERT_EQ(f.metadata().size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(f.metadata()[i].first, keys[i]);
  EXPECT_EQ(f.find("u8")->type, ValueType::UINT8);
  EXPECT_EQ(f.get_int("u8"), 200);
  EXPECT_EQ(f.find("i8")->type, ValueType::INT8);
  EXPECT_EQ(f.get_int("i8"), -100);
  EXPECT_EQ(f.get_int("u16"), 60000);
  EXPECT_EQ(f.get_int("i16"), -30000);
  EXPECT_EQ(f.get_int("u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("i32"), -2000000000);
  EXPECT_EQ(f.get_float("f32"), 1.5);
  EXPECT_EQ(f.get_bool("bool"), true);
  EXPECT_EQ(f.get_string("string"), std::string("with\0nul", 8));
  EXPECT_EQ(f.find("u64")->type, ValueType::UINT64);
  EXPECT_EQ(std::get<uint64_t>(f.find("u64")->v), uint64_t{1} << 63);
  EXPECT_EQ(f.get_int("u64"), std::nullopt) << "2^63 does not fit in int64";
  EXPECT_EQ(f.get_int("i64"), -(int64_t{1} << 62));
  EXPECT_EQ(f.get_float("f64"), 3.141592653589793);
  EXPECT_EQ(f.get_float("u32"), 4000000000.0) << "integers convert to float";
  EXPECT_EQ(f.get_string("u32"), std::nullopt);
  EXPECT_EQ(f.get_int("string"), std::nullopt);
  EXPECT_EQ(f.get_bool("u8"), std::nullopt);
  EXPECT_EQ(f.get_int("missing"), std::nullopt);
  EXPECT_EQ(f.get_array("u8"), nullptr);

  const Array* as = f.get_array("arr.string");
  ASSERT_NE(as, nullptr);
  EXPECT_EQ(as->elem_type, ValueType::STRING);
  EXPECT_EQ(as->strings.to_vector(), (std::vector<std::string>{"", "x", "hello"}));
  EXPECT_EQ(f.get_array("arr.f32")->floats, (std::vector<double>{1.0, -2.5}));
  EXPECT_EQ(f.get_array("arr.i32")->ints, (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_EQ(f.get_array("arr.i32")->elem_type, ValueType::INT32);
  EXPECT_EQ(f.get_array("arr.bool")->ints, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(f.get_array("arr.bool")->elem_type, ValueType::BOOL);
  EXPECT_EQ(f.get_array("arr.u16")->uints, (std::vector<uint64_t>{1, 65535}));
  EXPECT_EQ(f.get_array("arr.f64")->floats[0], 1e300);
  EXPECT_TRUE(std::signbit(f.get_array("arr.f64")->floats[1]));
  EXPECT_EQ(f.get_array("arr.empty")->size(), 0u);
  EXPECT_EQ(f.get_array("arr.empty")->elem_type, ValueType::INT64);

  // Tensors: same order, shapes, types; data aligned and byte-identical.
  ASSERT_EQ(f.tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    SCOPED_TRACE(specs[i].name);
    const TensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.type, specs[i].type);
    ASSERT_EQ(t.n_dims, static_cast<int>(specs[i].ne.size()));
    for (int d = 0; d < 4; ++d)
      EXPECT_EQ(t.ne[d], d < t.n_dims ? specs[i].ne[static_cast<size_t>(d)] : 1);
    EXPECT_EQ(t.offset % 64, 0u);
    EXPECT_EQ(t.nbytes, datas[i].size());
    EXPECT_EQ(f.find_tensor(specs[i].name), &t);
    const TensorView v = f.view(t);
    EXPECT_EQ(v.nbytes, datas[i].size());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % 64, 0u) << "mmap is page aligned, so data is too";
    if (!datas[i].empty()) {
      EXPECT_EQ(std::memcmp(v.data, datas[i].data(), datas[i].size()), 0);
    }
  }
  EXPECT_EQ(f.find_tensor("nope"), nullptr);

  // Rewriting through copy_metadata_from gives the same metadata (alignment excepted).
  Writer w2;
  w2.copy_metadata_from(f);
  const std::vector<uint8_t> b2 = to_bytes(w2);
  Result<File> f2 = parse(b2);
  ASSERT_TRUE(f2.ok()) << f2.error().message;
  EXPECT_EQ(f2->metadata().size(), keys.size() - 1);
  EXPECT_EQ(f2->alignment(), 32u);
  EXPECT_EQ(f2->get_array("arr.string")->strings, as->strings);
}

// The parser asks for the bytes ahead of it in order: contiguous ranges from offset 0, none past
// the end of the image, covering everything up to the tensor data (where the header ends).
TEST(GgufPrefetch, RangesAreContiguousAndCoverTheHeader) {
  Writer w = tiny_writer();
  std::vector<std::string> many;
  for (int i = 0; i < 400000; ++i) many.push_back("token" + std::to_string(i));  // 7.6 MB of metadata
  w.set_strings("tokenizer.ggml.tokens", many);
  const std::vector<uint8_t> b = to_bytes(w);
  std::vector<std::pair<size_t, size_t>> asked;
  const PrefetchFn prefetch = [&](size_t offset, size_t len) { asked.emplace_back(offset, len); };
  Result<File> f = File::parse({b.data(), b.size()}, &prefetch);
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_FALSE(asked.empty());
  EXPECT_GT(asked.size(), 1u) << "a header this size is asked for in more than one window";
  size_t end = 0;
  for (const auto& [offset, len] : asked) {
    EXPECT_EQ(offset, end);
    EXPECT_GT(len, 0u);
    end = offset + len;
  }
  EXPECT_LE(end, b.size());
  EXPECT_GE(end, f->data_offset());
  EXPECT_EQ(f->get_array("tokenizer.ggml.tokens")->strings[399999], "token399999");
}

TEST(GgufRoundTrip, SetReplacesExistingKeyInPlace) {
  Writer w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_u32("a", 3);
  const auto b = to_bytes(w);
  Result<File> f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(f->get_int("a"), 3);
}

TEST(GgufRoundTrip, WriterRejectsOutOfRangeAndMismatchedValues) {
  Writer w;
  w.set("x", Value{ValueType::UINT8, uint64_t{256}});
  EXPECT_FALSE(w.write(test::temp_dir() + "/x.gguf").ok());
  Writer w2;
  w2.set("y", Value{ValueType::UINT32, std::string("text")});
  EXPECT_FALSE(w2.write(test::temp_dir() + "/y.gguf").ok());
}

TEST(GgufParse, EveryTruncationFails) {
  const std::vector<uint8_t> full = to_bytes(tiny_writer());
  Result<File> ok = parse(full);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  // The data ends before the final padding; cutting into that padding still leaves a valid file.
  uint64_t data_end = 0;
  for (const TensorInfo& t : ok->tensors()) data_end = std::max<uint64_t>(data_end, ok->data_offset() + t.offset + t.nbytes);
  ASSERT_LT(data_end, full.size()) << "test wants trailing padding";
  for (size_t n = 0; n < full.size(); ++n) {
    // A fresh allocation of exactly n bytes so ASan would catch any read past the end.
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    Result<File> r = parse(cut);
    if (n < data_end) {
      ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
      EXPECT_THAT(r.error().message, HasSubstr("gguf:"));
    } else {
      EXPECT_TRUE(r.ok()) << n << ": " << r.error().message;
    }
  }
}

TEST(GgufParse, TruncatedMessagesSayWhatWasExpected) {
  const std::vector<uint8_t> full = to_bytes(tiny_writer());
  std::vector<uint8_t> cut(full.begin(), full.begin() + 10);
  EXPECT_THAT(parse_error(cut), HasSubstr("too small for a GGUF header"));
  const size_t key_at = find_bytes(full, "llama.block_count");
  cut.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(key_at + 17 + 2));
  EXPECT_EQ(parse_error(cut),
            "gguf: unexpected end of file reading metadata 'llama.block_count' type at offset " +
                std::to_string(key_at + 17) + " (need 4 bytes, 2 left)");
}

TEST(GgufParse, WrongMagic) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  b[0] = 'P', b[1] = 'K', b[2] = 3, b[3] = 4;
  EXPECT_EQ(parse_error(b), "gguf: not a GGUF file: expected magic 'GGUF', found 'PK\\x03\\x04'");
  std::vector<uint8_t> empty;
  EXPECT_THAT(parse_error(empty), HasSubstr("too small"));
}

TEST(GgufParse, Versions) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  poke<uint32_t>(b, 4, 1);
  EXPECT_THAT(parse_error(b), HasSubstr("version 1 files are not supported"));
  poke<uint32_t>(b, 4, 4);
  EXPECT_EQ(parse_error(b), "gguf: unsupported version 4 (expected 2 or 3)");
  poke<uint32_t>(b, 4, 0x03000000);
  EXPECT_THAT(parse_error(b), HasSubstr("big-endian"));
  poke<uint32_t>(b, 4, 2);  // v2 has the same layout as v3
  EXPECT_TRUE(parse(b).ok());
}

TEST(GgufParse, TensorOffsetPastEnd) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  const InfoFields f = info_fields(b, "weight.b", 2);
  poke<uint64_t>(b, f.offset, 4096);
  Result<File> good = parse(to_bytes(tiny_writer()));
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(parse_error(b), format("gguf: tensor 'weight.b' data [offset %llu, 60 bytes] runs past end of file (size %zu)",
                                   static_cast<unsigned long long>(good->data_offset() + 4096), b.size()));
  poke<uint64_t>(b, f.offset, ~uint64_t{0} & ~uint64_t{31});  // near 2^64: must not wrap around
  EXPECT_THAT(parse_error(b), HasSubstr("runs past end of file"));
}

TEST(GgufParse, TensorOffsetMisaligned) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  poke<uint64_t>(b, info_fields(b, "weight.b", 2).offset, 36);
  EXPECT_EQ(parse_error(b), "gguf: tensor 'weight.b': data offset 36 is not a multiple of the alignment 32");
}

TEST(GgufParse, HugeDimension) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  const InfoFields f = info_fields(b, "weight.b", 2);
  poke<uint64_t>(b, f.dims + 8, uint64_t{1} << 40);
  EXPECT_EQ(parse_error(b), "gguf: tensor 'weight.b': dimension 1 is 1099511627776 elements (limit 2^40)");
  // Each dimension under the limit but the product over it (and past 2^64 if multiplied naively).
  poke<uint64_t>(b, f.dims, uint64_t{1} << 30);
  poke<uint64_t>(b, f.dims + 8, uint64_t{1} << 30);
  EXPECT_THAT(parse_error(b), HasSubstr("elements (limit 2^40)"));
}

TEST(GgufParse, ZeroDimensionIsAnEmptyTensor) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  poke<uint64_t>(b, info_fields(b, "weight.b", 2).dims + 8, 0);
  Result<File> f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->find_tensor("weight.b")->nbytes, 0u);
}

// A zero dimension empties the tensor but does not lift the limit on the others: their product
// would overflow the signed row count (found by the fuzzer).
TEST(GgufParse, ZeroDimensionDoesNotHideHugeOnes) {
  Writer w = tiny_writer();
  const std::vector<float> c(24, 1.0f);
  w.add_tensor("weight.c", DType::F32, {2, 3, 4}, c.data(), c.size() * 4);
  std::vector<uint8_t> b = to_bytes(w);
  const InfoFields f = info_fields(b, "weight.c", 3);
  poke<uint64_t>(b, f.dims, 0);
  poke<uint64_t>(b, f.dims + 8, uint64_t{1} << 30);
  poke<uint64_t>(b, f.dims + 16, uint64_t{1} << 30);
  EXPECT_EQ(parse_error(b), "gguf: tensor 'weight.c': dimensions up to 2 hold too many elements (limit 2^40)");
}

TEST(GgufParse, BadDimensionCount) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  const InfoFields f = info_fields(b, "weight.a", 1);
  poke<uint32_t>(b, f.n_dims, 0);
  EXPECT_EQ(parse_error(b), "gguf: tensor 'weight.a': expected 1 to 4 dimensions, found 0");
  poke<uint32_t>(b, f.n_dims, 5);
  EXPECT_EQ(parse_error(b), "gguf: tensor 'weight.a': expected 1 to 4 dimensions, found 5");
}

TEST(GgufParse, UnknownTensorType) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  const InfoFields f = info_fields(b, "weight.a", 1);
  poke<uint32_t>(b, f.type, 99);
  EXPECT_EQ(parse_error(b), "gguf: tensor 'weight.a': unknown or unsupported tensor type id 99");
  poke<uint32_t>(b, f.type, 4);  // the removed Q4_2
  EXPECT_THAT(parse_error(b), HasSubstr("type id 4"));
}

TEST(GgufParse, RowNotAMultipleOfTheBlockSize) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  const InfoFields f = info_fields(b, "weight.a", 1);
  poke<uint32_t>(b, f.type, static_cast<uint32_t>(DType::Q4_0));  // 8 elements, block of 32
  EXPECT_EQ(parse_error(b), "gguf: tensor 'weight.a': type Q4_0 needs the first dimension to be a multiple of 32, found 8");
}

TEST(GgufParse, HugeStringLength) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  const size_t key_at = find_bytes(b, "general.architecture");
  poke<uint64_t>(b, key_at - 8, uint64_t{1} << 60);
  EXPECT_EQ(parse_error(b), format("gguf: metadata key #0 at offset %zu has length 1152921504606846976 but only %zu "
                                   "bytes remain in the file", key_at - 8, b.size() - key_at));
  // A string value (not a key), and a tensor name.
  b = to_bytes(tiny_writer());
  poke<uint64_t>(b, find_bytes(b, "general.architecture") + 20 + 4, ~uint64_t{0});
  EXPECT_THAT(parse_error(b), HasSubstr("metadata 'general.architecture' at offset"));
  b = to_bytes(tiny_writer());
  poke<uint64_t>(b, find_bytes(b, "weight.a") - 8, uint64_t{1} << 62);
  EXPECT_THAT(parse_error(b), HasSubstr("tensor #0 name at offset"));
}

TEST(GgufParse, HugeArrayCount) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  // tokens array: key, u32 type ARRAY, u32 elem type STRING, u64 count.
  const size_t count_at = find_bytes(b, "tokenizer.ggml.tokens") + 21 + 4 + 4;
  poke<uint64_t>(b, count_at, uint64_t{1} << 60);
  EXPECT_THAT(parse_error(b), HasSubstr("metadata 'tokenizer.ggml.tokens': array of 1152921504606846976 string elements needs"));
  poke<uint64_t>(b, count_at, ~uint64_t{0});
  EXPECT_THAT(parse_error(b), HasSubstr("but only"));
  // u8 arrays: one byte per element, so the bound is the remaining size exactly.
  Writer w;
  Array a;
  a.elem_type = ValueType::UINT8;
  a.uints = {1, 2, 3};
  w.set("bytes", Value{ValueType::ARRAY, a});
  b = to_bytes(w);
  const size_t c8 = find_bytes(b, "bytes") + 5 + 8;
  const size_t left = b.size() - (c8 + 8);
  poke<uint64_t>(b, c8, left + 1);
  EXPECT_EQ(parse_error(b), format("gguf: metadata 'bytes': array of %zu u8 elements needs at least %zu bytes, but "
                                   "only %zu remain", left + 1, left + 1, left));
  poke<uint64_t>(b, c8, left);  // exactly fits (the file's padding becomes elements)
  Result<File> f = parse(b);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->get_array("bytes")->size(), left);
}

TEST(GgufParse, HugeTensorAndKeyCounts) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  poke<uint64_t>(b, 8, uint64_t{1} << 62);
  EXPECT_THAT(parse_error(b), HasSubstr("declares 4611686018427387904 tensors"));
  b = to_bytes(tiny_writer());
  poke<uint64_t>(b, 16, ~uint64_t{0});
  EXPECT_THAT(parse_error(b), HasSubstr("metadata entries but only"));
}

TEST(GgufParse, BadAlignment) {
  Writer w = tiny_writer();
  w.set_u32("general.alignment", 64);
  std::vector<uint8_t> b = to_bytes(w);
  const size_t value_at = find_bytes(b, "general.alignment") + 17 + 4;
  poke<uint32_t>(b, value_at, 48);
  EXPECT_EQ(parse_error(b), "gguf: general.alignment: expected a non-zero power of two, found 48");
  poke<uint32_t>(b, value_at, 0);
  EXPECT_EQ(parse_error(b), "gguf: general.alignment: expected a non-zero power of two, found 0");
  poke<uint32_t>(b, value_at, 64);
  EXPECT_TRUE(parse(b).ok());

  Writer w2 = tiny_writer();
  w2.set("general.alignment", Value{ValueType::UINT64, uint64_t{32}});
  EXPECT_EQ(parse_error(to_bytes(w2)), "gguf: general.alignment: expected type u32, found u64");
}

TEST(GgufParse, BadValueTypes) {
  std::vector<uint8_t> b = to_bytes(tiny_writer());
  const size_t type_at = find_bytes(b, "llama.block_count") + 17;
  poke<uint32_t>(b, type_at, 13);
  EXPECT_EQ(parse_error(b), "gguf: metadata 'llama.block_count': expected a value type 0..12, found 13");

  Writer w;
  w.set_bool("flag", true);
  b = to_bytes(w);
  poke<uint8_t>(b, find_bytes(b, "flag") + 4 + 4, 2);
  EXPECT_EQ(parse_error(b), "gguf: metadata 'flag': expected bool 0 or 1, found 2");
}

TEST(GgufParse, NestedArraysAreRefused) {
  Writer w;
  w.set_i32s("outer", {1});
  std::vector<uint8_t> b = to_bytes(w);
  poke<uint32_t>(b, find_bytes(b, "outer") + 5 + 4, static_cast<uint32_t>(ValueType::ARRAY));
  EXPECT_EQ(parse_error(b), "gguf: metadata 'outer': arrays of arrays are not supported");
}

TEST(GgufParse, DuplicateKeysAndTensorNames) {
  Writer w;
  w.set_u32("key.a", 1);
  w.set_u32("key.b", 2);
  const auto x = iota_f32(4);
  w.add_tensor("t.1", DType::F32, {4}, x.data(), 16);
  w.add_tensor("t.2", DType::F32, {4}, x.data(), 16);
  std::vector<uint8_t> b = to_bytes(w);
  std::vector<uint8_t> k = b;
  k[find_bytes(k, "key.b") + 4] = 'a';
  EXPECT_EQ(parse_error(k), "gguf: duplicate metadata key 'key.a'");
  k = b;
  k[find_bytes(k, "t.2") + 2] = '1';
  EXPECT_EQ(parse_error(k), "gguf: duplicate tensor name 't.1'");
}

TEST(GgufOpen, MissingFile) {
  Result<File> r = File::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "cannot open '/nonexistent/dir/model.gguf': No such file or directory");
  Result<File> d = File::open(test::temp_dir());
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.error().message, HasSubstr("Is a directory"));
}

TEST(GgufOpen, EmptyFile) {
  const std::string path = test::temp_dir() + "/empty.gguf";
  std::ofstream(path).close();
  Result<File> r = File::open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("file is 0 bytes, too small"));
  EXPECT_THAT(r.error().message, HasSubstr(path));
}

TEST(GgufOpen, Stories260K) {
  NEXUS_REQUIRE_SHARED("models/stories260K.gguf");
  Result<File> r = File::open(test::shared_file("models/stories260K.gguf"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const File& f = *r;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.block_count"), 5);
  EXPECT_EQ(f.get_int("llama.embedding_length"), 64);
  EXPECT_EQ(f.get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(f.get_int("llama.feed_forward_length"), 172);
  EXPECT_NEAR(*f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  const Array* tokens = f.get_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->size(), 512u);
  EXPECT_EQ(tokens->strings[1], "<s>");
  EXPECT_EQ(f.tensors().size(), 3u + 5u * 9u);

  const TensorInfo* emb = f.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::F32);
  EXPECT_EQ(emb->n_dims, 2);
  EXPECT_EQ(emb->ne[0], 64);
  EXPECT_EQ(emb->ne[1], 512);
  EXPECT_EQ(emb->nbytes, 64u * 512u * 4u);
  for (int l = 0; l < 5; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const TensorInfo* k = f.find_tensor(p + "attn_k.weight");
    ASSERT_NE(k, nullptr) << p;
    EXPECT_EQ(k->ne[0], 64);
    EXPECT_EQ(k->ne[1], 32);  // 4 KV heads of 8
    const TensorInfo* down = f.find_tensor(p + "ffn_down.weight");
    ASSERT_NE(down, nullptr) << p;
    EXPECT_EQ(down->ne[0], 172);
    EXPECT_EQ(down->ne[1], 64);
    EXPECT_NE(f.find_tensor(p + "attn_norm.weight"), nullptr);
  }
  // Weights are real numbers in a sane range.
  const TensorView v = f.view(*emb);
  const float* w = static_cast<const float*>(v.data);
  double sum_sq = 0;
  for (int64_t i = 0; i < v.elements(); ++i) {
    ASSERT_TRUE(std::isfinite(w[i]));
    sum_sq += double{w[i]} * w[i];
  }
  EXPECT_GT(sum_sq, 0.0);
  EXPECT_LT(sum_sq / static_cast<double>(v.elements()), 100.0);
}

// The vocabulary-only files from several tokenizer families: real-world metadata written by
// the reference converter (no tensors; the data section starts at the end of the file).
TEST(GgufOpen, TokenizerVocabFiles) {
  for (const char* name : {"llama-spm", "phi-3", "gpt-2", "mpt", "refact", "deepseek-coder"}) {
    const std::string rel = std::string("tokenizer-tests/ggml-vocab-") + name + ".gguf";
    if (test::shared_file(rel).empty()) continue;
    SCOPED_TRACE(rel);
    Result<File> r = File::open(test::shared_file(rel));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->tensors().empty());
    const Array* tokens = r->get_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_GE(tokens->strings.size(), 32000u);
    EXPECT_TRUE(r->get_string("tokenizer.ggml.model").has_value());
  }
}

}  // namespace
}  // namespace nexus::gguf
