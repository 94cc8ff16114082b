#pragma once
// BLAKE3 (https://github.com/BLAKE3-team/BLAKE3-specs): the portable reference algorithm, enough
// for Shadowsocks 2022 (SIP022) key derivation and identity hashes. Not tuned for bulk hashing:
// SIP022 only hashes a few dozen bytes per connection.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gost::ss {

class Blake3 {
 public:
  static constexpr std::size_t kKeyLen = 32;
  static constexpr std::size_t kOutLen = 32;

  Blake3();                                            // hash mode
  explicit Blake3(const std::uint8_t key[32]);         // keyed_hash mode
  static Blake3 derive_key(std::string_view context);  // derive_key mode (feed key material)

  void update(const void* data, std::size_t n);
  // Extended output: any length, from output block 0.
  void finalize(std::uint8_t* out, std::size_t n) const;

 private:
  struct ChunkState {
    std::array<std::uint32_t, 8> cv{};
    std::uint64_t counter = 0;
    std::array<std::uint8_t, 64> block{};
    std::uint8_t block_len = 0;
    std::uint8_t blocks_compressed = 0;
    std::uint32_t flags = 0;
    std::size_t len() const { return 64u * blocks_compressed + block_len; }
  };
  struct Output {
    std::array<std::uint32_t, 8> cv;
    std::array<std::uint32_t, 16> block;
    std::uint64_t counter;
    std::uint32_t block_len;
    std::uint32_t flags;
    std::array<std::uint32_t, 8> chaining_value() const;
    void root_bytes(std::uint8_t* out, std::size_t n) const;
  };

  Blake3(const std::array<std::uint32_t, 8>& key, std::uint32_t flags);
  void reset_chunk(std::uint64_t counter);
  Output chunk_output() const;
  void chunk_update(const std::uint8_t* p, std::size_t n);
  void push_cv(std::array<std::uint32_t, 8> cv, std::uint64_t total_chunks);

  std::array<std::uint32_t, 8> key_;
  std::uint32_t flags_;
  ChunkState chunk_;
  std::array<std::array<std::uint32_t, 8>, 54> stack_{};
  std::size_t stack_len_ = 0;
};

// One-shot helpers.
void blake3_hash(const void* data, std::size_t n, std::uint8_t* out, std::size_t out_len);
void blake3_derive_key(std::string_view context, const void* material, std::size_t n,
                       std::uint8_t* out, std::size_t out_len);

}  // namespace gost::ss
