// Relay handler and connector end to end on loopback (gost::Service + core tcp listener), driven
// by the relay connector and by raw bytes.
#include <poll.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <catch2/catch.hpp>
#include <optional>
#include <thread>

#include "gost/core.hpp"
#include "gost/core/timeout.hpp"
#include "gost/mux/session.hpp"
#include "gost/relay/relay.hpp"
#include "gost/socks/socks.hpp"
#include "relay/codec.hpp"
#include "relay/stream.hpp"
#include "support.hpp"

using namespace gost;
using namespace std::chrono_literals;
using B = std::vector<std::uint8_t>;

namespace {

Address local(std::uint16_t port) { return Address("127.0.0.1", port); }

bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

struct Fixture {
  Runtime rt{2};
  Registry reg;
  std::vector<ServicePtr> services;

  Fixture() {
    register_core(reg);
    relay::register_module(reg);
    socks::register_module(reg);
    rt.start();
  }
  ~Fixture() {
    for (auto& s : services) s->stop();
    for (auto& s : services) s->wait_stopped(5s);
    services.clear();
    rt.stop();
    rt.join();
  }

  struct Opts {
    Metadata md;
    AutherPtr auther;
    RouterPtr router;
    HopPtr forwarder;
  };

  ServicePtr start(const std::string& handler, Opts o = {}) {
    HandlerArgs ha;
    ha.runtime = &rt;
    ha.service = "svc";
    ha.metadata = o.md;
    ha.router = o.router ? o.router : std::make_shared<Router>();
    ha.auther = o.auther;
    ha.forwarder = o.forwarder;
    auto h = (*reg.handler(handler))(ha);
    REQUIRE(h);
    ListenerArgs la;
    la.runtime = &rt;
    la.service = "svc";
    la.addr = Address("127.0.0.1", 0);
    auto l = (*reg.listener("tcp"))(la);
    REQUIRE(l);
    ServiceOptions so;
    so.name = "svc";
    so.logger =
        std::make_shared<Logger>(getenv("RELAY_TEST_LOG") ? LogLevel::debug : LogLevel::none);
    auto svc = std::make_shared<Service>(rt, so, std::move(*l), std::move(*h));
    REQUIRE_FALSE(svc->start());
    services.push_back(svc);
    return svc;
  }

  ConnectorPtr connector(const std::string& name, std::optional<Credentials> auth = {},
                         Metadata md = {}) {
    ConnectorArgs ca;
    ca.auth = std::move(auth);
    ca.metadata = std::move(md);
    auto c = (*reg.connector(name))(ca);
    REQUIRE(c);
    return *c;
  }

  ChainPtr chain_via(ConnectorPtr c, Address addr) {
    auto n = std::make_shared<Node>();
    n->name = "hop0";
    n->addr = addr.to_string();
    n->dialer = *(*reg.dialer("tcp"))(DialerArgs{});
    n->connector = std::move(c);
    auto hop = std::make_shared<Hop>();
    hop->nodes.push_back(n);
    auto chain = std::make_shared<Chain>();
    chain->hops.push_back(hop);
    return chain;
  }

  template <class T>
  T run(asio::awaitable<T> aw) {
    return test::run_on(rt.executor(0), std::move(aw));
  }
};

HopPtr forward_hop(Address target) {
  auto n = std::make_shared<Node>();
  n->name = "target";
  n->addr = target.to_string();
  auto hop = std::make_shared<Hop>();
  hop->name = "forwarder";
  hop->nodes.push_back(n);
  return hop;
}

struct Outcome {
  std::error_code ec;
  std::string data;
};

asio::awaitable<Result<StreamPtr>> open_via(ConnectorPtr c, Address proxy, std::string network,
                                            Address target) {
  auto s = co_await dial_tcp(proxy, 5s);
  if (!s) co_return s.error();
  auto h = co_await c->handshake(std::move(*s));
  if (!h) co_return h.error();
  co_return co_await c->connect(std::move(*h), network, target);
}

// Writes msg and reads it back (twice: the second exchange runs after the handshake is done).
asio::awaitable<Outcome> echo_via(ConnectorPtr c, Address proxy, Address target, std::string msg) {
  auto s = co_await open_via(c, proxy, "tcp", target);
  if (!s) co_return Outcome{s.error(), {}};
  std::string all;
  for (int i = 0; i < 2; ++i) {
    if (auto ec = co_await write_all(**s, asio::buffer(msg))) co_return Outcome{ec, {}};
    std::string got(msg.size(), '\0');
    auto r = co_await with_timeout(read_exact(**s, asio::buffer(got)), 5000ms);
    if (!r) co_return Outcome{make_error_code(errc::timeout), {}};
    if (*r) co_return Outcome{*r, {}};
    all += got;
  }
  (*s)->close();
  co_return Outcome{{}, all};
}

// Reads first (the target speaks first), within 3 s.
asio::awaitable<Outcome> read_first_via(ConnectorPtr c, Address proxy, Address target,
                                        std::size_t n) {
  auto s = co_await open_via(c, proxy, "tcp", target);
  if (!s) co_return Outcome{s.error(), {}};
  std::string got(n, '\0');
  auto r = co_await with_timeout(read_exact(**s, asio::buffer(got)), 3000ms);
  (*s)->close();
  if (!r) co_return Outcome{make_error_code(errc::timeout), {}};
  co_return Outcome{*r, *r ? std::string() : got};
}

asio::awaitable<Outcome> udp_connect_echo(ConnectorPtr c, Address proxy, Address target,
                                          std::string msg) {
  auto s = co_await open_via(c, proxy, "udp", target);
  if (!s) co_return Outcome{s.error(), {}};
  if (!(*s)->is_datagram()) co_return Outcome{make_error_code(errc::bad_request), {}};
  std::string buf(65536, '\0');
  for (int i = 0; i < 5; ++i) {
    auto w = co_await (*s)->write_some(asio::buffer(msg));
    if (w.ec) co_return Outcome{w.ec, {}};
    auto r = co_await with_timeout((*s)->read_some(asio::buffer(buf)), 1000ms);
    if (!r) continue;
    (*s)->close();
    co_return Outcome{r->ec, buf.substr(0, r->bytes)};
  }
  co_return Outcome{make_error_code(errc::timeout), {}};
}

struct UdpOutcome {
  std::error_code ec;
  std::string data;
  Address from;
};

asio::awaitable<UdpOutcome> associate_echo(ConnectorPtr c, Address proxy, Address target,
                                           std::string msg) {
  auto s = co_await dial_tcp(proxy, 5s);
  if (!s) co_return UdpOutcome{s.error(), {}, {}};
  auto h = co_await c->handshake(std::move(*s));
  if (!h) co_return UdpOutcome{h.error(), {}, {}};
  auto pc = co_await c->associate(std::move(*h));
  if (!pc) co_return UdpOutcome{pc.error(), {}, {}};
  std::string buf(65536, '\0');
  for (int i = 0; i < 5; ++i) {
    if (auto ec = co_await (*pc)->send_to(asio::buffer(msg), target))
      co_return UdpOutcome{ec, {}, {}};
    auto r = co_await with_timeout((*pc)->recv_from(asio::buffer(buf)), 1000ms);
    if (!r) continue;
    (*pc)->close();
    co_return UdpOutcome{r->ec, buf.substr(0, r->bytes), r->from};
  }
  co_return UdpOutcome{make_error_code(errc::timeout), {}, {}};
}

// A TCP server that writes a banner as soon as a client connects, then echoes.
// Greets every connection with an SSH-like banner and then echoes; with `silent`, says nothing
// and discards what it reads (a target that never speaks).
class BannerServer {
 public:
  explicit BannerServer(bool silent = false)
      : silent_(silent), acc_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ctx_, loop(), [](std::exception_ptr) {});
    th_ = std::thread([this] { ctx_.run(); });
  }
  ~BannerServer() {
    ctx_.stop();
    th_.join();
  }
  std::uint16_t port() const { return acc_.local_endpoint().port(); }

 private:
  asio::awaitable<void> loop() {
    for (;;) {
      auto [ec, s] = co_await acc_.async_accept(test::use_tuple);
      if (ec) co_return;
      asio::co_spawn(ctx_, serve(std::move(s), silent_), [](std::exception_ptr) {});
    }
  }
  static asio::awaitable<void> serve(asio::ip::tcp::socket s, bool silent) {
    if (!silent) {
      co_await asio::async_write(s, asio::buffer(std::string("SSH-2.0-banner\r\n")), test::use_tuple);
    }
    char buf[1024];
    for (;;) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), test::use_tuple);
      if (ec) co_return;
      if (!silent) co_await asio::async_write(s, asio::buffer(buf, n), test::use_tuple);
    }
  }
  bool silent_;
  asio::io_context ctx_;
  asio::ip::tcp::acceptor acc_;
  std::thread th_;
};

