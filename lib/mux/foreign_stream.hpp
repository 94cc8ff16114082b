#pragma once
// A Stream that lives on one executor (its "home": a mux session's thread) used
// from another (the caller's thread). Every operation runs on the home executor
// and completes on the caller's:
//   read_some / write_some / shutdown_write / wait_readable hop to the home
//   executor with co_spawn and back; the caller awaits, so its buffers stay
//   valid for the whole operation. Per-operation cancellation (a `(op ||
//   timer)` timeout, a closing service) is forwarded: the caller's cancellation
//   slot posts the cancellation to the home executor, where the operation
//   completes with an error, so nothing is left dangling. close() is posted to
//   the home executor (the inner stream's close() wakes a pending read there);
//   the inner stream is destroyed on the home executor too.
// Nothing here is specific to mux: any Stream bound to another thread's
// executor can be wrapped.

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <type_traits>

#include "gost/core/stream.hpp"

namespace gost::mux {

// True when both executors run on the same execution context (the same runtime
// thread).
bool same_context(const asio::any_io_executor &a, const asio::any_io_executor &b);

namespace detail {
// Installed in the caller's cancellation slot: forwards a cancellation to home.
struct PostCancel {
  std::shared_ptr<asio::cancellation_signal> sig;
  asio::any_io_executor home;
  void operator()(asio::cancellation_type t) {
    asio::post(home, [s = sig, t] { s->emit(t); });
  }
};
template <class T>
asio::awaitable<std::optional<T>> as_optional(asio::awaitable<T> op) {
  co_return std::optional<T>(co_await std::move(op));
}
}  // namespace detail

// Wraps inner (bound to inner->get_executor()) for use from caller. Must be
// called on inner's executor (the addresses are read there once). Returns inner
// itself when the executors share a context.
StreamPtr make_foreign_stream(StreamPtr inner, asio::any_io_executor caller);
// True when s came wrapped from make_foreign_stream (for tests and diagnostics).
bool is_foreign_stream(const Stream &s) noexcept;

// Runs op on home and resumes the calling coroutine on its own executor,
// forwarding the caller's cancellation to home. op must not reference the
// caller's frame except through buffers the caller keeps alive while awaiting.
template <class T>
asio::awaitable<T> run_on(asio::any_io_executor home, asio::awaitable<T> op) {
  if constexpr (!std::is_default_constructible_v<T>) {
    // co_spawn default-constructs a T for its exception path.
    auto r = co_await run_on(std::move(home), detail::as_optional(std::move(op)));
    co_return std::move(*r);
  } else {
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    asio::cancellation_slot slot = cs.slot();
    if (!slot.is_connected())
      co_return co_await asio::co_spawn(home, std::move(op), asio::use_awaitable);
    // The signal is emitted only on home (where op's handlers run); it outlives
    // every emit.
    auto sig = std::make_shared<asio::cancellation_signal>();
    slot.assign(detail::PostCancel{sig, home});
    T r = co_await asio::co_spawn(home, std::move(op),
                                  asio::bind_cancellation_slot(sig->slot(), asio::use_awaitable));
    slot.clear();
    co_return std::move(r);
  }
}

}  // namespace gost::mux
