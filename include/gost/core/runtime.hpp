#pragma once
// Runtime: one io_context per thread; each connection lives on one thread.

#include <atomic>
#include <chrono>
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
  // Pins thread i to the CPU whose connections it takes (see steer_by_cpu; pinning steers too,
  // with as many threads as CPUs or more). Off by default: a pinned thread cannot move to an
  // idle core on a busy machine, and single-stream throughput and tail latency pay for it.
  bool cpu_affinity = false;
  // Thread i takes the connections that the i-th CPU the process may run on took in: TCP
  // listeners with one acceptor per thread steer each new connection by the CPU number
  // (SO_ATTACH_REUSEPORT_CBPF) instead of by a hash of its addresses. The thread is then woken
  // from that CPU for every packet of its connections, and the scheduler keeps it there: fewer
  // cross-core wake-ups, a higher connection rate. When one CPU takes in most of the traffic (a
  // NIC with a single receive queue and no RPS), the thread that would get it all hands new
  // connections to a thread with fewer live ones (see Runtime::live). Needs at most one thread
  // per allowed CPU; otherwise, and when off, connections are spread by hash.
  bool steer_by_cpu = true;
  // That hand-over happens only while the CPUs the process may use had at least this much idle
  // time between them over the last sample (Runtime::idle_percent), in per cent of one CPU. With
  // every core busy, a connection moved to another thread finds no core to run on there and pays
  // cross-core wake-ups for each of its packets. 0: whenever the counts say so.
  int balance_min_idle = 50;
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
  int cpu_of(std::size_t i) const noexcept { return pinned_ && i < cpus_.size() ? cpus_[i] : -1; }
  // The CPU whose connections thread i takes, or -1 (no steering: off, or more threads than
  // CPUs).
  int steer_cpu(std::size_t i) const noexcept { return i < cpus_.size() ? cpus_[i] : -1; }
  // Live connections that listeners steering by CPU placed on thread i (they balance with it).
  std::atomic<long>& live(std::size_t i) noexcept { return live_[i].n; }
  // Idle time of the CPUs this process may use (/proc/stat) over the last sample, in per cent of
  // one CPU (150: one and a half CPUs idle). Sampled again by the first caller once kIdleSample
  // has passed since the previous sample; -1 while unknown (the first call, or no /proc).
  // Thread-safe.
  int idle_percent() noexcept;
  static constexpr std::chrono::milliseconds kIdleSample{100};
  int balance_min_idle() const noexcept { return balance_min_idle_; }

 private:
  struct Guard;
  struct alignas(64) Live {
    std::atomic<long> n{0};
  };
  struct Idle;  // idle_percent()'s samples
  // Before contexts_: streams destroyed with a context still count down.
  std::unique_ptr<Live[]> live_;
  std::unique_ptr<Idle> idle_;
  int balance_min_idle_ = 50;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::unique_ptr<Guard>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
  std::vector<int> cpus_;  // per thread, when steering (or pinning)
  bool pinned_ = false;
};

}  // namespace gost