// Accepts one connection and keeps the first bytes it receives (within 3 s).
class Capture {
 public:
  Capture() : acc_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {}
  std::uint16_t port() const { return acc_.local_endpoint().port(); }
  B first_bytes(std::size_t want) {
    auto s = acc_.accept();
    B out;
    while (out.size() < want && readable_within(s.native_handle(), 3000)) {
      B buf(want - out.size());
      std::error_code ec;
      auto n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
    return out;
  }

 private:
  asio::io_context ctx_;
  asio::ip::tcp::acceptor acc_;
};

asio::awaitable<std::error_code> connect_and_write(ConnectorPtr c, Address proxy, Address target,
                                                   std::string msg) {
  auto s = co_await open_via(c, proxy, "tcp", target);
  if (!s) co_return s.error();
  auto ec = co_await write_all(**s, asio::buffer(msg));
  // Keep the stream open a moment so the capture reads everything before a close.
  asio::steady_timer t(co_await asio::this_coro::executor, 200ms);
  co_await t.async_wait(test::use_tuple);
  (*s)->close();
  co_return ec;
}

bool closed_within(asio::ip::tcp::socket& s, int ms) {
  char buf[256];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    auto rem = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (rem.count() <= 0 || !readable_within(s.native_handle(), static_cast<int>(rem.count())))
      return false;
    std::error_code ec;
    s.read_some(asio::buffer(buf), ec);
    if (ec) return true;
  }
}

}  // namespace

TEST_CASE("relay connect through the connector, nodelay off and on", "[relay]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("relay");
  auto r = f.run(echo_via(f.connector("relay"), svc->address(), local(echo.port()), "hello"));
  CHECK_FALSE(r.ec);
  CHECK(r.data == "hellohello");
  Metadata nd;
  nd.set("nodelay", "true");
  auto n = f.run(echo_via(f.connector("relay", {}, nd), svc->address(), local(echo.port()), "nd"));
  CHECK_FALSE(n.ec);
  CHECK(n.data == "ndnd");
  // The handler with nodelay sends its response at once.
  Fixture::Opts o;
  o.md.set("nodelay", "true");
  auto svc2 = f.start("relay", o);
  auto m = f.run(echo_via(f.connector("relay"), svc2->address(), local(echo.port()), "mixed"));
  CHECK(m.data == "mixedmixed");
  auto m2 = f.run(echo_via(f.connector("relay", {}, nd), svc2->address(), local(echo.port()), "x"));
  CHECK(m2.data == "xx");
  // By name.
  auto byname =
      f.run(echo_via(f.connector("relay"), svc->address(), Address("localhost", echo.port()), "n"));
  CHECK(byname.data == "nn");
}

TEST_CASE("relay connector sends the request with the first write, bit-exact", "[relay]") {
  Fixture f;
  Capture cap;
  auto c = f.connector("relay", Credentials{"u", "p"});
  // The capture plays the relay server: the request and the first payload arrive together.
  std::thread t([&] {
    (void)f.run(connect_and_write(c, local(cap.port()), Address("127.0.0.1", 80), "DATA"));
  });
  const B want{0x01, 0x01, 0x00, 0x11, 0x01, 0x00, 0x04, 0x01, 'u', 0x01, 'p', 0x02, 0x00,
               0x07, 0x01, 0x7F, 0x00, 0x00, 0x01, 0x00, 0x50, 'D', 'A',  'T', 'A'};
  auto got = cap.first_bytes(want.size());
  t.join();
  CHECK(got == want);
}

