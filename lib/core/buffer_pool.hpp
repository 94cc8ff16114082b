#pragma once
// Per-thread pool of fixed-size relay buffers, so an idle connection holds none and a busy one
// does not allocate per read. Each connection runs on one thread, so no locking is needed.

#include <cstddef>
#include <memory>
#include <vector>

namespace gost::core {

class PooledBuffer {
 public:
  static constexpr std::size_t kSize = 16 * 1024;
  PooledBuffer();
  ~PooledBuffer();
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  unsigned char* data() noexcept { return p_.get(); }
  static constexpr std::size_t size() noexcept { return kSize; }

 private:
  std::unique_ptr<unsigned char[]> p_;
};

}  // namespace gost::core
