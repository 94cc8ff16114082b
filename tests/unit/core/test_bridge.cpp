// bridge() between two TCP connections (the splice relay), driven directly.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <future>
#include <string>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "gost/core/bridge.hpp"
#include "gost/core/stream.hpp"

using namespace gost;
using asio::ip::tcp;

namespace {

// A connected pair of loopback TCP sockets, the first on `ctx`, the second blocking.
std::pair<tcp::socket, tcp::socket> tcp_pair(asio::io_context& ctx, asio::io_context& other) {
  tcp::acceptor acc(other, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket a(ctx);
  a.connect(acc.local_endpoint());
  tcp::socket b = acc.accept();
  return {std::move(a), std::move(b)};
}

void set_timeout(tcp::socket& s) {
  timeval tv{10, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

TEST_CASE("splice relay: a short send towards a slow peer keeps the rest and sends it later, in order",
          "[bridge]") {
  // The relay's upstream socket has the smallest send buffer and its peer a small receive
  // window, so relaying one message of under 16 KiB (read with recv, written with send) comes
  // back short: the rest must wait in the pipe until the peer reads, then go out in order.
  asio::io_context ctx, side;
  auto [relay_client, client] = tcp_pair(ctx, side);
  tcp::acceptor acc(side, {asio::ip::make_address("127.0.0.1"), 0});
  acc.set_option(asio::socket_base::receive_buffer_size(2048));  // the accepted socket inherits it
  tcp::socket relay_up(ctx);
  relay_up.open(tcp::v4());
  relay_up.set_option(asio::socket_base::send_buffer_size(1024));  // the kernel's minimum
  relay_up.connect(acc.local_endpoint());
  tcp::socket target = acc.accept();
  set_timeout(client);
  set_timeout(target);

  auto a = std::make_unique<TcpStream>(std::move(relay_client));
  auto b = std::make_unique<TcpStream>(std::move(relay_up));
  std::promise<BridgeResult> done;
  asio::co_spawn(
      ctx, [](Stream* x, Stream* y) -> asio::awaitable<BridgeResult> { co_return co_await bridge(*x, *y); }(
               a.get(), b.get()),
      [&](std::exception_ptr, BridgeResult r) { done.set_value(r); });
  std::thread loop([&] { ctx.run(); });

  std::string sent, got;
  char buf[4096];
  for (int m = 0; m < 8; ++m) {
    std::string msg(15000, '\0');
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>('a' + (m * 7 + i) % 26);
    REQUIRE(::send(client.native_handle(), msg.data(), msg.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(msg.size()));
    sent += msg;
    // The relay's send of each message comes back short (its send buffer and the target's
    // window are tiny, checked with an instrumented build): what it could not take must follow,
    // before anything newer.
    while (got.size() < sent.size()) {
      auto n = ::recv(target.native_handle(), buf, sizeof buf, 0);
      REQUIRE(n > 0);
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::shutdown(client.native_handle(), SHUT_WR);
  for (;;) {
    auto n = ::recv(target.native_handle(), buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  target.close();
  auto fut = done.get_future();
  REQUIRE(fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto res = fut.get();
  loop.join();
  CHECK(got == sent);
  CHECK(res.a_to_b == sent.size());
}