namespace {
// Echoes a first write of a relay buffer's size, then reports what the client's relay layer
// still holds.
asio::awaitable<Outcome> held_after_echo(ConnectorPtr c, Address proxy, Address target, std::size_t* held) {
  auto s = co_await open_via(c, proxy, "tcp", target);
  if (!s) co_return Outcome{s.error(), {}};
  const std::string msg(16384, 'h');
  if (auto ec = co_await write_all(**s, asio::buffer(msg))) co_return Outcome{ec, {}};
  std::string got(msg.size(), '\0');
  auto r = co_await with_timeout(read_exact(**s, asio::buffer(got)), 5000ms);
  if (!r) co_return Outcome{make_error_code(errc::timeout), {}};
  if (*r) co_return Outcome{*r, {}};
  // The relay waits for more: what it holds now it would hold for the rest of the connection.
  auto w = co_await with_timeout((*s)->wait_readable(), 50ms);
  (void)w;
  auto* rs = dynamic_cast<relay::RelayStream*>(s->get());
  *held = rs ? rs->held_bytes() : SIZE_MAX;
  (*s)->close();
  co_return Outcome{{}, got};
}
}  // namespace

TEST_CASE("relay client stream keeps no request, write or reply buffer once both are done", "[relay]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("relay");
  std::size_t held = SIZE_MAX;
  auto r = f.run(held_after_echo(f.connector("relay"), svc->address(), local(echo.port()), &held));
  REQUIRE_FALSE(r.ec);
  CHECK(r.data == std::string(16384, 'h'));
  CHECK(held == 0);
}

namespace {
using test::ReadyProbe;
using test::start_wait;
using test::wait_probe;

// After an echo through a relay client stream: a readiness callback does not come while the
// connection is idle, comes once bytes arrive, and the bytes are then read.
asio::awaitable<Outcome> ready_after_echo(ConnectorPtr c, Address proxy, Address target, int* idle_calls) {
  auto s = co_await open_via(c, proxy, "tcp", target);
  if (!s) co_return Outcome{s.error(), {}};
  if (!(*s)->has_ready_callback()) co_return Outcome{make_error_code(errc::unsupported), {}};
  const std::string msg = "first";
  if (auto ec = co_await write_all(**s, asio::buffer(msg))) co_return Outcome{ec, {}};
  std::string got(msg.size(), '\0');
  if (auto ec = co_await read_exact(**s, asio::buffer(got))) co_return Outcome{ec, {}};
  auto p = std::make_shared<ReadyProbe>();
  start_wait(**s, p);
  co_await wait_probe(p, 100ms);
  *idle_calls = p->result ? 1 : 0;
  const std::string more = "second";
  if (auto ec = co_await write_all(**s, asio::buffer(more))) co_return Outcome{ec, {}};
  co_await wait_probe(p, 5000ms);
  if (!p->result) co_return Outcome{make_error_code(errc::timeout), {}};
  if (*p->result) co_return Outcome{*p->result, {}};
  std::string got2(more.size(), '\0');
  if (auto ec = co_await read_exact(**s, asio::buffer(got2))) co_return Outcome{ec, {}};
  (*s)->close();
  co_return Outcome{{}, got + got2};
}
}  // namespace

TEST_CASE("relay client stream: the readiness callback comes for bytes, not while idle", "[relay]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("relay");
  int idle_calls = -1;
  auto r = f.run(ready_after_echo(f.connector("relay"), svc->address(), local(echo.port()), &idle_calls));
  REQUIRE_FALSE(r.ec);
  CHECK(r.data == "firstsecond");
  CHECK(idle_calls == 0);
}

TEST_CASE("relay connector does not hang when the target speaks first", "[relay]") {
  Fixture f;
  BannerServer banner;
  auto svc = f.start("relay");
  auto r = f.run(read_first_via(f.connector("relay"), svc->address(), local(banner.port()), 16));
  CHECK_FALSE(r.ec);
  CHECK(r.data == "SSH-2.0-banner\r\n");
}

namespace {
// A plain TCP client that has sent a relay CONNECT request for target (no payload yet).
asio::ip::tcp::socket raw_connect(asio::io_context& ctx, std::uint16_t port, const Address& target) {
  auto s = test::connect_blocking(ctx, port);
  relay::Request req;
  req.features.list.push_back(relay::AddrFeature{target});
  B out;
  REQUIRE_FALSE(relay::serialize(req, out));
  asio::write(s, asio::buffer(out));
  return s;
}
}  // namespace

TEST_CASE("relay handler answers a client that waits for the response first", "[relay]") {
  // GOST's connector with nodelay=true writes the request and reads the response before any
  // payload; the held-back response must not wait for the target forever.
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("relay");
  asio::io_context ctx;
  auto s = raw_connect(ctx, svc->address().port, local(echo.port()));
  B resp(4);
  REQUIRE(readable_within(s.native_handle(), 3000));
  asio::read(s, asio::buffer(resp));
  CHECK(resp == B{0x01, 0x00, 0x00, 0x00});
  asio::write(s, asio::buffer(std::string("ping")));
  B back(4);
  REQUIRE(readable_within(s.native_handle(), 3000));
  asio::read(s, asio::buffer(back));
  CHECK(back == B{'p', 'i', 'n', 'g'});
}

TEST_CASE("relay handler sends the held-back response to a client that keeps sending to a silent target",
          "[relay]") {
  // The response waits (nodelay off) for the target's first bytes to ride with, at most 100 ms
  // from the start: a client that writes more often than that still gets it.
  Fixture f;
  BannerServer sink(true);
  auto svc = f.start("relay");
  asio::io_context ctx;
  auto s = raw_connect(ctx, svc->address().port, local(sink.port()));
  bool answered = false;
  for (int i = 0; i < 100 && !answered; ++i) {  // 20 ms apart: at most 2 s
    asio::write(s, asio::buffer(std::string(64, 'u')));
    answered = readable_within(s.native_handle(), 20);
  }
  REQUIRE(answered);
  B resp(4);
  asio::read(s, asio::buffer(resp));
  CHECK(resp == B{0x01, 0x00, 0x00, 0x00});
}

