// Per-thread buffer pools: reuse, and a bound on what a thread keeps parked.
#include <catch2/catch.hpp>

#include <thread>

#include "core/buffer_pool.hpp"

using gost::core::Pooled;
using gost::core::VectorPool;

TEST_CASE("VectorPool hands parked storage back out and bounds what it keeps", "[pool]") {
  // A thread of its own: the pool is per thread and starts empty there.
  std::thread([] {
    VectorPool::Vec v;
    v.reserve(1000);
    const auto* storage = v.data();
    VectorPool::give_back(v);
    CHECK(v.capacity() == 0);
    CHECK(VectorPool::parked_bytes() >= 1000);
    VectorPool::Vec w;
    VectorPool::take(w);
    CHECK(w.data() == storage);  // the same storage, no new allocation
    CHECK(VectorPool::parked_bytes() == 0);

    // A burst of large buffers: only up to the byte budget stays parked.
    std::vector<VectorPool::Vec> burst(64);
    for (auto& b : burst) b.reserve(1 << 20);
    for (auto& b : burst) VectorPool::give_back(b);
    CHECK(VectorPool::parked_bytes() <= VectorPool::kMaxParkedBytes);
    CHECK(VectorPool::parked_bytes() >= VectorPool::kMaxParkedBytes - (1 << 20));
    for (auto& b : burst) VectorPool::take(b);
    CHECK(VectorPool::parked_bytes() == 0);

    // Many small ones: only up to the count bound.
    std::vector<VectorPool::Vec> small(VectorPool::kMaxParked + 50);
    for (auto& b : small) b.reserve(16);
    for (auto& b : small) VectorPool::give_back(b);
    std::size_t back = 0;
    for (auto& b : small) {
      VectorPool::take(b);
      if (b.capacity() > 0) ++back;
    }
    CHECK(back == VectorPool::kMaxParked);
  }).join();
}

TEST_CASE("Pooled buffers are reused on their thread and counted while taken", "[pool]") {
  std::thread([] {
    using Buf = Pooled<4096, 4>;
    const unsigned char* first = nullptr;
    {
      Buf a;
      first = a.data();
      CHECK(Buf::outstanding() == 1);
    }
    CHECK(Buf::outstanding() == 0);
    Buf b;
    CHECK(b.data() == first);
  }).join();
}
