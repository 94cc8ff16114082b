#include "ss/blake3.hpp"

#include <algorithm>
#include <cstring>

namespace gost::ss {
namespace {

constexpr std::array<std::uint32_t, 8> kIv = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                              0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};
constexpr std::uint8_t kPerm[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};

constexpr std::uint32_t kChunkStart = 1;
constexpr std::uint32_t kChunkEnd = 2;
constexpr std::uint32_t kParent = 4;
constexpr std::uint32_t kRoot = 8;
constexpr std::uint32_t kKeyedHash = 16;
constexpr std::uint32_t kDeriveContext = 32;
constexpr std::uint32_t kDeriveMaterial = 64;
constexpr std::size_t kChunkLen = 1024;

inline std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline void g(std::uint32_t* s, int a, int b, int c, int d, std::uint32_t x, std::uint32_t y) {
  s[a] = s[a] + s[b] + x;
  s[d] = rotr(s[d] ^ s[a], 16);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 12);
  s[a] = s[a] + s[b] + y;
  s[d] = rotr(s[d] ^ s[a], 8);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 7);
}

std::array<std::uint32_t, 16> compress(const std::array<std::uint32_t, 8>& cv,
                                       const std::array<std::uint32_t, 16>& block,
                                       std::uint64_t counter, std::uint32_t block_len,
                                       std::uint32_t flags) {
  std::uint32_t s[16] = {cv[0],
                         cv[1],
                         cv[2],
                         cv[3],
                         cv[4],
                         cv[5],
                         cv[6],
                         cv[7],
                         kIv[0],
                         kIv[1],
                         kIv[2],
                         kIv[3],
                         static_cast<std::uint32_t>(counter),
                         static_cast<std::uint32_t>(counter >> 32),
                         block_len,
                         flags};
  std::uint32_t m[16];
  std::copy(block.begin(), block.end(), m);
  for (int r = 0; r < 7; ++r) {
    g(s, 0, 4, 8, 12, m[0], m[1]);
    g(s, 1, 5, 9, 13, m[2], m[3]);
    g(s, 2, 6, 10, 14, m[4], m[5]);
    g(s, 3, 7, 11, 15, m[6], m[7]);
    g(s, 0, 5, 10, 15, m[8], m[9]);
    g(s, 1, 6, 11, 12, m[10], m[11]);
    g(s, 2, 7, 8, 13, m[12], m[13]);
    g(s, 3, 4, 9, 14, m[14], m[15]);
    if (r < 6) {
      std::uint32_t t[16];
      for (int i = 0; i < 16; ++i) t[i] = m[kPerm[i]];
      std::copy(t, t + 16, m);
    }
  }
  std::array<std::uint32_t, 16> out;
  for (int i = 0; i < 8; ++i) {
    out[static_cast<std::size_t>(i)] = s[i] ^ s[i + 8];
    out[static_cast<std::size_t>(i + 8)] = s[i + 8] ^ cv[static_cast<std::size_t>(i)];
  }
  return out;
}

std::array<std::uint32_t, 16> words(const std::uint8_t* b) {
  std::array<std::uint32_t, 16> w;
  for (std::size_t i = 0; i < 16; ++i) {
    w[i] = static_cast<std::uint32_t>(b[4 * i]) | static_cast<std::uint32_t>(b[4 * i + 1]) << 8 |
           static_cast<std::uint32_t>(b[4 * i + 2]) << 16 |
           static_cast<std::uint32_t>(b[4 * i + 3]) << 24;
  }
  return w;
}

}  // namespace

std::array<std::uint32_t, 8> Blake3::Output::chaining_value() const {
  auto o = compress(cv, block, counter, block_len, flags);
  std::array<std::uint32_t, 8> r;
  std::copy(o.begin(), o.begin() + 8, r.begin());
  return r;
}

void Blake3::Output::root_bytes(std::uint8_t* out, std::size_t n) const {
  std::uint64_t oc = 0;
  while (n > 0) {
    auto w = compress(cv, block, oc++, block_len, flags | kRoot);
    for (std::size_t i = 0; i < 16 && n > 0; ++i) {
      for (int k = 0; k < 4 && n > 0; ++k, --n) *out++ = static_cast<std::uint8_t>(w[i] >> (8 * k));
    }
  }
}

Blake3::Blake3() : Blake3(kIv, 0) {}