TEST_CASE("relay user/password authentication", "[relay][auth]") {
  Fixture f;
  test::EchoServer echo;
  Fixture::Opts o;
  o.auther = make_static_auther({{"alice", "secret"}});
  auto svc = f.start("relay", o);
  auto ok = f.run(echo_via(f.connector("relay", Credentials{"alice", "secret"}), svc->address(),
                           local(echo.port()), "auth"));
  CHECK_FALSE(ok.ec);
  CHECK(ok.data == "authauth");
  // Lazy (nodelay off): the failure shows on the first read.
  auto bad = f.run(echo_via(f.connector("relay", Credentials{"alice", "wrong"}), svc->address(),
                            local(echo.port()), "x"));
  CHECK(bad.ec == errc::auth_failed);
  auto none = f.run(echo_via(f.connector("relay"), svc->address(), local(echo.port()), "x"));
  CHECK(none.ec == errc::auth_failed);
  Metadata nd;
  nd.set("nodelay", "true");
  auto bad2 = f.run(echo_via(f.connector("relay", Credentials{"bob", "x"}, nd), svc->address(),
                             local(echo.port()), "x"));
  CHECK(bad2.ec == errc::auth_failed);
  // The UDP association reads its response at once: the failure shows in associate().
  Fixture::Opts bo = o;
  bo.md.set("bind", "true");
  auto bsvc = f.start("relay", bo);
  auto ua = f.run(associate_echo(f.connector("relay", Credentials{"alice", "nope"}),
                                 bsvc->address(), local(echo.port()), "x"));
  CHECK(ua.ec == errc::auth_failed);
}

TEST_CASE("relay UDP connect and UDP association", "[relay][udp]") {
  Fixture f;
  test::UdpEchoServer echo;
  auto svc = f.start("relay");
  auto r = f.run(udp_connect_echo(f.connector("relay"), svc->address(), local(echo.port()), "dg"));
  CHECK_FALSE(r.ec);
  CHECK(r.data == "dg");
  Metadata nd;
  nd.set("nodelay", "true");
  auto r2 = f.run(
      udp_connect_echo(f.connector("relay", {}, nd), svc->address(), local(echo.port()), "n"));
  CHECK(r2.data == "n");
  // The association (BIND|FUDP) needs bind=true on the server.
  auto off = f.run(associate_echo(f.connector("relay"), svc->address(), local(echo.port()), "x"));
  CHECK(off.ec == errc::forbidden);
  Fixture::Opts o;
  o.md.set("bind", "true");
  auto bsvc = f.start("relay", o);
  auto a =
      f.run(associate_echo(f.connector("relay"), bsvc->address(), local(echo.port()), "assoc"));
  CHECK_FALSE(a.ec);
  CHECK(a.data == "assoc");
  CHECK(a.from == local(echo.port()));
}

TEST_CASE("relay forward mode goes to the forward target", "[relay][forward]") {
  Fixture f;
  test::EchoServer echo;
  test::UdpEchoServer uecho;
  Fixture::Opts o;
  o.forwarder = forward_hop(local(echo.port()));
  auto svc = f.start("relay", o);
  // The address in the request does not matter.
  auto r = f.run(echo_via(f.connector("relay"), svc->address(), Address("10.255.255.1", 9), "fw"));
  CHECK_FALSE(r.ec);
  CHECK(r.data == "fwfw");
  Fixture::Opts u;
  u.forwarder = forward_hop(local(uecho.port()));
  auto usvc = f.start("relay", u);
  auto d =
      f.run(udp_connect_echo(f.connector("relay"), usvc->address(), Address("1.2.3.4", 5), "u"));
  CHECK(d.data == "u");
}

TEST_CASE("relay chains: socks5 -> relay -> relay -> target, tcp and udp", "[relay][chain]") {
  Fixture f;
  test::EchoServer echo;
  test::UdpEchoServer uecho;
  Fixture::Opts bo;
  bo.md.set("bind", "true");
  auto last = f.start("relay", bo);
  Fixture::Opts mid = bo;
  mid.router = std::make_shared<Router>(f.chain_via(f.connector("relay"), last->address()));
  auto middle = f.start("relay", mid);
  Fixture::Opts so;
  so.md.set("udp", "true");
  so.router = std::make_shared<Router>(f.chain_via(f.connector("relay"), middle->address()));
  auto front = f.start("socks5", so);
  auto t = f.run(echo_via(f.connector("socks5"), front->address(), local(echo.port()), "3 hops"));
  CHECK_FALSE(t.ec);
  CHECK(t.data == "3 hops3 hops");
  // SOCKS5 UDP ASSOCIATE at the front uses the relay association of the chain's last node.
  auto u =
      f.run(associate_echo(f.connector("socks5"), front->address(), local(uecho.port()), "u3"));
  CHECK_FALSE(u.ec);
  CHECK(u.data == "u3");
  // The relay handler serves a UDP BIND itself (as GOST does): the association ends at middle.
  CHECK(middle->stats().total_conns >= 2);
  CHECK(last->stats().total_conns >= 1);
}

