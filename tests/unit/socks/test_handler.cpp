// SOCKS4/4a and SOCKS5 handlers and connectors end to end on loopback: a gost::Service with the
// core tcp listener and the socks handler, driven by raw bytes and by the socks connectors.
#include <poll.h>
#include <sys/socket.h>

#include <asio/ip/udp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <thread>

#include "gost/core.hpp"
#include "gost/core/timeout.hpp"
#include "gost/socks/socks.hpp"
#include "socks/codec.hpp"
#include "support.hpp"

using namespace gost;
using namespace std::chrono_literals;
using B = std::vector<std::uint8_t>;

namespace {

B operator+(B a, const B& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
B str(const std::string& s) { return B(s.begin(), s.end()); }
B port_be(std::uint16_t p) {
  return B{static_cast<std::uint8_t>(p >> 8), static_cast<std::uint8_t>(p & 0xFF)};
}
Address local(std::uint16_t port) { return Address("127.0.0.1", port); }

// Waits until fd is readable (data, EOF or error); false after `ms`. Blocking Asio reads ignore
// SO_RCVTIMEO (they poll again on EAGAIN), so every blocking read in these tests waits here first.
bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

// Reads exactly buf.size() bytes within `ms` in total; throws on timeout or error.
template <class Sock>
void read_within(Sock& s, asio::mutable_buffer buf, int ms = 5000) {
  auto* p = static_cast<char*>(buf.data());
  std::size_t left = buf.size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (left > 0) {
    auto rem = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (rem.count() <= 0 || !readable_within(s.native_handle(), static_cast<int>(rem.count()))) {
      throw std::runtime_error("read timed out with " + std::to_string(left) + " bytes missing");
    }
    std::error_code ec;
    auto n = s.read_some(asio::buffer(p, left), ec);
    if (ec) throw std::runtime_error("read: " + ec.message());
    p += n;
    left -= n;
  }
}

// One datagram within `ms`, or nullopt.
std::optional<std::vector<std::uint8_t>> recv_datagram(asio::ip::udp::socket& s, int ms,
                                                       asio::ip::udp::endpoint* from = nullptr) {
  if (!readable_within(s.native_handle(), ms)) return std::nullopt;
  std::vector<std::uint8_t> buf(70000);
  asio::ip::udp::endpoint ep;
  std::error_code ec;
  auto n = s.receive_from(asio::buffer(buf), ep, 0, ec);
  if (ec) return std::nullopt;
  buf.resize(n);
  if (from) *from = ep;
  return buf;
}

struct Fixture {
  Runtime rt{2};
  Registry reg;
  std::vector<ServicePtr> services;

  Fixture() {
    register_core(reg);
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
    BypassPtr bypass;
    RouterPtr router;
  };

  HandlerArgs handler_args(const Opts& o) {
    HandlerArgs ha;
    ha.runtime = &rt;
    ha.service = "svc";
    ha.metadata = o.md;
    ha.router = o.router ? o.router : std::make_shared<Router>();
    ha.auther = o.auther;
    ha.bypass = o.bypass;
    return ha;
  }

  ServicePtr serve(HandlerPtr h) {
    ListenerArgs la;
    la.runtime = &rt;
    la.service = "svc";
    la.addr = Address("127.0.0.1", 0);
    auto l = (*reg.listener("tcp"))(la);
    REQUIRE(l);
    ServiceOptions so;
    so.name = "svc";
    so.logger = std::make_shared<Logger>(LogLevel::none);
    auto svc = std::make_shared<Service>(rt, so, std::move(*l), std::move(h));
    REQUIRE_FALSE(svc->start());
    services.push_back(svc);
    return svc;
  }

  ServicePtr start(const std::string& handler, Opts o = {}) {
    const auto* f = reg.handler(handler);
    REQUIRE(f != nullptr);
    auto h = (*f)(handler_args(o));
    REQUIRE(h);
    return serve(std::move(*h));
  }

  ConnectorPtr connector(const std::string& name, std::optional<Credentials> auth = {},
                         Metadata md = {}, Address node = {}) {
    ConnectorArgs ca;
    ca.node_addr = std::move(node);
    ca.auth = std::move(auth);
    ca.metadata = std::move(md);
    const auto* f = reg.connector(name);
    REQUIRE(f != nullptr);
    auto c = (*f)(ca);
    REQUIRE(c);
    return *c;
  }

  // A chain of one node: `connector` over tcp to addr.
  ChainPtr chain_via(const std::string& connector_name, Address addr) {
    auto n = std::make_shared<Node>();
    n->name = "hop0";
    n->addr = addr.to_string();
    n->dialer = *(*reg.dialer("tcp"))(DialerArgs{});
    n->connector = connector(connector_name);
    auto hop = std::make_shared<Hop>();
    hop->name = "hop";
    hop->nodes.push_back(n);
    auto chain = std::make_shared<Chain>();
    chain->name = "chain";
    chain->hops.push_back(hop);
    return chain;
  }

  template <class T>
  T run(asio::awaitable<T> aw) {
    return test::run_on(rt.executor(0), std::move(aw));
  }
};

// Waits (bounded) for a service to have no live connection.
bool drained(const ServicePtr& svc) {
  for (int i = 0; i < 500 && svc->stats().current_conns != 0; ++i)
    std::this_thread::sleep_for(10ms);
  return svc->stats().current_conns == 0;
}

// A blocking loopback client with receive/send timeouts, for raw-byte tests.
class Raw {
 public:
  explicit Raw(std::uint16_t port) : s_(ctx_) {
    s_.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  void send(const B& b) { asio::write(s_, asio::buffer(b)); }
  B recv(std::size_t n) {
    B b(n);
    read_within(s_, asio::buffer(b));
    return b;
  }
  // A SOCKS5 reply (variable length).
  socks::Reply reply() {
    B b = recv(4);
    std::size_t more = b[3] == socks::kAtypIPv4 ? 6 : b[3] == socks::kAtypIPv6 ? 18 : 0;
    if (b[3] == socks::kAtypDomain) {
      B l = recv(1);
      b = b + l;
      more = l[0] + 2u;
    }
    b = b + recv(more);
    auto p = socks::parse_reply(b);
    if (!p.ok()) throw std::runtime_error("bad socks5 reply");
    return p.value;
  }
  // True when the server closed the connection (EOF or reset) within 5 s.
  bool closed() {
    char buf[512];
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      auto rem = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (rem.count() <= 0 || !readable_within(s_.native_handle(), static_cast<int>(rem.count())))
        return false;
      std::error_code ec;
      s_.read_some(asio::buffer(buf), ec);
      if (ec) return ec == asio::error::eof || ec == asio::error::connection_reset;
    }
  }
  void close() { s_.close(); }
  asio::ip::tcp::socket& socket() { return s_; }

 private:
  asio::io_context ctx_;
  asio::ip::tcp::socket s_;
};

B socks5_connect_req(Address a) {
  B out;
  (void)socks::serialize(socks::Request{socks::kCmdConnect, std::move(a)}, out);
  return out;
}

// ---- coroutines driving the connectors (parameters by value)

// Dials the proxy, negotiates and connects; returns the stream or the error.
asio::awaitable<Result<StreamPtr>> open_via(ConnectorPtr c, Address proxy, std::string network,
                                            Address target) {
  auto s = co_await dial_tcp(proxy, 5s);
  if (!s) co_return s.error();
  auto h = co_await c->handshake(std::move(*s));
  if (!h) co_return h.error();
  co_return co_await c->connect(std::move(*h), network, target);
}

struct Outcome {
  std::error_code ec;
  std::string data;
};

// Connects through the proxy and echoes msg over the stream.
asio::awaitable<Outcome> echo_via(ConnectorPtr c, Address proxy, Address target, std::string msg) {
  auto s = co_await open_via(c, proxy, "tcp", target);
  if (!s) co_return Outcome{s.error(), {}};
  if (auto ec = co_await write_all(**s, asio::buffer(msg))) co_return Outcome{ec, {}};
  std::string got(msg.size(), '\0');
  auto ec = co_await read_exact(**s, asio::buffer(got));
  (*s)->close();
  co_return Outcome{ec, ec ? std::string() : got};
}

// recv_from with a timeout (errc::timeout on expiry).
asio::awaitable<PacketResult> recv_within(PacketConn* pc, asio::mutable_buffer buf,
                                          std::chrono::milliseconds d) {
  auto r = co_await with_timeout(pc->recv_from(buf), d);
  if (!r) co_return PacketResult{make_error_code(errc::timeout), 0, {}};
  co_return *r;
}

// UDP ASSOCIATE through the proxy; sends msg to target and returns the reply (retrying a few
// times: UDP may drop), plus the reply's source address in `from`.
struct UdpOutcome {
  std::error_code ec;
  std::string data;
  Address from;
};
asio::awaitable<UdpOutcome> udp_echo_via(ConnectorPtr c, Address proxy, Address target,
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
    auto r = co_await recv_within(pc->get(), asio::buffer(buf), 1000ms);
    if (r.ec == errc::timeout) continue;
    if (r.ec) co_return UdpOutcome{r.ec, {}, {}};
    (*pc)->close();
    co_return UdpOutcome{{}, buf.substr(0, r.bytes), r.from};
  }
  co_return UdpOutcome{make_error_code(errc::timeout), {}, {}};
}

// "udp" connect: a datagram stream to target through the proxy.
asio::awaitable<Outcome> udp_stream_echo_via(ConnectorPtr c, Address proxy, Address target,
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

asio::awaitable<std::error_code> open_error(ConnectorPtr c, Address proxy, std::string network,
                                            Address target) {
  auto s = co_await open_via(c, proxy, network, target);
  if (!s) co_return s.error();
  (*s)->close();
  co_return std::error_code{};
}

// Associates, then waits for recv_from to fail once the server side goes away.
asio::awaitable<std::error_code> associate_then_wait(ConnectorPtr c, Address proxy,
                                                     ServicePtr svc) {
  auto s = co_await dial_tcp(proxy, 5s);
  if (!s) co_return s.error();
  auto h = co_await c->handshake(std::move(*s));
  if (!h) co_return h.error();
  auto pc = co_await c->associate(std::move(*h));
  if (!pc) co_return pc.error();
  svc->stop();  // closes the control connection on the server side
  char buf[64];
  auto r = co_await recv_within(pc->get(), asio::buffer(buf), 5000ms);
  co_return r.ec;
}

// Mimics the "auto" handler: peeks the first byte and hands a prefixed stream on.
class PeekHandler final : public Handler {
 public:
  explicit PeekHandler(HandlerPtr inner) : inner_(std::move(inner)) {}
  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    unsigned char first = 0;
    auto r = co_await conn->read_some(asio::buffer(&first, 1));
    if (r.ec || r.bytes == 0) co_return;
    std::vector<unsigned char> peeked(1, first);
    co_await inner_->handle(make_prefixed(std::move(conn), std::move(peeked)), rec);
  }

 private:
  HandlerPtr inner_;
};

// A one-response-per-connection HTTP server for the curl test.
class HttpServer {
 public:
  HttpServer() : acc_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    th_ = std::thread([this] { loop(); });
  }
  ~HttpServer() {
    stop_ = true;
    th_.join();
  }
  std::uint16_t port() const { return acc_.local_endpoint().port(); }