Blake3::Blake3(const std::uint8_t key[32]) : Blake3(kIv, kKeyedHash) {
  std::uint8_t blk[64] = {};
  std::memcpy(blk, key, 32);
  auto w = words(blk);
  std::copy(w.begin(), w.begin() + 8, key_.begin());
  reset_chunk(0);
}

Blake3::Blake3(const std::array<std::uint32_t, 8>& key, std::uint32_t flags)
    : key_(key), flags_(flags) {
  reset_chunk(0);
}

Blake3 Blake3::derive_key(std::string_view context) {
  Blake3 ctx(kIv, kDeriveContext);
  ctx.update(context.data(), context.size());
  std::uint8_t ck[64] = {};
  ctx.finalize(ck, 32);
  auto w = words(ck);
  std::array<std::uint32_t, 8> key;
  std::copy(w.begin(), w.begin() + 8, key.begin());
  return Blake3(key, kDeriveMaterial);
}

void Blake3::reset_chunk(std::uint64_t counter) {
  chunk_ = ChunkState{};
  chunk_.cv = key_;
  chunk_.counter = counter;
  chunk_.flags = flags_;
}

Blake3::Output Blake3::chunk_output() const {
  std::uint32_t start = chunk_.blocks_compressed == 0 ? kChunkStart : 0;
  return Output{chunk_.cv, words(chunk_.block.data()), chunk_.counter, chunk_.block_len,
                chunk_.flags | start | kChunkEnd};
}

void Blake3::chunk_update(const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    if (chunk_.block_len == 64) {
      std::uint32_t start = chunk_.blocks_compressed == 0 ? kChunkStart : 0;
      auto o =
          compress(chunk_.cv, words(chunk_.block.data()), chunk_.counter, 64, chunk_.flags | start);
      std::copy(o.begin(), o.begin() + 8, chunk_.cv.begin());
      ++chunk_.blocks_compressed;
      chunk_.block.fill(0);
      chunk_.block_len = 0;
    }
    std::size_t take = std::min<std::size_t>(64u - chunk_.block_len, n);
    std::memcpy(chunk_.block.data() + chunk_.block_len, p, take);
    chunk_.block_len = static_cast<std::uint8_t>(chunk_.block_len + take);
    p += take;
    n -= take;
  }
}

void Blake3::push_cv(std::array<std::uint32_t, 8> cv, std::uint64_t total_chunks) {
  while ((total_chunks & 1) == 0) {
    std::array<std::uint32_t, 16> blk;
    std::copy(stack_[stack_len_ - 1].begin(), stack_[stack_len_ - 1].end(), blk.begin());
    std::copy(cv.begin(), cv.end(), blk.begin() + 8);
    --stack_len_;
    cv = Output{key_, blk, 0, 64, kParent | flags_}.chaining_value();
    total_chunks >>= 1;
  }
  stack_[stack_len_++] = cv;
}

void Blake3::update(const void* data, std::size_t n) {
  auto p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    if (chunk_.len() == kChunkLen) {
      auto cv = chunk_output().chaining_value();
      std::uint64_t total = chunk_.counter + 1;
      push_cv(cv, total);
      reset_chunk(total);
    }
    std::size_t take = std::min(kChunkLen - chunk_.len(), n);
    chunk_update(p, take);
    p += take;
    n -= take;
  }
}

void Blake3::finalize(std::uint8_t* out, std::size_t n) const {
  Output o = chunk_output();
  for (std::size_t i = stack_len_; i > 0; --i) {
    std::array<std::uint32_t, 16> blk;
    std::copy(stack_[i - 1].begin(), stack_[i - 1].end(), blk.begin());
    auto cv = o.chaining_value();
    std::copy(cv.begin(), cv.end(), blk.begin() + 8);
    o = Output{key_, blk, 0, 64, kParent | flags_};
  }
  o.root_bytes(out, n);
}

void blake3_hash(const void* data, std::size_t n, std::uint8_t* out, std::size_t out_len) {
  Blake3 h;
  h.update(data, n);
  h.finalize(out, out_len);
}

void blake3_derive_key(std::string_view context, const void* material, std::size_t n,
                       std::uint8_t* out, std::size_t out_len) {
  Blake3 h = Blake3::derive_key(context);
  h.update(material, n);
  h.finalize(out, out_len);
}

}  // namespace gost::ss
