#pragma once
// Per-thread pools of fixed-size buffers, so an idle connection holds none and a busy one does
// not allocate per read. Each connection runs on one thread, so no locking is needed; a buffer
// released on another thread joins that thread's pool.

#include <cstddef>
#include <memory>
#include <vector>

namespace gost::core {

template <std::size_t N, std::size_t MaxPooled = 1024>
class Pooled {
 public:
  static constexpr std::size_t kSize = N;
  Pooled() {
    ++outstanding();
    auto& f = free_list();
    if (!f.empty()) {
      p_ = std::move(f.back());
      f.pop_back();
    } else {
      p_.reset(new unsigned char[N]);  // not zeroed: untouched pages cost no memory
    }
  }
  ~Pooled() {
    --outstanding();
    if (p_ && free_list().size() < MaxPooled) free_list().push_back(std::move(p_));
  }
  Pooled(const Pooled&) = delete;
  Pooled& operator=(const Pooled&) = delete;
  unsigned char* data() noexcept { return p_.get(); }
  static constexpr std::size_t size() noexcept { return N; }
  // Buffers of this kind taken on the calling thread minus those given back on it (tests use it
  // to check that idle connections hold none).
  static long& outstanding() noexcept {
    thread_local long n = 0;
    return n;
  }

 private:
  static std::vector<std::unique_ptr<unsigned char[]>>& free_list() {
    thread_local std::vector<std::unique_ptr<unsigned char[]>> v;
    return v;
  }
  std::unique_ptr<unsigned char[]> p_;
};

// The relay copy loop's buffer.
using PooledBuffer = Pooled<16 * 1024>;

}  // namespace gost::core
