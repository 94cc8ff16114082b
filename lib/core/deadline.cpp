#include "gost/core/deadline.hpp"

#include <memory>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/query.hpp>
#include <asio/steady_timer.hpp>

namespace gost::core {

namespace {
using clock_type = std::chrono::steady_clock;
}

// Deadlines on one context in expiry order, first to expire at the head. Each duration in use
// has a list of its own, where arming order is expiry order and a new deadline goes at the tail;
// past kMaxLists durations, lists are shared and a deadline is inserted in order from the tail.
class DeadlineList {
 public:
  DeadlineList(const asio::any_io_executor& ex, std::recursive_mutex& mu, const bool& keep_timer)
      : timer_(ex), mu_(mu), keep_timer_(keep_timer) {}

  std::recursive_mutex& mutex() noexcept { return mu_; }

  void insert(Deadline* d) {
    Deadline* after = tail_;
    while (after && after->at_ > d->at_) after = after->prev_;
    d->list_ = this;
    d->prev_ = after;
    d->next_ = after ? after->next_ : head_;
    if (d->next_) {
      d->next_->prev_ = d;
    } else {
      tail_ = d;
    }
    if (after) {
      after->next_ = d;
    } else {
      head_ = d;
    }
    // Only a deadline that expires before what the timer waits for moves the timer. A timer kept
    // waiting for an earlier expiry (its deadline was disarmed, perhaps emptying the list) wakes
    // once early and then waits for the head: no timer (timerfd) update per connection.
    if (!waiting_ || d->at_ < timer_at_) wait();
  }

  void unlink(Deadline* d) noexcept {
    if (d->prev_) {
      d->prev_->next_ = d->next_;
    } else {
      head_ = d->next_;
    }
    if (d->next_) {
      d->next_->prev_ = d->prev_;
    } else {
      tail_ = d->prev_;
    }
    d->prev_ = d->next_ = nullptr;
    d->list_ = nullptr;
  }

  // After a disarm: an emptied list stops its timer, so that the context runs out of work when
  // nothing else is pending (io_context::run() returns), unless the context is kept running
  // anyway (keep_deadline_timers), where the timer may as well stay armed until it wakes.
  void stop_if_empty() noexcept {
    if (head_ || !waiting_ || keep_timer_) return;
    waiting_ = false;
    timer_.cancel();  // the pending wait ends with operation_aborted and does nothing
  }

  // At the context's shutdown: every deadline still armed forgets this list.
  void detach_all() noexcept {
    while (head_) unlink(head_);
  }

 private:
  // The timer sleeps until the head's expiry; a head disarmed meanwhile costs one early wake-up.
  // Setting the expiry ends a wait still pending (its handler sees operation_aborted and leaves
  // everything to the new one).
  void wait() {
    waiting_ = true;
    timer_at_ = head_->at_;
    timer_.expires_at(timer_at_);
    timer_.async_wait([this](std::error_code ec) { on_timer(ec); });
  }

  void on_timer(std::error_code ec) {
    if (ec) return;  // replaced by a newer wait, or the context is shutting down
    std::lock_guard<std::recursive_mutex> lock(mu_);
    waiting_ = false;
    const auto now = clock_type::now();
    // One at a time: each is unlinked before its callback runs, so the callback may disarm,
    // re-arm or destroy any deadline, this one included.
    while (head_ && head_->at_ <= now) {
      Deadline* d = head_;
      unlink(d);
      d->fired_ = true;
      d->fn_(d->ctx_);
    }
    if (head_ && !waiting_) wait();
  }

  asio::steady_timer timer_;
  std::recursive_mutex& mu_;
  const bool& keep_timer_;
  Deadline* head_ = nullptr;
  Deadline* tail_ = nullptr;
  bool waiting_ = false;
  clock_type::time_point timer_at_{};  // what the timer waits for, while waiting_
};

namespace {

// One per io_context: the lists, one per duration in use (a handful: readTimeout and the like).
class DeadlineService final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;

  explicit DeadlineService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  std::recursive_mutex& mutex() noexcept { return mu_; }

  // The list for duration d (locked by the caller): its own while there are at most kMaxLists
  // durations; past that, the list of the longest duration not above d, whose deadlines mostly
  // expire before this one (or the first list).
  DeadlineList& list_for(const asio::any_io_executor& ex, std::chrono::milliseconds d) {
    for (auto& [ms, l] : lists_) {
      if (ms == d.count()) return *l;
    }
    if (lists_.size() < kMaxLists) {
      lists_.emplace_back(d.count(), std::make_unique<DeadlineList>(ex, mu_, keep_timers_));
      return *lists_.back().second;
    }
    DeadlineList* best = lists_.front().second.get();
    std::chrono::milliseconds::rep best_ms = -1;
    for (auto& [ms, l] : lists_) {
      if (ms <= d.count() && ms > best_ms) {
        best = l.get();
        best_ms = ms;
      }
    }
    return *best;
  }

  static constexpr std::size_t kMaxLists = 16;

  void keep_timers() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    keep_timers_ = true;
  }

 private:
  // Runs before the context's other services go away: the timers are destroyed while the timer
  // service still exists, and armed deadlines are detached so their destructors touch nothing.
  void shutdown() override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    for (auto& [ms, l] : lists_) l->detach_all();
    lists_.clear();
  }

  std::recursive_mutex mu_;
  bool keep_timers_ = false;
  std::vector<std::pair<std::chrono::milliseconds::rep, std::unique_ptr<DeadlineList>>> lists_;
};

asio::execution_context::id DeadlineService::id;

}  // namespace

void Deadline::arm(const asio::any_io_executor& ex, std::chrono::milliseconds d, Callback fn, void* ctx) {
  disarm();
  fired_ = false;
  if (d.count() <= 0) return;
  auto& svc = asio::use_service<DeadlineService>(asio::query(ex, asio::execution::context));
  std::lock_guard<std::recursive_mutex> lock(svc.mutex());
  fn_ = fn;
  ctx_ = ctx;
  at_ = clock_type::now() + d;
  svc.list_for(ex, d).insert(this);
}

void Deadline::disarm() noexcept {
  DeadlineList* l = list_;
  if (!l) return;
  std::lock_guard<std::recursive_mutex> lock(l->mutex());
  if (list_ == l) {
    l->unlink(this);
    l->stop_if_empty();
  }
}

void keep_deadline_timers(asio::execution_context& ctx) { asio::use_service<DeadlineService>(ctx).keep_timers(); }

}  // namespace gost::core
