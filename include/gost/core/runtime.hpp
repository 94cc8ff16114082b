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

class Runtime {
 public:
  // threads == 0: one per core.
  explicit Runtime(std::size_t threads = 0);
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

 private:
  struct Guard;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::unique_ptr<Guard>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace gost