 private:
  void loop() {
    while (!stop_) {
      if (!readable_within(acc_.native_handle(), 50)) continue;  // re-checks stop_
      std::error_code ec;
      asio::ip::tcp::socket s(ctx_);
      acc_.accept(s, ec);
      if (ec) continue;
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos &&
             readable_within(s.native_handle(), 5000)) {
        auto n = s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        req.append(buf, n);
      }
      if (req.find("\r\n\r\n") == std::string::npos) continue;
      std::string resp =
          "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello socks";
      asio::write(s, asio::buffer(resp), ec);
    }
  }
  asio::io_context ctx_;
  asio::ip::tcp::acceptor acc_;
  std::atomic<bool> stop_{false};
  std::thread th_;
};

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "<popen failed>";
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

}  // namespace

// ------------------------------------------------------------------------------------- SOCKS5

TEST_CASE("socks5 connect through the connector, by IP and by name", "[socks][socks5]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("socks5");
  auto c = f.connector("socks5");
  auto r = f.run(echo_via(c, svc->address(), local(echo.port()), "hello socks5"));
  CHECK_FALSE(r.ec);
  CHECK(r.data == "hello socks5");
  auto n = f.run(echo_via(c, svc->address(), Address("localhost", echo.port()), "by name"));
  CHECK_FALSE(n.ec);
  CHECK(n.data == "by name");
  // "socks" is the same handler and connector.
  auto svc2 = f.start("socks");
  auto r2 = f.run(echo_via(f.connector("socks"), svc2->address(), local(echo.port()), "alias"));
  CHECK(r2.data == "alias");
}