TEST_CASE("relay bad requests are closed and the service keeps serving", "[relay][robust]") {
  Fixture f;
  test::EchoServer echo;
  Fixture::Opts o;
  o.md.set("readTimeout", "500ms");
  auto svc = f.start("relay", o);
  asio::io_context ctx;
  auto port = svc->address().port;
  {  // bad version: closed without a response
    auto s = test::connect_blocking(ctx, port);
    asio::write(s, asio::buffer(B{0x05, 0x01, 0x00, 0x00}));
    CHECK(closed_within(s, 3000));
  }
  {  // a feature longer than the block
    auto s = test::connect_blocking(ctx, port);
    asio::write(s, asio::buffer(B{0x01, 0x01, 0x00, 0x04, 0x02, 0x00, 0x07, 0x01}));
    CHECK(closed_within(s, 3000));
  }
  {  // truncated: closed after readTimeout
    auto s = test::connect_blocking(ctx, port);
    asio::write(s, asio::buffer(B{0x01, 0x01, 0x00, 0x0A, 0x02}));
    CHECK(closed_within(s, 3000));
  }
  {  // oversized announcement with nothing behind it
    auto s = test::connect_blocking(ctx, port);
    asio::write(s, asio::buffer(B{0x01, 0x01, 0xFF, 0xFF, 0x02, 0x00}));
    CHECK(closed_within(s, 3000));
  }
  {  // no address: BadRequest
    auto s = test::connect_blocking(ctx, port);
    asio::write(s, asio::buffer(B{0x01, 0x01, 0x00, 0x00}));
    B resp(4);
    REQUIRE(readable_within(s.native_handle(), 3000));
    asio::read(s, asio::buffer(resp));
    CHECK(resp == B{0x01, relay::kStatusBadRequest, 0x00, 0x00});
    CHECK(closed_within(s, 3000));
  }
  {  // unknown command
    auto s = test::connect_blocking(ctx, port);
    asio::write(s, asio::buffer(B{0x01, 0x07, 0x00, 0x00}));
    B resp(4);
    REQUIRE(readable_within(s.native_handle(), 3000));
    asio::read(s, asio::buffer(resp));
    CHECK(resp == B{0x01, relay::kStatusBadRequest, 0x00, 0x00});
  }
  {  // unreachable target: NetworkUnreachable
    asio::ip::tcp::acceptor tmp(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    auto dead = tmp.local_endpoint().port();
    tmp.close();
    auto s = test::connect_blocking(ctx, port);
    relay::Request req;
    req.features.list.push_back(relay::AddrFeature{local(dead)});
    B out;
    REQUIRE_FALSE(relay::serialize(req, out));
    asio::write(s, asio::buffer(out));
    B resp(4);
    REQUIRE(readable_within(s.native_handle(), 5000));
    asio::read(s, asio::buffer(resp));
    CHECK(resp == B{0x01, relay::kStatusNetworkUnreachable, 0x00, 0x00});
  }
  auto r = f.run(echo_via(f.connector("relay"), svc->address(), local(echo.port()), "still"));
  CHECK(r.data == "stillstill");
}

// ---------------------------------------------------------------- SOCKS5 0xF3 (UDP over TCP)

namespace {
B be16(std::uint16_t p) {
  return B{static_cast<std::uint8_t>(p >> 8), static_cast<std::uint8_t>(p)};
}
B cat(B a, const B& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
B read_n(asio::ip::tcp::socket& s, std::size_t n) {
  B b(n);
  std::size_t got = 0;
  while (got < n) {
    if (!readable_within(s.native_handle(), 3000)) throw std::runtime_error("read timed out");
    got += s.read_some(asio::buffer(b.data() + got, n - got));
  }
  return b;
}
// Greets (no auth), sends 0xF3 for addr, returns the reply's REP (and BND port in *port).
std::uint8_t udp_tun_request(asio::ip::tcp::socket& s, B addr, std::uint16_t* port = nullptr) {
  asio::write(s, asio::buffer(cat(B{5, 1, 0, 5, 0xF3, 0}, addr)));
  CHECK(read_n(s, 2) == B{5, 0});
  B rep = read_n(s, 4);
  REQUIRE((rep[3] == 1 || rep[3] == 4));
  B rest = read_n(s, rep[3] == 1 ? 6 : 18);  // BND.ADDR (IPv4 or IPv6) + BND.PORT
  if (port) *port = static_cast<std::uint16_t>((rest[rest.size() - 2] << 8) | rest.back());
  return rep[1];
}
}  // namespace

TEST_CASE("socks5 0xF3 UDP over TCP from raw bytes", "[socks][udptun]") {
  Fixture f;
  test::UdpEchoServer echo;
  Fixture::Opts o;
  o.md.set("udp", "true");
  auto svc = f.start("socks5", o);
  asio::io_context ctx;
  {
    auto s = test::connect_blocking(ctx, svc->address().port);
    REQUIRE(udp_tun_request(s, B{1, 0, 0, 0, 0, 0, 0}) == 0);
    // Frame: RSV = length, FRAG = 0xFF, target, data; the answer names the source.
    const B addr = cat(B{1, 127, 0, 0, 1}, be16(echo.port()));
    const B frame = cat(cat(cat(be16(4), B{0xFF}), addr), B{'p', 'i', 'n', 'g'});
    asio::write(s, asio::buffer(cat(frame, frame)));  // two frames in one write
    CHECK(read_n(s, frame.size()) == frame);
    CHECK(read_n(s, frame.size()) == frame);
    B big(40000, 0x5A);
    const B bigframe = cat(cat(cat(be16(40000), B{0xFF}), addr), big);
    asio::write(s, asio::buffer(bigframe));
    CHECK(read_n(s, bigframe.size()) == bigframe);
  }
  {  // disabled: 0x02
    auto off = f.start("socks5");
    auto s = test::connect_blocking(ctx, off->address().port);
    CHECK(udp_tun_request(s, B{1, 0, 0, 0, 0, 0, 0}) == 0x02);
  }
  {  // a non-zero port is a UDP bind here (needs bind=true); the peer's datagrams come back
    Fixture::Opts b;
    b.md.set("bind", "true");
    auto bsvc = f.start("socks5", b);
    auto s = test::connect_blocking(ctx, bsvc->address().port);
    asio::ip::udp::socket probe(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    auto tmp = probe.local_endpoint().port();
    probe.close();
    std::uint16_t bound = 0;
    REQUIRE(udp_tun_request(s, cat(B{1, 127, 0, 0, 1}, be16(tmp)), &bound) == 0);
    CHECK(bound == tmp);
    asio::ip::udp::socket peer(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    peer.send_to(asio::buffer(std::string("hey")), {asio::ip::make_address("127.0.0.1"), bound});
    const B want =
        cat(cat(cat(be16(3), B{0xFF}), cat(B{1, 127, 0, 0, 1}, be16(peer.local_endpoint().port()))),
            B{'h', 'e', 'y'});
    CHECK(read_n(s, want.size()) == want);
  }
}

TEST_CASE("socks5 connector uses 0xF3 by default and UDP ASSOCIATE with relay=udp",
          "[socks][udptun]") {
  Fixture f;
  test::UdpEchoServer echo;
  Fixture::Opts o;
  o.md.set("udp", "true");
  auto svc = f.start("socks5", o);
  auto a = f.run(associate_echo(f.connector("socks5"), svc->address(), local(echo.port()), "tun"));
  CHECK_FALSE(a.ec);
  CHECK(a.data == "tun");
  CHECK(a.from == local(echo.port()));
  auto u = f.run(udp_connect_echo(f.connector("socks5"), svc->address(), local(echo.port()), "c"));
  CHECK(u.data == "c");
  Metadata std_udp;
  std_udp.set("relay", "udp");
  auto s = f.run(associate_echo(f.connector("socks5", {}, std_udp), svc->address(),
                                local(echo.port()), "std"));
  CHECK(s.data == "std");
  // The UDP-tun association carries datagrams over a chain: socks5 -> socks5 -> echo.
  Fixture::Opts front_o = o;
  front_o.router = std::make_shared<Router>(f.chain_via(f.connector("socks5"), svc->address()));
  auto front = f.start("socks5", front_o);
  auto c = f.run(associate_echo(f.connector("socks5"), front->address(), local(echo.port()), "2h"));
  CHECK(c.data == "2h");
}

// ------------------------------------------------------- relay TCP BIND and SOCKS5 MUX-BIND

namespace {

struct BindOutcome {
  std::error_code ec;
  std::string hello;   // the first bytes of the stream for the inbound connection
  std::string echoed;  // what came back over the stream and the inbound connection
};

// Reads exactly n bytes within 5 s.
asio::awaitable<std::error_code> read_n_within(Stream* s, std::string* out, std::size_t n) {
  out->assign(n, '\0');
  auto r = co_await with_timeout(read_exact(*s, asio::buffer(*out)), 5000ms);
  co_return r ? *r : make_error_code(errc::timeout);
}

// Sends `request` on a control connection, reads `reply_len` bytes of reply (the bound port in
// its last two bytes), runs an smux server over the connection, connects to the bound port and
// checks the stream for it: `hello_len` bytes of hello, then data both ways.
asio::awaitable<BindOutcome> bind_roundtrip(Address proxy, std::string request,
                                            std::size_t reply_len, std::size_t hello_len) {
  auto c = co_await dial_tcp(proxy, 5s);
  if (!c) co_return BindOutcome{c.error(), {}, {}};
  if (auto ec = co_await write_all(**c, asio::buffer(request))) co_return BindOutcome{ec, {}, {}};
  std::string rep;
  if (auto ec = co_await read_n_within(c->get(), &rep, reply_len))
    co_return BindOutcome{ec, {}, {}};
  const auto port =
      static_cast<std::uint16_t>((static_cast<unsigned char>(rep[reply_len - 2]) << 8) |
                                 static_cast<unsigned char>(rep[reply_len - 1]));
  auto session = mux::Session::server(std::move(*c));
  auto peer = co_await dial_tcp(Address("127.0.0.1", port), 5s);
  if (!peer) co_return BindOutcome{peer.error(), {}, {}};
  auto st = co_await with_timeout(session->accept(), 5000ms);
  if (!st) co_return BindOutcome{make_error_code(errc::timeout), {}, {}};
  if (!*st) co_return BindOutcome{st->error(), {}, {}};
  BindOutcome out;
  if (auto ec = co_await read_n_within(st->value().get(), &out.hello, hello_len))
    co_return BindOutcome{ec, {}, {}};
  std::string msg = "from peer";
  co_await write_all(**peer, asio::buffer(msg));
  std::string got;
  if (auto ec = co_await read_n_within(st->value().get(), &got, msg.size()))
    co_return BindOutcome{ec, {}, {}};
  std::string back = "to peer";
  co_await write_all(*st->value(), asio::buffer(back));
  std::string got2;
  if (auto ec = co_await read_n_within(peer->get(), &got2, back.size()))
    co_return BindOutcome{ec, {}, {}};
  out.echoed = got + "|" + got2;
  (*peer)->close();
  st->value()->close();
  session->close();
  co_return out;
}

std::string s_of(const B& b) { return std::string(b.begin(), b.end()); }

}  // namespace

TEST_CASE("relay TCP BIND serves inbound connections over an smux session", "[relay][bind]") {
  Fixture f;
  Fixture::Opts o;
  o.md.set("bind", "true");
  auto svc = f.start("relay", o);
  // GOST's bind(): BIND, UserAuth?, Network(tcp), Addr(0.0.0.0:0)
  relay::Request req;
  req.cmd = relay::kCmdBind;
  req.features.list.push_back(relay::NetworkFeature{relay::kNetworkTcp});
  req.features.list.push_back(relay::AddrFeature{Address("127.0.0.1", 0)});
  B out;
  REQUIRE_FALSE(relay::serialize(req, out));
  // Reply: 01 00 00 0A + Addr(IPv4) feature (10 bytes); hello: the same shape naming the peer.
  auto r = f.run(bind_roundtrip(svc->address(), s_of(out), 14, 14));
  REQUIRE_FALSE(r.ec);
  CHECK(r.hello.substr(0, 8) == s_of(B{0x01, 0x00, 0x00, 0x0A, 0x02, 0x00, 0x07, 0x01}));
  CHECK(r.hello.substr(8, 4) == s_of(B{127, 0, 0, 1}));
  CHECK(r.echoed == "from peer|to peer");
  // Disabled: Forbidden.
  auto off = f.start("relay");
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, off->address().port);
  asio::write(s, asio::buffer(out));
  B resp(4);
  REQUIRE(readable_within(s.native_handle(), 3000));
  asio::read(s, asio::buffer(resp));
  CHECK(resp == B{0x01, relay::kStatusForbidden, 0x00, 0x00});
}

TEST_CASE("socks5 MUX-BIND (0xF2) serves inbound connections over an smux session",
          "[socks][bind]") {
  Fixture f;
  Fixture::Opts o;
  o.md.set("bind", "true");
  auto svc = f.start("socks5", o);
  // greeting + method reply (2) are part of the exchange; the reply is 10 bytes (IPv4).
  const std::string req = s_of(B{5, 1, 0, 5, 0xF2, 0, 1, 127, 0, 0, 1, 0, 0});
  auto r = f.run(bind_roundtrip(svc->address(), req, 2 + 10, 10));
  REQUIRE_FALSE(r.ec);
  CHECK(r.hello.substr(0, 8) == s_of(B{5, 0, 0, 1, 127, 0, 0, 1}));
  CHECK(r.echoed == "from peer|to peer");
  // comp=true: no reply on the streams.
  Fixture::Opts c = o;
  c.md.set("comp", "true");
  auto csvc = f.start("socks5", c);
  auto rc = f.run(bind_roundtrip(csvc->address(), req, 2 + 10, 0));
  REQUIRE_FALSE(rc.ec);
  CHECK(rc.echoed == "from peer|to peer");
  // Without bind: 0x02.
  auto off = f.start("socks5");
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, off->address().port);
  asio::write(s, asio::buffer(req));
  B resp(12);
  REQUIRE(readable_within(s.native_handle(), 3000));
  asio::read(s, asio::buffer(resp));
  CHECK(resp[3] == 0x02);
}

// ------------------------------------------------------- SOCKS5 TLS methods 0x80 / 0x82

namespace {
asio::awaitable<std::error_code> handshake_only(ConnectorPtr c, Address proxy) {
  auto s = co_await dial_tcp(proxy, 5s);
  if (!s) co_return s.error();
  auto h = co_await c->handshake(std::move(*s));
  if (!h) co_return h.error();
  (*h)->close();
  co_return std::error_code{};
}

// The method the server picks for the offered methods (raw bytes).
std::uint8_t method_for(std::uint16_t port, const B& methods) {
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, port);
  B greet{5, static_cast<std::uint8_t>(methods.size())};
  greet.insert(greet.end(), methods.begin(), methods.end());
  asio::write(s, asio::buffer(greet));
  return read_n(s, 2)[1];
}
}  // namespace

TEST_CASE("socks5 TLS methods between gost peers (0x80, 0x82, notls)", "[socks][tls]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("socks5");
  Fixture::Opts nt;
  nt.md.set("notls", "true");
  auto plain = f.start("socks5", nt);
  // GOST's handler prefers TLS when offered; notls turns it off; third-party offers unchanged.
  CHECK(method_for(svc->address().port, B{0x00, 0x80}) == 0x80);
  CHECK(method_for(svc->address().port, B{0x00}) == 0x00);
  CHECK(method_for(plain->address().port, B{0x00, 0x80}) == 0x00);

  Metadata ntm;
  ntm.set("notls", "true");
  // Every pairing works: TLS when both sides allow it, plain otherwise.
  for (auto* target : {&svc, &plain}) {
    auto a = f.run(echo_via(f.connector("socks5"), (*target)->address(), local(echo.port()), "t"));
    CHECK(a.data == "tt");
    auto b = f.run(
        echo_via(f.connector("socks5", {}, ntm), (*target)->address(), local(echo.port()), "p"));
    CHECK(b.data == "pp");
  }
  // UDP over TCP inside TLS.
  test::UdpEchoServer uecho;
  Fixture::Opts u;
  u.md.set("udp", "true");
  auto usvc = f.start("socks5", u);
  auto d = f.run(associate_echo(f.connector("socks5"), usvc->address(), local(uecho.port()), "d"));
  CHECK(d.data == "d");

  // With an auther: 0x82 (TLS, then RFC 1929 inside), or 0x02 for plain offers.
  Fixture::Opts ao;
  ao.auther = make_static_auther({{"alice", "secret"}});
  auto asvc = f.start("socks5", ao);
  CHECK(method_for(asvc->address().port, B{0x00, 0x02, 0x80, 0x82}) == 0x82);
  CHECK(method_for(asvc->address().port, B{0x00, 0x02, 0x80}) == 0x02);
  CHECK(method_for(asvc->address().port, B{0x00, 0x80}) == 0xFF);
  auto ok = f.run(echo_via(f.connector("socks5", Credentials{"alice", "secret"}), asvc->address(),
                           local(echo.port()), "a"));
  CHECK(ok.data == "aa");
  auto bad =
      f.run(handshake_only(f.connector("socks5", Credentials{"alice", "no"}), asvc->address()));
  CHECK(bad == errc::auth_failed);
  // A plain (non-TLS) server and a client offering TLS: the TLS handshake against a server
  // that did not pick 0x80 never starts.
  auto none = f.run(handshake_only(f.connector("socks5"), plain->address()));
  CHECK_FALSE(none);
}

TEST_CASE("socks5 connector offers GOST's method list", "[socks][tls]") {
  Fixture f;
  {
    Capture cap;
    auto c = f.connector("socks5");
    std::thread t([&] { (void)f.run(handshake_only(c, local(cap.port()))); });
    auto got = cap.first_bytes(4);
    t.join();
    CHECK(got == B{5, 2, 0x00, 0x80});
  }
  {
    Capture cap;
    auto c = f.connector("socks5", Credentials{"u", "p"});
    std::thread t([&] { (void)f.run(handshake_only(c, local(cap.port()))); });
    auto got = cap.first_bytes(6);
    t.join();
    CHECK(got == B{5, 4, 0x00, 0x02, 0x80, 0x82});
  }
  {
    Capture cap;
    Metadata nt;
    nt.set("notls", "true");
    auto c = f.connector("socks5", Credentials{"u", "p"}, nt);
    std::thread t([&] { (void)f.run(handshake_only(c, local(cap.port()))); });
    auto got = cap.first_bytes(4);
    t.join();
    CHECK(got == B{5, 2, 0x00, 0x02});
  }
}

// ---------------------------------------------------------------- remote binds (connector side)

namespace {

struct RemoteBindOutcome {
  std::error_code ec;
  std::string where;  // the step that failed
  Address bound;
  std::vector<std::string> got;      // what each accepted stream read, sorted
  std::vector<std::string> echoed;   // what each peer read back, sorted
  bool remote_is_peer = true;        // every accepted stream named a connecting peer
  std::error_code second_accept;     // plain BIND: the accept() after the only connection
};

// Binds through router, connects `peers` clients to the bound port (each writes "peer-i"),
// accepts them all, answers each with "ok-" + what it read, and collects what the peers get.
asio::awaitable<RemoteBindOutcome> bind_and_serve(RouterPtr router, BindOptions opts, int peers) {
  RemoteBindOutcome out;
  Address want("127.0.0.1", 0);
  auto ln = co_await router->bind("tcp", want, opts);
  if (!ln) {
    out.ec = ln.error();
    out.where = "bind";
    co_return out;
  }
  out.bound = (*ln)->address();
  auto ex = co_await asio::this_coro::executor;
  std::vector<asio::ip::tcp::socket> clients;
  std::vector<std::uint16_t> client_ports;
  for (int i = 0; i < peers; ++i) {
    asio::ip::tcp::socket c(ex);
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), out.bound.port);
    auto [ec] = co_await c.async_connect(ep, test::use_tuple);
    if (ec) {
      out.ec = ec;
      out.where = "connect";
      co_return out;
    }
    std::string msg = "peer-" + std::to_string(i);
    co_await asio::async_write(c, asio::buffer(msg), test::use_tuple);
    client_ports.push_back(c.local_endpoint().port());
    clients.push_back(std::move(c));
  }
  std::vector<StreamPtr> accepted;
  for (int i = 0; i < peers; ++i) {
    auto s = co_await with_timeout((*ln)->accept(), 5000ms);
    if (!s || !*s) {
      out.ec = s ? s->error() : make_error_code(errc::timeout);
      out.where = "accept";
      co_return out;
    }
    StreamPtr st = std::move(**s);
    auto rp = st->remote_address().port;
    if (std::find(client_ports.begin(), client_ports.end(), rp) == client_ports.end())
      out.remote_is_peer = false;
    std::string buf(6, '\0');
    auto r = co_await with_timeout(read_exact(*st, asio::buffer(buf)), 5000ms);
    if (!r || *r) {
      out.ec = r ? *r : make_error_code(errc::timeout);
      out.where = "read";
      co_return out;
    }
    out.got.push_back(buf);
    std::string reply = "ok-" + buf;
    if (auto ec = co_await write_all(*st, asio::buffer(reply))) {
      out.ec = ec;
      out.where = "write";
      co_return out;
    }
    accepted.push_back(std::move(st));
  }
  for (auto& c : clients) {
    std::string buf(9, '\0');
    auto r = co_await with_timeout(asio::async_read(c, asio::buffer(buf), test::use_tuple), 5000ms);
    if (!r || std::get<0>(*r)) {
      out.ec = r ? std::get<0>(*r) : make_error_code(errc::timeout);
      out.where = "peer read";
      co_return out;
    }
    out.echoed.push_back(buf);
  }
  if (!opts.mux) {
    auto s = co_await with_timeout((*ln)->accept(), 2000ms);
    out.second_accept = !s ? make_error_code(errc::timeout) : *s ? std::error_code{} : s->error();
  }
  std::sort(out.got.begin(), out.got.end());
  std::sort(out.echoed.begin(), out.echoed.end());
  for (auto& s : accepted) s->close();
  (*ln)->close();
  co_return out;
}

