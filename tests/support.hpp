#pragma once
// Test support: run coroutines on a Runtime from a test, and small loopback servers.

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "gost/core/runtime.hpp"
#include "gost/core/stream.hpp"

namespace gost::test {

inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Runs a coroutine on ex and waits (bounded) for its result; throws on timeout.
template <class T>
T run_on(asio::any_io_executor ex, asio::awaitable<T> aw, std::chrono::seconds limit = std::chrono::seconds(20)) {
  std::promise<T> p;
  auto f = p.get_future();
  asio::co_spawn(ex, std::move(aw), [&p](std::exception_ptr e, T v) {
    if (e) p.set_exception(e);
    else p.set_value(std::move(v));
  });
  if (f.wait_for(limit) != std::future_status::ready) throw std::runtime_error("test coroutine timed out");
  return f.get();
}

// A TCP echo server on 127.0.0.1:0 running on its own thread.
class EchoServer {
 public:
  EchoServer() : acc_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ctx_, accept_loop(), [](std::exception_ptr) {});
    th_ = std::thread([this] { ctx_.run(); });
  }
  ~EchoServer() {
    ctx_.stop();
    th_.join();
  }
  std::uint16_t port() const { return acc_.local_endpoint().port(); }
  std::size_t accepted() const { return accepted_.load(); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, s] = co_await acc_.async_accept(use_tuple);
      if (ec) co_return;
      ++accepted_;
      asio::co_spawn(ctx_, echo(std::move(s)), [](std::exception_ptr) {});
    }
  }
  static asio::awaitable<void> echo(asio::ip::tcp::socket s) {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
      if (n) {
        auto [wec, wn] = co_await asio::async_write(s, asio::buffer(buf, n), use_tuple);
        if (wec) co_return;
      }
      if (ec) {
        std::error_code e2;
        s.shutdown(asio::ip::tcp::socket::shutdown_send, e2);
        co_return;
      }
    }
  }
  asio::io_context ctx_;
  asio::ip::tcp::acceptor acc_;
  std::thread th_;
  std::atomic<std::size_t> accepted_{0};
};

// A UDP echo server on 127.0.0.1:0 running on its own thread.
class UdpEchoServer {
 public:
  UdpEchoServer() : sock_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ctx_, loop(), [](std::exception_ptr) {});
    th_ = std::thread([this] { ctx_.run(); });
  }
  ~UdpEchoServer() {
    ctx_.stop();
    th_.join();
  }
  std::uint16_t port() const { return sock_.local_endpoint().port(); }

 private:
  asio::awaitable<void> loop() {
    char buf[65536];
    asio::ip::udp::endpoint from;
    for (;;) {
      auto [ec, n] = co_await sock_.async_receive_from(asio::buffer(buf), from, use_tuple);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      co_await sock_.async_send_to(asio::buffer(buf, n), from, use_tuple);
    }
  }
  asio::io_context ctx_;
  asio::ip::udp::socket sock_;
  std::thread th_;
};

// Blocking loopback TCP client helpers for tests.
inline asio::ip::tcp::socket connect_blocking(asio::io_context& ctx, std::uint16_t port,
                                              const char* host = "127.0.0.1") {
  asio::ip::tcp::socket s(ctx);
  s.connect({asio::ip::make_address(host), port});
  return s;
}

// A readiness callback (Stream::async_wait_readable) watched from a coroutine: start_wait()
// arms it, wait_probe() waits up to `ms` for it (result stays nullopt if none came).
struct ReadyProbe {
  std::optional<std::error_code> result;
  std::shared_ptr<asio::steady_timer> timer;
};
inline void start_wait(Stream& s, const std::shared_ptr<ReadyProbe>& p) {
  s.async_wait_readable([p](std::error_code ec) {
    p->result = ec;
    if (p->timer) p->timer->cancel();
  });
}
inline asio::awaitable<void> wait_probe(std::shared_ptr<ReadyProbe> p, std::chrono::milliseconds ms) {
  if (p->result) co_return;
  p->timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, ms);
  co_await p->timer->async_wait(use_tuple);
  p->timer.reset();
}

// A stream layered on another that hides its callback-style readiness (has_ready_callback()
// false), as a protocol layer without a readiness callback of its own does: bridge() then copies
// with coroutines, and the service waits for a parked connection in a coroutine.
class NoReadyStream final : public Stream {
 public:
  explicit NoReadyStream(StreamPtr inner) : inner_(std::move(inner)) {}
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override { return inner_->read_some(b); }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override { return inner_->write_some(b); }
  asio::awaitable<std::error_code> shutdown_write() override { return inner_->shutdown_write(); }
  asio::awaitable<std::error_code> wait_readable() override { return inner_->wait_readable(); }
  bool has_ready_callback() noexcept override { return false; }
  void close() noexcept override { inner_->close(); }

 private:
  StreamPtr inner_;
};

}  // namespace gost::test