TEST_CASE("socks5 connect from raw bytes, pipelined, keeps early data", "[socks][socks5]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("socks5");
  Raw c(svc->address().port);
  // Greeting, request and payload in one write: nothing may be lost.
  c.send(B{5, 1, 0} + socks5_connect_req(local(echo.port())) + str("early bytes"));
  CHECK(c.recv(2) == B{5, 0});
  auto rep = c.reply();
  CHECK(rep.reply == socks::kRepSucceeded);
  CHECK(rep.addr == Address("0.0.0.0", 0));  // BND as GOST sends it for CONNECT
  CHECK(c.recv(11) == str("early bytes"));
  c.send(str("more"));
  CHECK(c.recv(4) == str("more"));
}

TEST_CASE("socks5 through a peeking handler (auto-style prefixed stream)", "[socks][socks5]") {
  Fixture f;
  test::EchoServer echo;
  auto h = socks::make_socks5_handler(f.handler_args({}));
  REQUIRE(h);
  auto svc = f.serve(std::make_shared<PeekHandler>(std::move(*h)));
  auto r = f.run(echo_via(f.connector("socks5"), svc->address(), local(echo.port()), "peeked"));
  CHECK(r.data == "peeked");
  auto h4 = socks::make_socks4_handler(f.handler_args({}));
  REQUIRE(h4);
  auto svc4 = f.serve(std::make_shared<PeekHandler>(std::move(*h4)));
  auto r4 = f.run(echo_via(f.connector("socks4a"), svc4->address(),
                           Address("localhost", echo.port()), "peeked4"));
  CHECK(r4.data == "peeked4");
}

