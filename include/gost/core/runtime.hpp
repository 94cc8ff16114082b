#pragma once
// Runtime: one io_context per thread; each connection lives on one thread.

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <asio/any_io_executor.hpp>

namespace asio {
class io_context;
}

namespace gost {

struct RuntimeOptions {
  std::size_t threads = 0;  // 0: one per core the process may run on
  // Pins thread i to the i-th CPU the process may run on, and has TCP listeners with one
  // acceptor per thread hand each new connection to the thread on the CPU that took it in
  // (SO_ATTACH_REUSEPORT_CBPF on the CPU number). Connections then stay on one core from the
  // first packet on: fewer cross-core wake-ups, a higher connection rate. Off by default: when
  // one CPU takes in all the traffic (a NIC with a single receive queue and no RPS), every
  // connection would land on that CPU's thread.
  bool cpu_affinity = false;
};

class Runtime {
 public:
  // threads == 0: one per core.
  explicit Runtime(std::size_t threads = 0);
  explicit Runtime(RuntimeOptions opts);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  std::size_t size() const noexcept { return contexts_.size(); }
  asio::io_context& context(std::size_t i) noexcept { return *contexts_[i]; }
  asio::any_io_executor executor(std::size_t i);
  // Round-robin over the threads; thread-safe.
  asio::any_io_executor next_executor();

  // Starts the threads (they keep running until stop()).
  void start();
  // Asks every context to stop. Thread-safe, idempotent.
  void stop() noexcept;
  // Waits for the threads to end.
  void join();
  // start() then join(): runs on the calling thread's behalf until stop().
  void run();
  bool running() const noexcept { return !threads_.empty(); }
  // The CPU thread i is pinned to, or -1 (cpu_affinity off).
  int cpu_of(std::size_t i) const noexcept { return i < cpus_.size() ? cpus_[i] : -1; }

 private:
  struct Guard;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::unique_ptr<Guard>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
  std::vector<int> cpus_;  // per thread, with cpu_affinity
};

}  // namespace gost
