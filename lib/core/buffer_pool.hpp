#pragma once
// Per-thread pools of fixed-size buffers, so an idle connection holds none and a busy one does
// not allocate per read. Each connection runs on one thread, so no locking is needed; a buffer
// released on another thread joins that thread's pool.

#include <cstddef>
#include <cstdint>
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

// Byte vectors whose size varies (framing layers' read and write buffers, mux frames), parked
// per thread with their capacity while their owner has nothing in them. What a thread keeps
// parked is bounded in count and in bytes, so a burst does not leave its peak behind.
struct VectorPool {
  using Vec = std::vector<std::uint8_t>;
  // Gives `v` (empty, no storage) a parked vector's storage, if there is one.
  static void take(Vec& v) {
    auto& p = parked();
    if (v.capacity() == 0 && !p.vecs.empty()) {
      v.swap(p.vecs.back());
      p.vecs.pop_back();
      p.bytes -= v.capacity();
    }
  }
  // Parks v's storage (its contents are dropped); v is left with none.
  static void give_back(Vec& v) {
    if (v.capacity() == 0) return;
    v.clear();
    auto& p = parked();
    if (p.vecs.size() < kMaxParked && p.bytes + v.capacity() <= kMaxParkedBytes) {
      p.bytes += v.capacity();
      p.vecs.emplace_back();
      p.vecs.back().swap(v);
    } else {
      Vec().swap(v);
    }
  }
  // Storage parked on the calling thread (tests read it).
  static std::size_t parked_bytes() noexcept { return parked().bytes; }
  static constexpr std::size_t kMaxParked = 256;
  static constexpr std::size_t kMaxParkedBytes = 4u << 20;

 private:
  struct Parked {
    std::vector<Vec> vecs;
    std::size_t bytes = 0;
  };
  static Parked& parked() {
    thread_local Parked p;
    return p;
  }
};

}  // namespace gost::core
