// The tls listener (tcp + a server handshake per connection) and the tls dialer
// (tcp + client handshake).
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <deque>
#include <mutex>

#include "gost/core/chain.hpp"
#include "gost/core/registry.hpp"
#include "gost/tls/tls.hpp"

namespace gost::tls {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Handshaken streams, pushed by per-connection coroutines (any thread), popped
// by accept().
class Queue : public std::enable_shared_from_this<Queue> {
 public:
  explicit Queue(asio::any_io_executor ex) : ex_(std::move(ex)) {}

  void push(StreamPtr s) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!closed_) {
        items_.push_back(std::move(s));
        s = nullptr;
      }
    }
    if (s) {
      s->close();
      return;
    }
    wake();
  }

  void close() {
    std::deque<StreamPtr> drop;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (closed_) return;
      closed_ = true;
      drop.swap(items_);
    }
    for (auto& s : drop) s->close();
    wake();
  }

  bool closed() const {
    std::lock_guard<std::mutex> g(mu_);
    return closed_;
  }

  // On ex_ only.
  asio::awaitable<Result<StreamPtr>> pop() {
    asio::steady_timer timer(ex_, asio::steady_timer::time_point::max());
    struct Unregister {
      Queue* q;
      ~Unregister() { q->waiter_ = nullptr; }
    } unregister{this};
    for (;;) {
      {
        std::lock_guard<std::mutex> g(mu_);
        if (!items_.empty()) {
          auto s = std::move(items_.front());
          items_.pop_front();
          co_return s;
        }
        if (closed_) co_return make_error_code(errc::closed);
      }
      if (woken_) {
        woken_ = false;
        continue;
      }
      waiter_ = &timer;
      co_await timer.async_wait(use_tuple);
      waiter_ = nullptr;
      woken_ = false;
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none)
        co_return make_error_code(asio::error::operation_aborted);
    }
  }

 private:
  void wake() {
    asio::post(ex_, [self = shared_from_this()] {
      self->woken_ = true;
      if (self->waiter_) self->waiter_->cancel();
    });
  }

  asio::any_io_executor ex_;
  mutable std::mutex mu_;
  std::deque<StreamPtr> items_;
  bool closed_ = false;
  asio::steady_timer* waiter_ = nullptr;  // on ex_ only
  bool woken_ = false;                    // on ex_ only
};

asio::awaitable<void> serve_one(StreamPtr conn, std::shared_ptr<ServerContext> ctx,
                                std::shared_ptr<Queue> q, LoggerPtr log) {
  auto peer = conn->remote_address().to_string();
  auto r = co_await server_handshake(std::move(conn), std::move(ctx));
  if (!r) {
    if (log && log->enabled(LogLevel::debug))
      log->debug("tls: handshake failed", {{"peer", peer}, {"error", r.error().message()}});
    co_return;
  }
  q->push(std::move(*r));
}

asio::awaitable<void> accept_loop(std::shared_ptr<Listener> inner,
                                  std::shared_ptr<ServerContext> ctx, std::shared_ptr<Queue> q,
                                  LoggerPtr log) {
  for (;;) {
    auto r = co_await inner->accept();
    if (!r) {
      if (q->closed() || r.error() == errc::closed || r.error() == asio::error::operation_aborted ||
          r.error() == asio::error::bad_descriptor)
        break;
      // Transient failures (EMFILE...) must not end the listener.
      asio::steady_timer t(inner->get_executor(), std::chrono::milliseconds(20));
      co_await t.async_wait(use_tuple);
      continue;
    }
    auto conn = std::move(*r);
    auto ex = conn->get_executor();
    // The handshake runs in its own coroutine: a slow client never stalls
    // accepting.
    asio::co_spawn(ex, serve_one(std::move(conn), ctx, q, log), asio::detached);
  }
  q->close();
}

class TlsListener final : public Listener {
 public:
  TlsListener(ListenerPtr inner, std::shared_ptr<ServerContext> ctx, LoggerPtr log)
      : inner_(std::move(inner)), ctx_(std::move(ctx)), log_(std::move(log)) {
    q_ = std::make_shared<Queue>(inner_->get_executor());
  }
  ~TlsListener() override { close(); }
  std::error_code listen() override {
    if (auto ec = inner_->listen()) return ec;
    asio::co_spawn(inner_->get_executor(), accept_loop(inner_, ctx_, q_, log_), asio::detached);
    return {};
  }
  asio::awaitable<Result<StreamPtr>> accept() override { return q_->pop(); }
  Address address() const override { return inner_->address(); }
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  void close() noexcept override {
    q_->close();
    inner_->close();
  }

 private:
  std::shared_ptr<Listener> inner_;
  std::shared_ptr<ServerContext> ctx_;
  LoggerPtr log_;
  std::shared_ptr<Queue> q_;
};

class TlsDialer final : public Dialer {
 public:
  explicit TlsDialer(std::shared_ptr<ClientContext> ctx) : ctx_(std::move(ctx)) {}
  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) override {
    co_return co_await dial_tcp(std::move(addr), opts.timeout);
  }
  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, Address addr) override {
    co_return co_await client_handshake(std::move(s), ctx_, std::move(addr.host));
  }

 private:
  std::shared_ptr<ClientContext> ctx_;
};

}  // namespace

Result<ListenerPtr, ConfigError> make_tls_listener(const ListenerArgs& a) {
  auto ctx = make_server_context(server_options_from(a.metadata));
  if (!ctx) return config_error("tls listener: " + ctx.error().message());
  Registry r;
  register_core(r);
  const auto* f = r.listener("tcp");
  if (!f) return config_error("tls listener: the tcp listener is not available");
  auto inner = (*f)(a);
  if (!inner) return inner.error();
  return ListenerPtr(std::make_unique<TlsListener>(std::move(*inner), std::move(*ctx), a.logger));
}

Result<DialerPtr, ConfigError> make_tls_dialer(const DialerArgs& a) {
  auto ctx = make_client_context(client_options_from(a.metadata));
  if (!ctx) return config_error("tls dialer: " + ctx.error().message());
  return DialerPtr(std::make_shared<TlsDialer>(std::move(*ctx)));
}

void register_module(Registry& r) {
  r.add_listener("tls", make_tls_listener);
  r.add_dialer("tls", make_tls_dialer);
}

}  // namespace gost::tls