TEST_CASE("socks5 username/password authentication", "[socks][socks5][auth]") {
  Fixture f;
  test::EchoServer echo;
  Fixture::Opts o;
  o.auther = make_static_auther({{"alice", "secret"}});
  auto svc = f.start("socks5", o);

  auto ok = f.run(echo_via(f.connector("socks5", Credentials{"alice", "secret"}), svc->address(),
                           local(echo.port()), "authed"));
  CHECK_FALSE(ok.ec);
  CHECK(ok.data == "authed");

  auto bad = f.run(echo_via(f.connector("socks5", Credentials{"alice", "wrong"}), svc->address(),
                            local(echo.port()), "x"));
  CHECK(bad.ec == errc::auth_failed);

  auto none = f.run(echo_via(f.connector("socks5"), svc->address(), local(echo.port()), "x"));
  CHECK(none.ec == errc::auth_required);

  // Raw: wrong password -> status 0x01 and close.
  {
    Raw c(svc->address().port);
    c.send(B{5, 2, 0, 2});
    CHECK(c.recv(2) == B{5, 2});
    c.send(B{1, 5} + str("alice") + B{3} + str("bad"));
    CHECK(c.recv(2) == B{1, 1});
    CHECK(c.closed());
  }
  // Raw: only NO AUTH offered -> 0xFF and close.
  {
    Raw c(svc->address().port);
    c.send(B{5, 1, 0});
    CHECK(c.recv(2) == B{5, 0xFF});
    CHECK(c.closed());
  }
  CHECK(echo.accepted() == 1);
}

TEST_CASE("socks5 without an auther picks NO AUTH, or accepts any credentials",
          "[socks][socks5][auth]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("socks5");
  auto r = f.run(echo_via(f.connector("socks5", Credentials{"bob", "x"}), svc->address(),
                          local(echo.port()), "a"));
  CHECK(r.data == "a");
  Raw c(svc->address().port);
  c.send(B{5, 1, 2});
  CHECK(c.recv(2) == B{5, 2});
  c.send(B{1, 1, 'u', 1, 'p'});
  CHECK(c.recv(2) == B{1, 0});
  c.send(socks5_connect_req(local(echo.port())));
  CHECK(c.reply().reply == socks::kRepSucceeded);
}

TEST_CASE("socks5 bypass refuses targets with 0x02", "[socks][socks5]") {
  Fixture f;
  test::EchoServer echo;
  Fixture::Opts o;
  auto bp = make_bypass({"127.0.0.1:" + std::to_string(echo.port())});
  REQUIRE(bp);
  o.bypass = *bp;
  auto svc = f.start("socks5", o);
  auto r = f.run(echo_via(f.connector("socks5"), svc->address(), local(echo.port()), "x"));
  CHECK(r.ec == errc::forbidden);
  Raw c(svc->address().port);
  c.send(B{5, 1, 0} + socks5_connect_req(local(echo.port())));
  CHECK(c.recv(2) == B{5, 0});
  CHECK(c.reply().reply == socks::kRepNotAllowed);
  CHECK(c.closed());
  CHECK(echo.accepted() == 0);
}

TEST_CASE("socks5 maps a refused target to 0x05", "[socks][socks5]") {
  Fixture f;
  std::uint16_t dead;
  {
    asio::io_context c;
    asio::ip::tcp::acceptor a(c, {asio::ip::make_address("127.0.0.1"), 0});
    dead = a.local_endpoint().port();
  }
  auto svc = f.start("socks5");
  auto r = f.run(echo_via(f.connector("socks5"), svc->address(), local(dead), "x"));
  CHECK(r.ec == errc::connection_refused);
  Raw c(svc->address().port);
  c.send(B{5, 1, 0} + socks5_connect_req(local(dead)));
  CHECK(c.recv(2) == B{5, 0});
  CHECK(c.reply().reply == socks::kRepConnectionRefused);
}

TEST_CASE("socks5 unknown commands and address types", "[socks][socks5]") {
  Fixture f;
  auto svc = f.start("socks5");
  {
    Raw c(svc->address().port);
    c.send(B{5, 1, 0, 5, 9, 0, 1, 127, 0, 0, 1, 0, 80});
    CHECK(c.recv(2) == B{5, 0});
    CHECK(c.reply().reply == socks::kRepCommandNotSupported);
    CHECK(c.closed());
  }
  {
    Raw c(svc->address().port);
    c.send(B{5, 1, 0, 5, 1, 0, 7, 1, 2, 3, 4, 0, 80});
    CHECK(c.recv(2) == B{5, 0});
    CHECK(c.reply().reply == socks::kRepAddressNotSupported);
    CHECK(c.closed());
  }
  // BIND and UDP ASSOCIATE are off by default; GOST refuses them with 0x02.
  for (std::uint8_t cmd : {socks::kCmdBind, socks::kCmdUdpAssociate}) {
    Raw c(svc->address().port);
    c.send(B{5, 1, 0, 5, cmd, 0, 1, 0, 0, 0, 0, 0, 0});
    CHECK(c.recv(2) == B{5, 0});
    CHECK(c.reply().reply == socks::kRepNotAllowed);
    CHECK(c.closed());
  }
}

