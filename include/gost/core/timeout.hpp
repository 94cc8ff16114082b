#pragma once
// with_timeout(op, d): runs op, cancelling it when d elapses first (Asio per-operation
// cancellation). Returns nullopt on timeout. d == 0 means no limit.

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

}  // namespace gost
