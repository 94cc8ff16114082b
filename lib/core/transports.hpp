#pragma once
// Internal: the core transports and small utilities shared inside gost_core.

#include <chrono>
#include <deque>
#include <memory>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "gost/core/registry.hpp"

namespace gost::core {

void register_tcp(Registry& r);
void register_udp(Registry& r);

inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// A signal that one coroutine can wait on and another (same executor) can raise; built on a
// timer that never expires by itself.
class Notifier {
 public:
  explicit Notifier(asio::any_io_executor ex) : timer_(std::move(ex), asio::steady_timer::time_point::max()) {}
  void notify() { timer_.cancel(); }
  // Waits until notify() or until deadline (time_point::max() = none).
  asio::awaitable<void> wait(asio::steady_timer::time_point deadline = asio::steady_timer::time_point::max()) {
    timer_.expires_at(deadline);
    co_await timer_.async_wait(use_tuple);
  }

 private:
  asio::steady_timer timer_;
};

}  // namespace gost::core
