#pragma once
// Deadline: "call this once d has passed, unless disarmed first", for per-connection limits such
// as a handshake's readTimeout, where a timer per connection costs more than the work it bounds.
//
// Deadlines of one duration on one io_context share one steady_timer and one list kept in arming
// order, which is also expiry order. Arming links the deadline at the tail and disarming unlinks
// it: no allocation, no timer of its own and no timer-queue (timerfd) update per connection. The
// shared timer wakes at the head's expiry, calls what has expired and sleeps until the new head's.
// A context keeps a list of its own for up to 16 durations; deadlines of further durations share
// those lists and are inserted in expiry order (a walk from the tail), so any mix of durations
// works and the usual few fixed ones stay constant-time.
//
// Threading: arm, disarm, destroy and the callback all happen on the executor's context, as with
// the streams a deadline usually guards (one thread per context in gost's Runtime). The lists of a
// context are locked, so a context run by several threads keeps them intact; the callback runs
// with that lock held and may arm or disarm deadlines itself.
//
// A deadline still armed when its io_context is destroyed is detached first: its destructor then
// does nothing and its callback never runs.

#include <chrono>

#include <asio/any_io_executor.hpp>
#include <asio/execution_context.hpp>

namespace gost::core {

class DeadlineList;

class Deadline {
 public:
  using Callback = void (*)(void* ctx);

  Deadline() noexcept = default;
  ~Deadline() { disarm(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Calls fn(ctx) on ex's context once d has passed, unless disarm() or the destructor comes
  // first. Arming an armed deadline re-arms it. d <= 0 only disarms.
  void arm(const asio::any_io_executor& ex, std::chrono::milliseconds d, Callback fn, void* ctx);
  void disarm() noexcept;
  bool armed() const noexcept { return list_ != nullptr; }
  // True once the callback has run (until the next arm()).
  bool expired() const noexcept { return fired_; }

 private:
  friend class DeadlineList;
  DeadlineList* list_ = nullptr;
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
  std::chrono::steady_clock::time_point at_{};
  Callback fn_ = nullptr;
  void* ctx_ = nullptr;
  bool fired_ = false;
};

// Where a context runs until it is stopped (gost's Runtime keeps work on its contexts), its
// shared deadline timers stay armed while their lists are empty, and arming again costs no timer
// update. Elsewhere a list emptied by a disarm stops its timer, so io_context::run() returns once
// nothing else is pending.
void keep_deadline_timers(asio::execution_context& ctx);

}  // namespace gost::core
