#pragma once
// A Stream that lives on one executor (its "home": a mux session's thread) used from another
// (the caller's thread). Every operation runs on the home executor and completes on the
// caller's:
//   read_some / write_some / shutdown_write / wait_readable hop to the home executor with
//   co_spawn and back; the caller awaits, so its buffers stay valid for the whole operation.
//   Per-operation cancellation (a `(op || timer)` timeout, a closing service) is forwarded: the
//   caller's cancellation slot posts the cancellation to the home executor, where the
//   operation completes with an error, so nothing is left dangling.
//   close() is posted to the home executor (the inner stream's close() wakes a pending read
//   there); the inner stream is destroyed on the home executor too.
// Teardown: io_contexts may be destroyed in any order (a Runtime destroys its contexts one by
// one). Nothing is posted to a context whose destruction has begun; what would have been
// posted there (an inner stream, a suspended caller) is parked for the rest of the process
// instead of being touched on the wrong thread or after its context is gone.
// Nothing here is specific to mux: any Stream bound to another thread's executor can be wrapped.

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "gost/core/stream.hpp"

namespace gost::mux {

// True when both executors run on the same execution context (the same runtime thread).
bool same_context(const asio::any_io_executor& a, const asio::any_io_executor& b);

// Wraps inner (bound to inner->get_executor()) for use from caller. Must be called on inner's
// executor (the addresses are read there once). Returns inner itself when the executors share
// a context.
StreamPtr make_foreign_stream(StreamPtr inner, asio::any_io_executor caller);
// True when s came wrapped from make_foreign_stream (for tests and diagnostics).
bool is_foreign_stream(const Stream& s) noexcept;

namespace detail {

// Whether an execution context is still running its handlers' lifetimes: false from the
// start of its destruction on.
struct Life {
  std::mutex mu;
  bool alive = true;
};
using LifePtr = std::shared_ptr<Life>;
LifePtr life_of(const asio::any_io_executor& ex);

// Posts f to ex unless ex's context is being destroyed (then f is left untouched).
template <class F>
bool post_if_alive(const LifePtr& life, const asio::any_io_executor& ex, F&& f) {
  std::lock_guard<std::mutex> g(life->mu);
  if (!life->alive) return false;
  asio::post(ex, std::forward<F>(f));
  return true;
}

// Keeps an object for the rest of the process (never destroyed): what belongs to a context
// that is gone cannot be destroyed safely anywhere.
struct Parked {
  virtual ~Parked() = default;
};
void park(std::unique_ptr<Parked> p);
template <class T>
void park_object(T&& v) {
  struct Box final : Parked {
    explicit Box(T&& x) : v(std::move(x)) {}
    std::decay_t<T> v;
  };
  park(std::make_unique<Box>(std::move(v)));
}

// Installed in the caller's cancellation slot: forwards a cancellation to home.
struct PostCancel {
  std::shared_ptr<asio::cancellation_signal> sig;
  asio::any_io_executor home;
  LifePtr home_life;
  void operator()(asio::cancellation_type t) {
    post_if_alive(home_life, home, [s = sig, t] { s->emit(t); });
  }
};

// co_spawn's completion handler on home: hands the result to the caller's handler on the
// caller's executor.
template <class T, class H>
class Relay {
 public:
  Relay(H h, asio::any_io_executor caller, LifePtr caller_life, asio::cancellation_slot slot)
      : h_(std::move(h)),
        caller_(std::move(caller)),
        caller_life_(std::move(caller_life)),
        slot_(slot) {}
  Relay(Relay&& o) noexcept
      : h_(std::exchange(o.h_, std::nullopt)),
        caller_(std::move(o.caller_)),
        caller_life_(std::move(o.caller_life_)),
        slot_(o.slot_) {}
  Relay& operator=(Relay&&) = delete;
  ~Relay() {
    // Never invoked: home is being torn down with the operation pending. Destroying the
    // caller's handler posts the caller's destruction to its executor: only while it lives.
    if (h_ && caller_life_ && !caller_life_->alive) park_object(std::move(*h_));
  }

  using cancellation_slot_type = asio::cancellation_slot;
  cancellation_slot_type get_cancellation_slot() const noexcept { return slot_; }

  void operator()(std::exception_ptr e, T v) {
    auto f = [h = std::move(*h_), e, v = std::move(v)]() mutable { std::move(h)(e, std::move(v)); };
    h_.reset();
    if (!post_if_alive(caller_life_, caller_, std::move(f))) park_object(std::move(f));
  }

 private:
  std::optional<H> h_;
  asio::any_io_executor caller_;
  LifePtr caller_life_;
  asio::cancellation_slot slot_;
};

template <class T>
struct InitiateOn {
  asio::any_io_executor home;
  asio::any_io_executor caller;
  LifePtr caller_life;
  std::shared_ptr<asio::cancellation_signal> sig;  // null: no cancellation to forward
  template <class H>
  void operator()(H&& h, asio::awaitable<T> op) {
    asio::cancellation_slot slot;
    if (sig) slot = sig->slot();
    asio::co_spawn(home, std::move(op),
                   Relay<T, std::decay_t<H>>(std::forward<H>(h), caller, caller_life, slot));
  }
};

template <class T>
asio::awaitable<std::optional<T>> as_optional(asio::awaitable<T> op) {
  co_return std::optional<T>(co_await std::move(op));
}

}  // namespace detail

// Runs op on home and resumes the calling coroutine on caller (its own executor), forwarding
// the caller's cancellation to home. op must not reference the caller's frame except through
// buffers the caller keeps alive while awaiting. The lives come from detail::life_of().
template <class T>
asio::awaitable<T> run_on(asio::any_io_executor home, detail::LifePtr home_life,
                          asio::any_io_executor caller, detail::LifePtr caller_life,
                          asio::awaitable<T> op) {
  if constexpr (!std::is_default_constructible_v<T>) {
    // co_spawn default-constructs a T for its exception path.
    auto r = co_await run_on(std::move(home), std::move(home_life), std::move(caller),
                             std::move(caller_life), detail::as_optional(std::move(op)));
    co_return std::move(*r);
  } else {
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    asio::cancellation_slot slot = cs.slot();
    std::shared_ptr<asio::cancellation_signal> sig;
    if (slot.is_connected()) {
      // Emitted only on home (where op's handlers run); the signal outlives every emit.
      sig = std::make_shared<asio::cancellation_signal>();
      slot.assign(detail::PostCancel{sig, home, home_life});
    }
    // A named initiation: GCC 12 destroys some temporaries of a co_await expression twice.
    detail::InitiateOn<T> init{home, caller, caller_life, sig};
    T r =
        co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, T)>(
            std::move(init), asio::use_awaitable, std::move(op));
    if (sig) slot.clear();
    co_return std::move(r);
  }
}

}  // namespace gost::mux
