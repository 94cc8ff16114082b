// core::async_wait_read: a read wait that skips Asio's re-arm after a would-block read.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <system_error>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include "core/reactor.hpp"

using namespace std::chrono_literals;
using asio::ip::tcp;

namespace {

struct Pair {
  asio::io_context ctx{1};
  tcp::socket a{ctx}, b{ctx};
  Pair() {
    tcp::acceptor acc(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    a.connect(acc.local_endpoint());
    acc.accept(b);
  }
  // What a non-blocking read of b returns now: bytes, 0 (end of stream) or -1 (errno).
  ssize_t read_b() {
    char buf[64];
    return ::recv(b.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
  }
  // Runs the context until `done` is set or `limit` passes.
  void run_until(const std::optional<std::error_code>& done, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < end) {
      ctx.restart();
      ctx.run_one_for(10ms);
    }
  }
};

}  // namespace

TEST_CASE("a drained read wait ends when bytes, the peer's FIN or a close come", "[reactor]") {
  Pair p;
  std::optional<std::error_code> got;
  auto wait = [&](bool drained) {
    got.reset();
    gost::core::async_wait_read(p.b, drained, [&](std::error_code ec) { got = ec; });
  };

  REQUIRE(p.read_b() == -1);  // would block
  wait(true);
  p.ctx.restart();
  p.ctx.run_for(30ms);
  CHECK_FALSE(got);  // nothing came: it waits
  asio::write(p.a, asio::buffer("x", 1));
  p.run_until(got);
  REQUIRE(got);
  CHECK_FALSE(*got);
  CHECK(p.read_b() == 1);

  // Completed by an edge, the next drained wait starts without a re-arm and still sees the next
  // bytes, several times over.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(p.read_b() == -1);
    wait(true);
    asio::write(p.a, asio::buffer("yy", 2));
    p.run_until(got);
    REQUIRE(got);
    CHECK_FALSE(*got);
    CHECK(p.read_b() == 2);
  }

  REQUIRE(p.read_b() == -1);
  wait(true);
  p.a.shutdown(tcp::socket::shutdown_send);
  p.run_until(got);
  REQUIRE(got);
  CHECK_FALSE(*got);
  CHECK(p.read_b() == 0);  // the FIN

  wait(false);  // not drained: the re-armed wait reports the end of stream already there
  p.run_until(got);
  REQUIRE(got);
  CHECK_FALSE(*got);
}

TEST_CASE("a drained read wait ends aborted when its socket closes", "[reactor]") {
  Pair p;
  std::optional<std::error_code> got;
  REQUIRE(p.read_b() == -1);
  gost::core::async_wait_read(p.b, true, [&](std::error_code ec) { got = ec; });
  p.ctx.restart();
  p.ctx.run_for(20ms);
  REQUIRE_FALSE(got);
  p.b.close();
  p.run_until(got);
  REQUIRE(got);
  CHECK(*got == asio::error::operation_aborted);
}

TEST_CASE("an edge the reactor collected before a drained wait began is not lost", "[reactor]") {
  // With several threads on one context, another thread may collect the edge of bytes that came
  // after the caller's would-block read and before its wait is queued. The same state, made
  // here on one thread: the bytes are there, and the reactor has taken their edge already.
  Pair p;
  std::optional<std::error_code> got;
  REQUIRE(p.read_b() == -1);
  gost::core::async_wait_read(p.b, true, [&](std::error_code ec) { got = ec; });
  asio::write(p.a, asio::buffer("x", 1));
  p.run_until(got);  // ended by the edge: the socket's edge is marked used
  REQUIRE(got);
  CHECK(p.read_b() == 1);
  REQUIRE(p.read_b() == -1);

  // A wait on the other socket keeps the context busy, so poll() runs the reactor, which
  // collects b's edge with no wait of b's queued.
  bool a_woke = false;
  p.a.async_wait(tcp::socket::wait_read, [&](std::error_code) { a_woke = true; });
  asio::write(p.a, asio::buffer("z", 1));
  for (int i = 0; i < 5; ++i) {
    p.ctx.restart();
    p.ctx.poll();
  }
  REQUIRE_FALSE(a_woke);
  got.reset();
  gost::core::async_wait_read(p.b, true, [&](std::error_code ec) { got = ec; });
  p.run_until(got, 2s);
  REQUIRE(got);  // asked the socket, found the byte
  CHECK_FALSE(*got);
  CHECK(p.read_b() == 1);
}
