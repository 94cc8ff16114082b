#pragma once
// Internal: the core transports and small utilities shared inside gost_core.

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <string_view>
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

// Steering's balancing (TcpListener::serve_on): a listener thread that steering by CPU gave a
// new connection hands it to another thread when it holds more live connections than that one,
// by more than kBalanceSlack and a quarter (a small slack, so that a few busy connections that
// arrive at once spread too), and some CPU has time to run it: RuntimeOptions::balance_min_idle
// of 0, or Runtime::idle_percent (-1: unknown) at least that. With every core busy the
// difference in counts is the ebb and flow of short-lived connections, and a connection handed
// over would only wake another core for each of its packets.
inline constexpr long kBalanceSlack = 2;
inline bool imbalanced(long mine, long theirs) { return mine > theirs + std::max(kBalanceSlack, theirs / 4); }
inline bool idle_enough(int idle_percent, int min_idle) { return idle_percent < 0 || idle_percent >= min_idle; }

// Sums the ticks of /proc/stat's per-CPU lines for the given CPUs: `idle` (idle and iowait) and
// `total` (user, nice, system, idle, iowait, irq, softirq, steal). False when none was found.
bool cpu_ticks(std::string_view stat, const std::vector<int>& cpus, long long& idle, long long& total);

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
