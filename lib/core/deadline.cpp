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

// The deadlines of one duration on one context, oldest (first to expire) at the head.
class DeadlineList {
 public:
  DeadlineList(const asio::any_io_executor& ex, std::recursive_mutex& mu) : timer_(ex), mu_(mu) {}

  std::recursive_mutex& mutex() noexcept { return mu_; }

  void push(Deadline* d) {
    d->list_ = this;
    d->prev_ = tail_;
    d->next_ = nullptr;
    if (tail_) {
      tail_->next_ = d;
    } else {
      head_ = d;
    }
    tail_ = d;
    if (!waiting_) wait();
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

  // At the context's shutdown: every deadline still armed forgets this list.
  void detach_all() noexcept {
    while (head_) unlink(head_);
  }

 private:
  // The timer sleeps until the head's expiry; a head disarmed meanwhile costs one early wake-up.
  void wait() {
    waiting_ = true;
    timer_.expires_at(head_->at_);
    timer_.async_wait([this](std::error_code ec) { on_timer(ec); });
  }

  void on_timer(std::error_code ec) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    waiting_ = false;
    if (ec) return;  // only cancelled when the context shuts down
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
  Deadline* head_ = nullptr;
  Deadline* tail_ = nullptr;
  bool waiting_ = false;
};

namespace {

// One per io_context: the lists, one per duration in use (a handful: readTimeout and the like).
class DeadlineService final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;

  explicit DeadlineService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  std::recursive_mutex& mutex() noexcept { return mu_; }

  // The list for duration d (locked by the caller).
  DeadlineList& list_for(const asio::any_io_executor& ex, std::chrono::milliseconds d) {
    for (auto& [ms, l] : lists_) {
      if (ms == d.count()) return *l;
    }
    lists_.emplace_back(d.count(), std::make_unique<DeadlineList>(ex, mu_));
    return *lists_.back().second;
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
  svc.list_for(ex, d).push(this);
}

void Deadline::disarm() noexcept {
  DeadlineList* l = list_;
  if (!l) return;
  std::lock_guard<std::recursive_mutex> lock(l->mutex());
  if (list_ == l) l->unlink(this);
}

}  // namespace gost::core
