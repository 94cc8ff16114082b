#include "ws/layered.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

namespace gost::ws {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> serve_one(ConnServerPtr server, StreamPtr conn, StreamQueuePtr q) {
  co_await server->serve(std::move(conn), std::move(q));
}

asio::awaitable<void> accept_loop(std::shared_ptr<Listener> inner, ConnServerPtr server,
                                  StreamQueuePtr q) {
  for (;;) {
    auto r = co_await inner->accept();
    if (!r) {
      if (q->closed() || r.error() == errc::closed) break;
      // Transient accept failures (EMFILE...) must not end the listener.
      if (r.error() == asio::error::operation_aborted || r.error() == asio::error::bad_descriptor)
        break;
      asio::steady_timer t(inner->get_executor(), std::chrono::milliseconds(20));
      co_await t.async_wait(use_tuple);
      continue;
    }
    auto conn = std::move(*r);
    auto ex = conn->get_executor();
    asio::co_spawn(ex, serve_one(server, std::move(conn), q), asio::detached);
  }
  q->close();
}
}  // namespace

asio::awaitable<void> AsyncLock::lock() {
  while (locked_) {
    auto t = std::make_shared<asio::steady_timer>(ex_, asio::steady_timer::time_point::max());
    waiters_.push_back(t);
    co_await t->async_wait(use_tuple);
  }
  locked_ = true;
}

void AsyncLock::unlock() {
  locked_ = false;
  auto w = std::move(waiters_);
  waiters_.clear();
  for (auto& t : w) t->cancel();
}

StreamQueue::StreamQueue(asio::any_io_executor ex) : ex_(std::move(ex)) {}

void StreamQueue::signal() {
  asio::post(ex_, [self = shared_from_this()]() {
    self->signaled_ = true;
    for (auto* t : self->waiters_) t->cancel();
  });
}

bool StreamQueue::push(StreamPtr s) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (closed_) {
      s->close();
      return false;
    }
    items_.push_back(std::move(s));
  }
  signal();
  return true;
}

void StreamQueue::close() {
  std::deque<StreamPtr> drop;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (closed_) return;
    closed_ = true;
    drop.swap(items_);
  }
  for (auto& s : drop) s->close();
  signal();
}

bool StreamQueue::closed() const {
  std::lock_guard<std::mutex> g(mu_);
  return closed_;
}

asio::awaitable<Result<StreamPtr>> StreamQueue::pop(std::shared_ptr<StreamQueue> q) {
  asio::steady_timer timer(q->ex_, asio::steady_timer::time_point::max());
  struct Unregister {
    StreamQueue& q;
    asio::steady_timer* t;
    ~Unregister() { std::erase(q.waiters_, t); }
  } unregister{*q, &timer};
  q->waiters_.push_back(&timer);
  for (;;) {
    {
      std::lock_guard<std::mutex> g(q->mu_);
      if (!q->items_.empty()) {
        auto s = std::move(q->items_.front());
        q->items_.pop_front();
        co_return s;
      }
      if (q->closed_) co_return make_error_code(errc::closed);
    }
    if (q->signaled_) {
      q->signaled_ = false;
      continue;
    }
    timer.expires_at(asio::steady_timer::time_point::max());
    auto [ec] = co_await timer.async_wait(use_tuple);
    q->signaled_ = false;
    if (ec && ec != asio::error::operation_aborted) co_return ec;
  }
}

LayeredListener::LayeredListener(ListenerPtr inner, ConnServerPtr server)
    : inner_(std::move(inner)), server_(std::move(server)) {
  queue_ = std::make_shared<StreamQueue>(inner_->get_executor());
}

LayeredListener::~LayeredListener() { close(); }

std::error_code LayeredListener::listen() {
  if (auto ec = inner_->listen()) return ec;
  asio::co_spawn(inner_->get_executor(), accept_loop(inner_, server_, queue_), asio::detached);
  return {};
}

asio::awaitable<Result<StreamPtr>> LayeredListener::accept() { return StreamQueue::pop(queue_); }

void LayeredListener::close() noexcept {
  queue_->close();
  inner_->close();
}

Result<ListenerPtr, ConfigError> make_tcp_listener(const ListenerArgs& args) {
  Registry r;
  register_core(r);
  const auto* f = r.listener("tcp");
  if (!f) return config_error("tcp listener is not available");
  return (*f)(args);
}

}  // namespace gost::ws
