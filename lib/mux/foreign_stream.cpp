#include "mux/foreign_stream.hpp"

#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <vector>

namespace gost::mux {
namespace {

asio::awaitable<IoResult> do_read(std::shared_ptr<Stream> s, asio::mutable_buffer b) {
  co_return co_await s->read_some(b);
}
asio::awaitable<IoResult> do_write(std::shared_ptr<Stream> s, asio::const_buffer b) {
  co_return co_await s->write_some(b);
}
asio::awaitable<std::error_code> do_shutdown(std::shared_ptr<Stream> s) {
  co_return co_await s->shutdown_write();
}
asio::awaitable<std::error_code> do_wait(std::shared_ptr<Stream> s) {
  co_return co_await s->wait_readable();
}

class ForeignStream final : public Stream {
 public:
  ForeignStream(StreamPtr inner, asio::any_io_executor caller)
      : inner_(std::move(inner)),
        home_(inner_->get_executor()),
        caller_(std::move(caller)),
        home_life_(detail::life_of(home_)),
        caller_life_(detail::life_of(caller_)),
        local_(inner_->local_address()),
        remote_(inner_->remote_address()),
        datagram_(inner_->is_datagram()) {}

  ~ForeignStream() override {
    // The inner stream's last reference (and its close()) belongs on home: a
    // pending operation holds its own reference, so whichever is last destroys
    // it there.
    auto f = [s = std::move(inner_), close = !closed_]() mutable {
      if (close) s->close();
      s.reset();
    };
    if (!detail::post_if_alive(home_life_, home_, std::move(f))) detail::park_object(std::move(f));
  }

  asio::any_io_executor get_executor() override { return caller_; }

  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    if (closed_) co_return IoResult{make_error_code(asio::error::operation_aborted), 0};
    co_return co_await run_on(home_, home_life_, caller_, caller_life_, do_read(inner_, b));
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    if (closed_) co_return IoResult{make_error_code(asio::error::broken_pipe), 0};
    co_return co_await run_on(home_, home_life_, caller_, caller_life_, do_write(inner_, b));
  }
  asio::awaitable<std::error_code> shutdown_write() override {
    if (closed_) co_return make_error_code(asio::error::broken_pipe);
    co_return co_await run_on(home_, home_life_, caller_, caller_life_, do_shutdown(inner_));
  }
  asio::awaitable<std::error_code> wait_readable() override {
    if (closed_) co_return make_error_code(asio::error::operation_aborted);
    co_return co_await run_on(home_, home_life_, caller_, caller_life_, do_wait(inner_));
  }
  void close() noexcept override {
    if (closed_) return;
    closed_ = true;
    detail::post_if_alive(home_life_, home_, [s = inner_] { s->close(); });
  }
  Address local_address() const override { return local_; }
  Address remote_address() const override { return remote_; }
  bool is_datagram() const noexcept override { return datagram_; }

 private:
  std::shared_ptr<Stream> inner_;
  asio::any_io_executor home_;
  asio::any_io_executor caller_;
  detail::LifePtr home_life_, caller_life_;
  Address local_, remote_;
  bool datagram_;
  bool closed_ = false;
};

// Flips a context's Life to dead when the context's destruction begins (services are shut
// down before the handlers still queued are destroyed).
class LifeService final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;
  explicit LifeService(asio::execution_context &ctx)
      : asio::execution_context::service(ctx), life(std::make_shared<detail::Life>()) {}
  void shutdown() override {
    std::lock_guard<std::mutex> g(life->mu);
    life->alive = false;
  }
  detail::LifePtr life;
};
asio::execution_context::id LifeService::id;

}  // namespace

namespace detail {

LifePtr life_of(const asio::any_io_executor &ex) {
  return asio::use_service<LifeService>(asio::query(ex, asio::execution::context)).life;
}

void park(std::unique_ptr<Parked> p) {
  static std::mutex mu;
  // Never destroyed: reachable for the rest of the process.
  static auto *parked = new std::vector<std::unique_ptr<Parked>>;
  std::lock_guard<std::mutex> g(mu);
  parked->push_back(std::move(p));
}

}  // namespace detail

bool same_context(const asio::any_io_executor &a, const asio::any_io_executor &b) {
  return &asio::query(a, asio::execution::context) == &asio::query(b, asio::execution::context);
}

bool is_foreign_stream(const Stream &s) noexcept {
  return dynamic_cast<const ForeignStream *>(&s) != nullptr;
}

StreamPtr make_foreign_stream(StreamPtr inner, asio::any_io_executor caller) {
  if (same_context(inner->get_executor(), caller)) return inner;
  return std::make_unique<ForeignStream>(std::move(inner), std::move(caller));
}

}  // namespace gost::mux
