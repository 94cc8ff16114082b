#pragma once
// with_timeout(op, d): runs op, cancelling it when d elapses first (Asio per-operation
// cancellation, terminal). Returns nullopt on timeout. d == 0 means no limit.
//
// close_after(s, d, op): runs op; if d passes first, closes s, which ends op's pending read or
// write on it, and returns nullopt. For ops that only wait on s, where running out of time ends
// the connection anyway (a handshake's readTimeout): a shared core::Deadline instead of a timer
// and a parallel group per call.

#include <chrono>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "gost/core/deadline.hpp"
#include "gost/core/stream.hpp"

namespace gost {

namespace detail {
template <class T>
asio::awaitable<std::optional<T>> as_optional(asio::awaitable<T> op) {
  co_return std::optional<T>(co_await std::move(op));
}
inline asio::awaitable<bool> as_bool(asio::awaitable<void> op) {
  co_await std::move(op);
  co_return true;
}
// What a with_timeout deadline does when it passes: cancel the op's coroutine (terminal, as a
// parallel group cancels its loser).
struct TimeoutSignal {
  asio::cancellation_signal signal;
  bool expired = false;
  static void fire(void* p) {
    auto* t = static_cast<TimeoutSignal*>(p);
    t->expired = true;
    t->signal.emit(asio::cancellation_type::terminal);
  }
};
}  // namespace detail

template <class T>
asio::awaitable<std::optional<T>> with_timeout(asio::awaitable<T> op, std::chrono::milliseconds d) {
  if (d.count() <= 0) co_return std::optional<T>(co_await std::move(op));
  // op runs as a coroutine of its own whose cancellation slot a core::Deadline signals: one
  // spawned coroutine and no timer per call, where a parallel group with a timer costs two and
  // a timer-queue update. A cancellation of the calling coroutine is passed on to op, as a
  // parallel group would.
  auto ex = co_await asio::this_coro::executor;
  asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  asio::cancellation_slot outer = cs.slot();
  detail::TimeoutSignal ts;
  if (outer.is_connected()) outer.assign([sig = &ts.signal](asio::cancellation_type t) { sig->emit(t); });
  core::Deadline deadline;
  deadline.arm(ex, d, &detail::TimeoutSignal::fire, &ts);
  auto [ep, r] = co_await asio::co_spawn(
      ex, detail::as_optional(std::move(op)),
      asio::bind_cancellation_slot(ts.signal.slot(), asio::experimental::as_tuple(asio::use_awaitable)));
  deadline.disarm();
  if (outer.is_connected()) outer.clear();
  if (ts.expired) co_return std::nullopt;
  if (ep) std::rethrow_exception(ep);
  co_return std::move(r);
}

// The void form: true when op finished, false on timeout.
inline asio::awaitable<bool> with_timeout(asio::awaitable<void> op, std::chrono::milliseconds d) {
  if (d.count() <= 0) {
    co_await std::move(op);
    co_return true;
  }
  auto r = co_await with_timeout(detail::as_bool(std::move(op)), d);
  co_return r.has_value();
}

template <class T>
asio::awaitable<std::optional<T>> close_after(Stream& s, std::chrono::milliseconds d, asio::awaitable<T> op) {
  if (d.count() <= 0) co_return std::optional<T>(co_await std::move(op));
  core::Deadline deadline;
  deadline.arm(s.get_executor(), d, [](void* p) { static_cast<Stream*>(p)->close(); }, &s);
  std::optional<T> r(co_await std::move(op));
  deadline.disarm();
  if (deadline.expired()) co_return std::nullopt;
  co_return r;
}

}  // namespace gost
