#pragma once
// Salt replay filter: the salts of accepted streams are remembered in two generations of hash
// sets; a generation is retired when it is full or older than `max_age`, so memory is bounded
// (2 * capacity salts) and a salt is remembered at least min(max_age, time to fill one
// generation). Thread-safe (one check per connection, not on the data path).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <unordered_set>

namespace gost::ss {

class SaltFilter {
 public:
  explicit SaltFilter(std::size_t capacity = 1 << 16,
                      std::chrono::seconds max_age = std::chrono::seconds(120))
      : capacity_(capacity), max_age_(max_age) {}

  // True when the salt was not seen before (and is now remembered); false for a replay.
  bool check_and_add(const std::uint8_t* salt, std::size_t n);

 private:
  std::mutex mu_;
  std::size_t capacity_;
  std::chrono::seconds max_age_;
  using Salt = std::array<std::uint8_t, 32>;  // zero-padded; salts are random, so their first
  struct Hash {                               // bytes are a good hash
    std::size_t operator()(const Salt& s) const noexcept {
      std::size_t h;
      std::memcpy(&h, s.data(), sizeof(h));
      return h;
    }
  };
  std::unordered_set<Salt, Hash> cur_, prev_;
  std::chrono::steady_clock::time_point cur_start_ = std::chrono::steady_clock::now();
};

}  // namespace gost::ss
