// Steady relaying allocates nothing: every relay path (splice between two TCP sockets, the
// readiness relay over a Shadowsocks, TLS, WebSocket or mux stream, the coroutine copy loop over
// any other stream) moves
// messages back and forth without a heap allocation per read or write. This executable
// replaces the global operator new with a per-thread counter, and reads the relay thread's
// count before and after a run of round trips.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <future>
#include <new>
#include <string>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include "gost/core/bridge.hpp"
#include "gost/core/stream.hpp"
#include "gost/mux/session.hpp"
#include "gost/tls/tls.hpp"
#include "gost/ws/ws.hpp"
#include "mux/foreign_stream.hpp"
#include "ss/codec.hpp"
#include "ss/replay.hpp"
#include "ss/stream.hpp"
#include "support.hpp"

namespace {
thread_local std::uint64_t t_news = 0;   // constant-initialised: safe in any thread at any time
thread_local std::uint64_t t_bytes = 0;  // bytes asked for by those calls
}

void* operator new(std::size_t n) {
  ++t_news;
  t_bytes += n;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++t_news;
  t_bytes += n;
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return ::operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace gost;
using asio::ip::tcp;

namespace {

constexpr int kWarmup = 300;
constexpr int kRounds = 3000;

// One io_context on its own thread.
struct Loop {
  asio::io_context ctx;
  asio::executor_work_guard<asio::io_context::executor_type> work{ctx.get_executor()};
  std::thread th{[this] { ctx.run(); }};
  ~Loop() {
    work.reset();
    ctx.stop();
    th.join();
  }
  // operator new calls made so far on this loop's thread.
  std::uint64_t news() {
    std::promise<std::uint64_t> p;
    asio::post(ctx, [&] { p.set_value(t_news); });
    return p.get_future().get();
  }
  // Bytes operator new handed out so far on this loop's thread.
  std::uint64_t bytes() {
    std::promise<std::uint64_t> p;
    asio::post(ctx, [&] { p.set_value(t_bytes); });
    return p.get_future().get();
  }
};

template <class T>
T wait(std::future<T> f) {
  REQUIRE(f.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  return f.get();
}

// A TCP connection between two loops: the first end's socket runs on `a`, the second on `b`.
std::pair<StreamPtr, StreamPtr> tcp_pair(asio::io_context& a, asio::io_context& b) {
  tcp::acceptor acc(b, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket x(a), y(b);
  x.connect(acc.local_endpoint());
  acc.accept(y);
  x.set_option(tcp::no_delay(true));
  y.set_option(tcp::no_delay(true));
  return {std::make_unique<TcpStream>(std::move(x)), std::make_unique<TcpStream>(std::move(y))};
}

// Echoes until the peer closes.
asio::awaitable<void> echo(StreamPtr s) {
  unsigned char buf[512];
  for (;;) {
    IoResult r = co_await s->read_some(asio::buffer(buf));
    if (r.bytes > 0) {
      std::error_code ec = co_await write_all(*s, asio::buffer(buf, r.bytes));
      if (ec) break;
    }
    if (r.ec) break;
  }
  s->close();
}

// `rounds` round trips of a 64-byte message; true when every reply came back intact.
asio::awaitable<bool> ping(Stream* s, int rounds) {
  unsigned char out[64], in[64];
  for (int i = 0; i < rounds; ++i) {
    for (unsigned j = 0; j < sizeof out; ++j) out[j] = static_cast<unsigned char>(i + j);
    std::error_code ec = co_await write_all(*s, asio::buffer(out));
    if (!ec) ec = co_await read_exact(*s, asio::buffer(in));
    if (ec) co_return false;
    if (std::memcmp(in, out, sizeof in) != 0) co_return false;
  }
  co_return true;
}

asio::awaitable<void> into(asio::awaitable<Result<StreamPtr>> aw, std::promise<Result<StreamPtr>>* p) {
  p->set_value(co_await std::move(aw));
}

std::future<bool> run_ping(Loop& l, Stream* s, int rounds) {
  auto p = std::make_shared<std::promise<bool>>();
  auto f = p->get_future();
  asio::co_spawn(l.ctx, ping(s, rounds), [p](std::exception_ptr e, bool ok) { p->set_value(!e && ok); });
  return f;
}

// Relays `client_side` (on the relay loop) to `target_side` (on the relay loop) while the
// client pings through it from the client loop; returns the relay thread's allocations over
// kRounds round trips, after kWarmup.
std::uint64_t measure(Loop& relay, Loop& client, StreamPtr client_side, StreamPtr target_side, Stream* pinger) {
  std::promise<BridgeResult> done;
  asio::co_spawn(
      relay.ctx,
      [](StreamPtr a, StreamPtr b) -> asio::awaitable<BridgeResult> {
        if (auto* ss = dynamic_cast<ss::SsStream*>(a.get())) {
          auto target = co_await ss->read_target();  // the request header, sent with the first ping
          if (!target) co_return BridgeResult{};
        }
        BridgeResult r = co_await bridge(*a, *b);
        co_return r;
      }(std::move(client_side), std::move(target_side)),
      [&](std::exception_ptr, BridgeResult r) { done.set_value(r); });
  REQUIRE(wait(run_ping(client, pinger, kWarmup)));
  const std::uint64_t before = relay.news();
  REQUIRE(wait(run_ping(client, pinger, kRounds)));
  const std::uint64_t after = relay.news();
  asio::post(client.ctx, [pinger] { pinger->close(); });
  auto f = done.get_future();
  REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  // Reading the counter allocates on the reading thread only (the posted handler is allocated
  // there), so nothing is subtracted.
  return after - before;
}

// The client's end (on the client loop), the relay's two ends (on the relay loop), and an echo
// target behind the relay (on the client loop).
struct Ends {
  StreamPtr client, relay_client, relay_target;
};
Ends make_ends(Loop& relay, Loop& client) {
  auto [c, rc] = tcp_pair(client.ctx, relay.ctx);
  auto [rt, t] = tcp_pair(relay.ctx, client.ctx);
  asio::co_spawn(client.ctx, echo(std::move(t)), asio::detached);
  return {std::move(c), std::move(rc), std::move(rt)};
}

void expect_none(std::uint64_t n) {
  INFO("allocations on the relay thread over " << kRounds << " round trips: " << n);
  CHECK(n <= kRounds / 100);
}

// Runs the client end's set-up (a handshake, a stream open) on the client loop and the relay
// end's on the relay loop; returns both streams.
std::pair<StreamPtr, StreamPtr> set_up_both(Loop& client, asio::awaitable<Result<StreamPtr>> c, Loop& relay,
                                            asio::awaitable<Result<StreamPtr>> r) {
  std::promise<Result<StreamPtr>> cp, rp;
  asio::co_spawn(client.ctx, into(std::move(c), &cp), asio::detached);
  asio::co_spawn(relay.ctx, into(std::move(r), &rp), asio::detached);
  auto cs = wait(cp.get_future());
  auto rs = wait(rp.get_future());
  REQUIRE(cs.ok());
  REQUIRE(rs.ok());
  return {std::move(*cs), std::move(*rs)};
}

// Destroys a client-side stream on its own loop.
void drop(Loop& client, StreamPtr& s) {
  asio::post(client.ctx, [&s] { s.reset(); });
  client.news();
}

}  // namespace

TEST_CASE("relay paths allocate nothing per message once running", "[alloc]") {
  Loop relay, client;

  SECTION("splice relay: TCP to TCP") {
    auto e = make_ends(relay, client);
    expect_none(measure(relay, client, std::move(e.relay_client), std::move(e.relay_target), e.client.get()));
    drop(client, e.client);
  }

  SECTION("coroutine copy relay: a layered stream to TCP") {
    auto e = make_ends(relay, client);
    expect_none(measure(relay, client, std::make_unique<test::NoReadyStream>(std::move(e.relay_client)),
                        std::move(e.relay_target), e.client.get()));
    drop(client, e.client);
  }

  SECTION("readiness relay: Shadowsocks to TCP") {
    auto made = ss::make_keys("aes-128-gcm", "alloc-pass");
    REQUIRE(made.ok());
    auto keys = std::make_shared<ss::Keys>(*made);
    keys->filter = std::make_shared<ss::SaltFilter>();
    auto e = make_ends(relay, client);
    auto ss_client = std::make_unique<ss::SsStream>(std::move(e.client), keys, ss::SsStream::Role::client);
    REQUIRE(!ss_client->set_target(*Address::parse("127.0.0.1:9")));
    auto ss_server = std::make_unique<ss::SsStream>(std::move(e.relay_client), keys, ss::SsStream::Role::server);
    REQUIRE(ss_server->has_ready_callback());
    Stream* pinger = ss_client.get();
    StreamPtr mine = std::move(ss_client);
    expect_none(measure(relay, client, std::move(ss_server), std::move(e.relay_target), pinger));
    drop(client, mine);
  }

  SECTION("readiness relay: WebSocket to TCP") {
    auto e = make_ends(relay, client);
    const ws::Options wo;  // named: GCC 12 mishandles class temporaries passed to coroutines
    const std::string host = "gost.test";
    auto [client_ws, relay_ws] = set_up_both(client, ws::client_handshake(std::move(e.client), wo, host), relay,
                                             ws::server_handshake(std::move(e.relay_client), wo));
    REQUIRE(relay_ws->has_ready_callback());
    expect_none(measure(relay, client, std::move(relay_ws), std::move(e.relay_target), client_ws.get()));
    drop(client, client_ws);
  }

  SECTION("readiness relay: a mux (smux v2) stream to TCP") {
    auto e = make_ends(relay, client);
    mux::Options mo;
    mo.version = 2;  // window updates too
    std::promise<mux::SessionPtr> csp, ssp;
    asio::post(client.ctx, [&] { csp.set_value(mux::Session::client(std::move(e.client), mo)); });
    asio::post(relay.ctx, [&] { ssp.set_value(mux::Session::server(std::move(e.relay_client), mo)); });
    mux::SessionPtr cs = csp.get_future().get(), ss = ssp.get_future().get();
    auto [client_mux, relay_mux] = set_up_both(client, cs->open(), relay, ss->accept());
    REQUIRE(relay_mux->has_ready_callback());
    expect_none(measure(relay, client, std::move(relay_mux), std::move(e.relay_target), client_mux.get()));
    drop(client, client_mux);
    asio::post(client.ctx, [&] {
      cs->close();
      cs.reset();
    });
    client.news();
    asio::post(relay.ctx, [&] {
      ss->close();
      ss.reset();
    });
    relay.news();
  }

  SECTION("readiness relay: TLS to TCP") {
    tls::ServerOptions so;  // a generated self-signed certificate
    tls::ClientOptions co;  // not verified
    auto sc = tls::make_server_context(so);
    auto cc = tls::make_client_context(co);
    REQUIRE(sc.ok());
    REQUIRE(cc.ok());
    auto e = make_ends(relay, client);
    const std::string host = "gost.test";
    auto [client_tls, relay_tls] = set_up_both(client, tls::client_handshake(std::move(e.client), *cc, host), relay,
                                               tls::server_handshake(std::move(e.relay_client), *sc));
    REQUIRE(relay_tls->has_ready_callback());
    expect_none(measure(relay, client, std::move(relay_tls), std::move(e.relay_target), client_tls.get()));
    drop(client, client_tls);
  }
}

namespace {
asio::awaitable<void> read_once(Stream* s, std::promise<IoResult>* done) {
  unsigned char buf[512];
  done->set_value(co_await s->read_some(asio::buffer(buf)));
}
}  // namespace

TEST_CASE("a read on a stream of another thread's mux session holds no buffer while it waits", "[alloc]") {
  // A handshake over a mux hop (an HTTP or SOCKS5 connector) reads the reply from the caller's
  // thread: the read waits on the session's thread for a round trip, and a burst of new
  // connections must not hold a read-ahead buffer each meanwhile.
  Loop home, caller, peer;
  auto [a, b] = tcp_pair(home.ctx, peer.ctx);
  mux::Options mo;
  std::promise<mux::SessionPtr> csp, ssp;
  asio::post(home.ctx, [&, a = std::move(a)]() mutable { csp.set_value(mux::Session::client(std::move(a), mo)); });
  asio::post(peer.ctx, [&, b = std::move(b)]() mutable { ssp.set_value(mux::Session::server(std::move(b), mo)); });
  mux::SessionPtr cs = csp.get_future().get(), ss = ssp.get_future().get();
  std::promise<Result<StreamPtr>> op;
  asio::co_spawn(home.ctx, into(cs->open(), &op), asio::detached);
  auto opened = wait(op.get_future());
  REQUIRE(opened.ok());
  StreamPtr fs = mux::make_foreign_stream(std::move(*opened), caller.ctx.get_executor());
  REQUIRE(mux::is_foreign_stream(*fs));
  std::promise<Result<StreamPtr>> ap;
  auto* sent = new std::string("hello");  // the first bytes make the stream known to the peer
  asio::co_spawn(caller.ctx, [](Stream* s, std::string* m) -> asio::awaitable<void> {
    co_await write_all(*s, asio::buffer(*m));
  }(fs.get(), sent), asio::detached);
  asio::co_spawn(peer.ctx, into(ss->accept(), &ap), asio::detached);
  auto accepted = wait(ap.get_future());
  REQUIRE(accepted.ok());

  // The read waits on home; every hop's frame is far below a 64 KiB read-ahead buffer.
  const std::uint64_t before = home.bytes();
  std::promise<IoResult> done;
  asio::co_spawn(caller.ctx, read_once(fs.get(), &done), asio::detached);
  caller.news();  // the read has started and handed its wait to home ...
  home.news();    // ... which has run it up to the wait
  caller.news();
  home.news();
  const std::uint64_t waiting = home.bytes() - before;
  CHECK(waiting < 16 * 1024);

  // The reply still arrives through the read.
  std::promise<std::error_code> wp;
  StreamPtr server_stream = std::move(*accepted);
  asio::co_spawn(peer.ctx, [](Stream* s, std::promise<std::error_code>* p) -> asio::awaitable<void> {
    const std::string reply = "HTTP/1.1 200 Connection established\r\n\r\n";
    p->set_value(co_await write_all(*s, asio::buffer(reply)));
  }(server_stream.get(), &wp), asio::detached);
  CHECK_FALSE(wait(wp.get_future()));
  auto r = wait(done.get_future());
  CHECK_FALSE(r.ec);
  CHECK(r.bytes > 0);

  asio::post(caller.ctx, [&] { fs.reset(); });
  caller.news();
  asio::post(peer.ctx, [&] {
    server_stream.reset();
    ss->close();
    ss.reset();
  });
  peer.news();
  asio::post(home.ctx, [&] {
    cs->close();
    cs.reset();
  });
  home.news();
  delete sent;
}
