#pragma once
// Internal: the core transports and small utilities shared inside gost_core.

#include <chrono>
#include <deque>
#include <memory>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "core/reactor.hpp"
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

// An errno value as an error code that compares equal to Asio's (asio::error::connection_reset
// and the like are in Asio's system category, not std::system_category()).
inline std::error_code sys_error(int e) { return std::error_code(e, asio::error::get_system_category()); }

inline bool would_block(const std::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// Socket I/O that completes at once when it can: op(ec) is one non-blocking socket call
// returning a byte count; while it reports would-block, wait for readiness `w` and try again. A
// call that completes now costs no trip through the scheduler (no handler post, no epoll_wait on
// the way). After kInlineBurst inline completions in a row (counted in `burst`, which the
// caller keeps per stream and direction) the coroutine yields once, so one busy flow cannot
// starve the other connections of its thread.
inline constexpr int kInlineBurst = 32;

template <class Socket, class Op>
asio::awaitable<std::size_t> now_or_wait(Socket& s, asio::socket_base::wait_type w, int& burst, std::error_code& ec,
                                         Op op) {
  for (;;) {
    std::size_t n = op(ec);
    if (!would_block(ec)) {
      if (++burst >= kInlineBurst) {
        burst = 0;
        co_await asio::post(s.get_executor(), asio::use_awaitable);
      }
      co_return n;
    }
    burst = 0;
    // The read just said would-block: a drained wait needs no re-arm (core/reactor.hpp).
    auto [wec] = w == asio::socket_base::wait_read ? co_await async_wait_read(s, true, use_tuple)
                                                   : co_await s.async_wait(w, use_tuple);
    if (wec) {
      ec = wec;
      co_return 0;
    }
  }
}

}  // namespace gost::core