TEST_CASE("socks5 BIND", "[socks][socks5][bind]") {
  Fixture f;
  Fixture::Opts o;
  o.md.set("bind", "true");
  auto svc = f.start("socks5", o);
  Raw c(svc->address().port);
  c.send(B{5, 1, 0, 5, socks::kCmdBind, 0, 1, 127, 0, 0, 1, 0, 21});
  CHECK(c.recv(2) == B{5, 0});
  auto first = c.reply();
  REQUIRE(first.reply == socks::kRepSucceeded);
  CHECK(first.addr.host == "127.0.0.1");
  REQUIRE(first.addr.port != 0);
  c.send(str("sent before the peer came"));

  asio::io_context ctx;
  auto peer = test::connect_blocking(ctx, first.addr.port);
  auto second = c.reply();
  CHECK(second.reply == socks::kRepSucceeded);
  CHECK(second.addr == local(peer.local_endpoint().port()));

  std::string early(25, '\0');
  read_within(peer, asio::buffer(early));
  CHECK(early == "sent before the peer came");
  asio::write(peer, asio::buffer(std::string("from peer")));
  CHECK(c.recv(9) == str("from peer"));
  c.send(str("to peer"));
  std::string got(7, '\0');
  read_within(peer, asio::buffer(got));
  CHECK(got == "to peer");
}

TEST_CASE("socks5 BIND times out, and is refused through a chain", "[socks][socks5][bind]") {
  Fixture f;
  Fixture::Opts o;
  o.md.set("bind", "true");
  o.md.set("bindTimeout", "300ms");
  auto svc = f.start("socks5", o);
  {
    Raw c(svc->address().port);
    c.send(B{5, 1, 0, 5, socks::kCmdBind, 0, 1, 0, 0, 0, 0, 0, 0});
    CHECK(c.recv(2) == B{5, 0});
    CHECK(c.reply().reply == socks::kRepSucceeded);
    CHECK(c.reply().reply == socks::kRepTtlExpired);
    CHECK(c.closed());
  }
  Fixture::Opts oc = o;
  oc.router = std::make_shared<Router>(f.chain_via("socks5", svc->address()));
  auto chained = f.start("socks5", oc);
  Raw c(chained->address().port);
  c.send(B{5, 1, 0, 5, socks::kCmdBind, 0, 1, 0, 0, 0, 0, 0, 0});
  CHECK(c.recv(2) == B{5, 0});
  CHECK(c.reply().reply == socks::kRepCommandNotSupported);
}