std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}

// Binds through a one-hop chain (or locally when c is null) and checks that `peers` connections
// were served both ways, each accepted stream naming its peer.
RemoteBindOutcome check_bind_serves(Fixture& f, ConnectorPtr c, Address proxy, BindOptions o,
                                    int peers) {
  auto router = c ? std::make_shared<Router>(f.chain_via(std::move(c), proxy))
                  : std::make_shared<Router>();
  auto r = f.run(bind_and_serve(router, o, peers));
  INFO(r.where << ": " << r.ec.message());
  REQUIRE_FALSE(r.ec);
  CHECK(r.bound.port != 0);
  CHECK(r.got == numbered("peer-", peers));
  CHECK(r.echoed == numbered("ok-peer-", peers));
  CHECK(r.remote_is_peer);
  return r;
}

}  // namespace

TEST_CASE("remote binds through the relay and socks5 connectors", "[relay][bind]") {
  Fixture f;
  Fixture::Opts so;
  so.md.set("bind", "true");
  auto relay_svc = f.start("relay", so);
  auto socks_svc = f.start("socks5", so);

  SECTION("relay BIND: a reversed smux session, one stream per peer") {
    check_bind_serves(f, f.connector("relay"), relay_svc->address(), BindOptions{}, 3);
  }
  SECTION("socks5 MUX-BIND (0xF2)") {
    BindOptions o;
    o.mux = true;
    check_bind_serves(f, f.connector("socks5"), socks_svc->address(), o, 3);
  }
  SECTION("socks5 plain BIND: one connection, then accept() ends") {
    auto r = check_bind_serves(f, f.connector("socks5"), socks_svc->address(), BindOptions{}, 1);
    CHECK(r.second_accept == errc::closed);
  }
  SECTION("no chain: a local listener") {
    BindOptions o;
    o.mux = true;
    check_bind_serves(f, nullptr, Address{}, o, 2);
  }
  SECTION("a server without bind=true refuses") {
    auto plain = f.start("relay");
    auto router = std::make_shared<Router>(f.chain_via(f.connector("relay"), plain->address()));
    BindOptions o;
    auto r = f.run(bind_and_serve(router, o, 1));
    CHECK(r.where == "bind");
    CHECK(r.ec == errc::forbidden);
  }
  SECTION("a connector without BIND says unsupported") {
    auto router = std::make_shared<Router>(f.chain_via(f.connector("socks4"), socks_svc->address()));
    BindOptions o;
    auto r = f.run(bind_and_serve(router, o, 1));
    CHECK(r.ec == errc::unsupported);
  }
}
