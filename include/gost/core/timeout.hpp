#pragma once
// with_timeout(op, d): runs op, cancelling it when d elapses first (Asio per-operation
// cancellation). Returns nullopt on timeout. d == 0 means no limit.
//
// close_after(s, d, op): runs op; if d passes first, closes s, which ends op's pending read or
// write on it, and returns nullopt. For ops that only wait on s, where running out of time ends
// the connection anyway (a handshake's readTimeout): a shared core::Deadline instead of a timer
// and a parallel group per call.

#include <chrono>
#include <optional>
#include <tuple>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
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
}  // namespace detail

template <class T>
asio::awaitable<std::optional<T>> with_timeout(asio::awaitable<T> op, std::chrono::milliseconds d) {
  if (d.count() <= 0) co_return std::optional<T>(co_await std::move(op));
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto r = co_await (detail::as_optional(std::move(op)) ||
                     timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
  if (r.index() == 0) co_return std::move(std::get<0>(r));
  co_return std::nullopt;
}

// The void form: true when op finished, false on timeout.
inline asio::awaitable<bool> with_timeout(asio::awaitable<void> op, std::chrono::milliseconds d) {
  if (d.count() <= 0) {
    co_await std::move(op);
    co_return true;
  }
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto r = co_await (detail::as_bool(std::move(op)) ||
                     timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
  co_return r.index() == 0;
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