TEST_CASE("socks5 UDP ASSOCIATE from raw bytes", "[socks][socks5][udp]") {
  Fixture f;
  test::UdpEchoServer echo;
  Fixture::Opts o;
  o.md.set("udp", "true");
  auto svc = f.start("socks5", o);
  {
    Raw c(svc->address().port);
    c.send(B{5, 1, 0, 5, socks::kCmdUdpAssociate, 0, 1, 0, 0, 0, 0, 0, 0});
    CHECK(c.recv(2) == B{5, 0});
    auto rep = c.reply();
    REQUIRE(rep.reply == socks::kRepSucceeded);
    CHECK(rep.addr.host == "127.0.0.1");
    REQUIRE(rep.addr.port != 0);
    asio::ip::udp::endpoint relay(asio::ip::make_address("127.0.0.1"), rep.addr.port);

    asio::io_context ctx;
    asio::ip::udp::socket u(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    B hdr = B{0, 0, 0, 1, 127, 0, 0, 1} + port_be(echo.port());
    auto ask = [&](asio::ip::udp::socket& s, const B& dgram) {
      for (int i = 0; i < 5; ++i) {
        s.send_to(asio::buffer(dgram), relay);
        asio::ip::udp::endpoint from;
        auto got = recv_datagram(s, 1000, &from);
        if (!got) continue;
        CHECK(from == relay);
        return *got;
      }
      return B{};
    };
    CHECK(ask(u, hdr + str("ping")) == hdr + str("ping"));
    // A large datagram goes through whole.
    B big(60000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7);
    CHECK(ask(u, hdr + big) == hdr + big);
    // Fragments and datagrams from another IP are dropped.
    u.send_to(asio::buffer(B{0, 0, 1, 1, 127, 0, 0, 1} + port_be(echo.port()) + str("frag")),
              relay);
    asio::ip::udp::socket other(ctx);
    std::error_code bec;
    other.open(asio::ip::udp::v4());
    other.bind({asio::ip::make_address("127.0.0.2"), 0}, bec);
    if (!bec) {
      other.send_to(asio::buffer(hdr + str("intruder")), relay);
      CHECK_FALSE(recv_datagram(other, 500));  // nothing relayed back to the intruder
    }
    // The client still gets served after the dropped ones, and nothing stale arrives.
    CHECK(ask(u, hdr + str("pong")) == hdr + str("pong"));
  }
  // Closing the control connection ends the association.
  CHECK(drained(svc));
}

TEST_CASE("socks5 UDP relay port from udp.bindRange", "[socks][socks5][udp]") {
  Fixture f;
  std::uint16_t free_port;
  {
    asio::io_context c;
    asio::ip::udp::socket s(c, {asio::ip::make_address("127.0.0.1"), 0});
    free_port = s.local_endpoint().port();
  }
  Fixture::Opts o;
  o.md.set("udp", "true");
  o.md.set("udp.bindRange.min", std::to_string(free_port));
  o.md.set("udp.bindRange.max", std::to_string(free_port));
  auto svc = f.start("socks5", o);
  Raw c(svc->address().port);
  c.send(B{5, 1, 0, 5, socks::kCmdUdpAssociate, 0, 1, 0, 0, 0, 0, 0, 0});
  CHECK(c.recv(2) == B{5, 0});
  auto rep = c.reply();
  CHECK(rep.reply == socks::kRepSucceeded);
  CHECK(rep.addr.port == free_port);
  // A second association finds the only port taken: general failure.
  Raw c2(svc->address().port);
  c2.send(B{5, 1, 0, 5, socks::kCmdUdpAssociate, 0, 1, 0, 0, 0, 0, 0, 0});
  CHECK(c2.recv(2) == B{5, 0});
  CHECK(c2.reply().reply == socks::kRepGeneralFailure);
  // An inverted range is a configuration error.
  Fixture::Opts bad;
  bad.md.set("udp.bindRange.min", "2000");
  bad.md.set("udp.bindRange.max", "1000");
  CHECK_FALSE(socks::make_socks5_handler(f.handler_args(bad)));
}

TEST_CASE("socks5 UDP association ends after the idle ttl", "[socks][socks5][udp]") {
  Fixture f;
  test::UdpEchoServer echo;
  Fixture::Opts o;
  o.md.set("udp", "true");
  o.md.set("ttl", "300ms");
  auto svc = f.start("socks5", o);
  Raw c(svc->address().port);
  c.send(B{5, 1, 0, 5, socks::kCmdUdpAssociate, 0, 1, 0, 0, 0, 0, 0, 0});
  CHECK(c.recv(2) == B{5, 0});
  auto rep = c.reply();
  REQUIRE(rep.reply == socks::kRepSucceeded);
  asio::io_context ctx;
  asio::ip::udp::socket u(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::udp::endpoint relay(asio::ip::make_address("127.0.0.1"), rep.addr.port);
  B dgram = B{0, 0, 0, 1, 127, 0, 0, 1} + port_be(echo.port()) + str("once");
  std::optional<B> got;
  for (int i = 0; i < 5 && !got; ++i) {
    u.send_to(asio::buffer(dgram), relay);
    got = recv_datagram(u, 1000);
  }
  CHECK(got == dgram);
  // No more traffic: the server ends the association and closes the control connection.
  CHECK(c.closed());
  CHECK(drained(svc));
}

TEST_CASE("socks5 UDP through the connector: associate() and a udp connect()",
          "[socks][socks5][udp]") {
  Fixture f;
  test::UdpEchoServer echo;
  Fixture::Opts o;
  o.md.set("udp", "true");
  auto svc = f.start("socks5", o);
  auto c = f.connector("socks5");
  auto r = f.run(udp_echo_via(c, svc->address(), local(echo.port()), "datagram"));
  CHECK_FALSE(r.ec);
  CHECK(r.data == "datagram");
  CHECK(r.from == local(echo.port()));
  auto s = f.run(udp_stream_echo_via(c, svc->address(), local(echo.port()), "stream datagram"));
  CHECK_FALSE(s.ec);
  CHECK(s.data == "stream datagram");
  CHECK(drained(svc));

  // The association fails once the server closes the control connection.
  auto ec = f.run(associate_then_wait(c, svc->address(), svc));
  CHECK(ec);
  CHECK(ec != errc::timeout);

  // A relay announced as 0.0.0.0 is reached at the proxy's address: the control connection's
  // peer, or the node's configured address (by name here).
  Fixture::Opts po = o;
  po.md.set("publicAddr", "0.0.0.0");
  auto anon = f.start("socks5", po);
  auto a1 = f.run(udp_echo_via(c, anon->address(), local(echo.port()), "unspecified bnd"));
  CHECK(a1.data == "unspecified bnd");
  auto named = f.connector("socks5", {}, {}, Address("localhost", anon->address().port));
  auto a2 = f.run(udp_echo_via(named, anon->address(), local(echo.port()), "node by name"));
  CHECK(a2.data == "node by name");

  // udp disabled on the server (0x02, as GOST answers): the connector reports forbidden.
  auto off = f.start("socks5");
  auto d = f.run(udp_echo_via(c, off->address(), local(echo.port()), "x"));
  CHECK(d.ec == errc::forbidden);
}

TEST_CASE("socks5 UDP and CONNECT through a chain (connector -> handler -> handler -> echo)",
          "[socks][socks5][udp][chain]") {
  Fixture f;
  test::UdpEchoServer uecho;
  test::EchoServer techo;
  Fixture::Opts o;
  o.md.set("udp", "true");
  auto last = f.start("socks5", o);
  Fixture::Opts first_opts = o;
  first_opts.router = std::make_shared<Router>(f.chain_via("socks5", last->address()));
  auto first = f.start("socks5", first_opts);
  auto c = f.connector("socks5");
  auto u = f.run(udp_echo_via(c, first->address(), local(uecho.port()), "two hops"));
  CHECK_FALSE(u.ec);
  CHECK(u.data == "two hops");
  CHECK(u.from == local(uecho.port()));
  auto t = f.run(echo_via(c, first->address(), local(techo.port()), "tcp two hops"));
  CHECK(t.data == "tcp two hops");
  CHECK(last->stats().total_conns >= 2);
}

TEST_CASE("socks5 malformed, truncated and slow handshakes are closed; others still served",
          "[socks][socks5][robust]") {
  Fixture f;
  test::EchoServer echo;
  Fixture::Opts o;
  o.md.set("readTimeout", "300ms");
  auto svc = f.start("socks5", o);
  Raw slow(svc->address().port);  // sends nothing
  Raw half(svc->address().port);  // a truncated greeting
  half.send(B{5, 3, 0});
  Raw trunc_req(svc->address().port);  // greeting, then half a request
  trunc_req.send(B{5, 1, 0, 5, 1, 0, 3, 200, 'a', 'b'});
  Raw garbage(svc->address().port);
  garbage.send(str("GET / HTTP/1.1\r\n\r\n"));
  Raw nomethods(svc->address().port);
  nomethods.send(B{5, 0});

  // Meanwhile a well-behaved client is served.
  auto r = f.run(echo_via(f.connector("socks5"), svc->address(), local(echo.port()), "still here"));
  CHECK(r.data == "still here");

  CHECK(garbage.closed());
  CHECK(nomethods.closed());
  CHECK(slow.closed());
  CHECK(half.closed());
  CHECK(trunc_req.recv(2) == B{5, 0});
  CHECK(trunc_req.closed());
  CHECK(drained(svc));
  CHECK(echo.accepted() == 1);
}

// ------------------------------------------------------------------------------------- SOCKS4

TEST_CASE("socks4 and socks4a connect from raw bytes", "[socks][socks4]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("socks4");
  {
    Raw c(svc->address().port);
    c.send(B{4, 1} + port_be(echo.port()) + B{127, 0, 0, 1} + str("fred") + B{0} + str("hi"));
    // Granted with DSTPORT and DSTIP zero, as GOST sends it.
    CHECK(c.recv(8) == B{0, socks::kSocks4Granted, 0, 0, 0, 0, 0, 0});
    CHECK(c.recv(2) == str("hi"));
  }
  {
    Raw c(svc->address().port);
    c.send(B{4, 1} + port_be(echo.port()) + B{0, 0, 0, 1, 0} + str("localhost") + B{0});
    auto rep = c.recv(8);
    CHECK(rep[1] == socks::kSocks4Granted);
    c.send(str("4a"));
    CHECK(c.recv(2) == str("4a"));
  }
  // Unknown command -> 91.
  {
    Raw c(svc->address().port);
    c.send(B{4, 7} + port_be(echo.port()) + B{127, 0, 0, 1, 0});
    auto rep = c.recv(8);
    CHECK(rep[1] == socks::kSocks4Rejected);
    CHECK(c.closed());
  }
  // An oversized user id is refused without a crash.
  {
    Raw c(svc->address().port);
    c.send(B{4, 1} + port_be(echo.port()) + B{127, 0, 0, 1} + B(2000, 'u'));
    CHECK(c.closed());
  }
}

TEST_CASE("socks4 connectors: socks4 resolves locally, socks4a sends names", "[socks][socks4]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("socks4a");
  auto r4 = f.run(
      echo_via(f.connector("socks4"), svc->address(), Address("localhost", echo.port()), "v4"));
  CHECK_FALSE(r4.ec);
  CHECK(r4.data == "v4");
  auto r4a = f.run(
      echo_via(f.connector("socks4a"), svc->address(), Address("localhost", echo.port()), "v4a"));
  CHECK(r4a.data == "v4a");
  Metadata md;
  md.set("disable4a", "true");
  auto rd =
      f.run(echo_via(f.connector("socks4a", {}, md), svc->address(), local(echo.port()), "d"));
  CHECK(rd.data == "d");
  // IPv6 targets cannot be expressed in SOCKS4.
  auto r6 =
      f.run(echo_via(f.connector("socks4"), svc->address(), Address("::1", echo.port()), "x"));
  CHECK(r6.ec == errc::unsupported);
  // udp is not a SOCKS4 thing.
  auto ru = f.run(open_error(f.connector("socks4"), svc->address(), "udp", local(echo.port())));
  CHECK(ru == errc::unsupported);
}

TEST_CASE("socks4 user id check, bypass and refused targets give 91", "[socks][socks4]") {
  Fixture f;
  test::EchoServer echo;
  Fixture::Opts o;
  o.auther = make_static_auther({{"fred", ""}});
  auto bp = make_bypass({"10.0.0.0/8"});
  REQUIRE(bp);
  o.bypass = *bp;
  auto svc = f.start("socks4", o);
  auto ok = f.run(echo_via(f.connector("socks4", Credentials{"fred", ""}), svc->address(),
                           local(echo.port()), "ok"));
  CHECK(ok.data == "ok");
  auto bad = f.run(echo_via(f.connector("socks4", Credentials{"mallory", ""}), svc->address(),
                            local(echo.port()), "x"));
  CHECK(bad.ec == errc::proxy_error);
  auto byp = f.run(echo_via(f.connector("socks4", Credentials{"fred", ""}), svc->address(),
                            Address("10.1.2.3", 80), "x"));
  CHECK(byp.ec == errc::proxy_error);
  CHECK(echo.accepted() == 1);
}

TEST_CASE("socks4 BIND", "[socks][socks4][bind]") {
  Fixture f;
  Fixture::Opts o;
  o.md.set("bind", "true");
  auto svc = f.start("socks4", o);
  Raw c(svc->address().port);
  c.send(B{4, 2, 0, 21, 127, 0, 0, 1, 0});
  auto first = c.recv(8);
  REQUIRE(first[1] == socks::kSocks4Granted);
  auto fp = socks::parse_socks4_reply(first);
  REQUIRE(fp.ok());
  CHECK(fp.value.addr.host == "127.0.0.1");
  asio::io_context ctx;
  auto peer = test::connect_blocking(ctx, fp.value.addr.port);
  auto second = socks::parse_socks4_reply(c.recv(8));
  REQUIRE(second.ok());
  CHECK(second.value.code == socks::kSocks4Granted);
  CHECK(second.value.addr == local(peer.local_endpoint().port()));
  asio::write(peer, asio::buffer(std::string("x")));
  CHECK(c.recv(1) == str("x"));
}

TEST_CASE("socks4 slow and truncated handshakes are closed", "[socks][socks4][robust]") {
  Fixture f;
  Fixture::Opts o;
  o.md.set("readTimeout", "300ms");
  auto svc = f.start("socks4", o);
  Raw slow(svc->address().port);
  Raw trunc(svc->address().port);
  trunc.send(B{4, 1, 0, 80, 127, 0});
  Raw noterm(svc->address().port);
  noterm.send(B{4, 1, 0, 80, 0, 0, 0, 1, 'u', 0, 'h', 'o', 's', 't'});
  CHECK(slow.closed());
  CHECK(trunc.closed());
  CHECK(noterm.closed());
  CHECK(drained(svc));
}

// ------------------------------------------------------------------------------------- curl

TEST_CASE("curl through the socks handlers", "[socks][curl]") {
  if (run_command("command -v curl").empty()) {
    WARN("curl not installed: skipped");
    return;
  }
  Fixture f;
  HttpServer http;
  Fixture::Opts o;
  o.auther = make_static_auther({{"alice", "secret"}});
  auto s5 = f.start("socks5", o);
  auto s4 = f.start("socks4a");
  const std::string url = " http://localhost:" + std::to_string(http.port()) + "/";
  const std::string base = "curl -s --max-time 10 ";
  auto p5 = std::to_string(s5->address().port);
  auto p4 = std::to_string(s4->address().port);
  CHECK(run_command(base + "--proxy-user alice:secret --socks5-hostname 127.0.0.1:" + p5 + url) ==
        "hello socks");
  CHECK(run_command(base + "--proxy-user alice:secret --socks5 127.0.0.1:" + p5 + url) ==
        "hello socks");
  CHECK(run_command(base + "--proxy-user alice:wrong --socks5-hostname 127.0.0.1:" + p5 + url)
            .empty());
  CHECK(run_command(base + "--socks4a 127.0.0.1:" + p4 + url) == "hello socks");
  CHECK(run_command(base + "--socks4 127.0.0.1:" + p4 + url) == "hello socks");
}
