// The http handler and connector in process: a gost::Service on 127.0.0.1:0 (core tcp listener +
// http handler) driven by raw sockets, by the http connector and by curl, in front of a small
// HTTP origin server and an echo server written here.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gost/core.hpp"
#include "gost/http/http.hpp"
#include "core/buffer_pool.hpp"
#include "http/codec.hpp"
#include "support.hpp"

using namespace gost;
using namespace std::chrono_literals;
namespace ghttp = gost::http;

namespace {

using Clock = std::chrono::steady_clock;

Bytes bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// ---- a small HTTP/1.1 origin server (keep-alive, Content-Length and chunked bodies) ----------

struct Seen {
  int conn = 0;
  std::string method, target;
  ghttp::Headers headers;
  std::string body;
};

class Origin {
 public:
  Origin() : acc_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ctx_, accept_loop(), [](std::exception_ptr) {});
    th_ = std::thread([this] { ctx_.run(); });
  }
  ~Origin() {
    ctx_.stop();
    th_.join();
  }
  std::uint16_t port() const { return acc_.local_endpoint().port(); }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port()); }
  std::string url(std::string_view path) const {
    return "http://" + authority() + std::string(path);
  }
  int connections() const { return conns_.load(); }
  std::vector<Seen> seen() {
    std::lock_guard lk(mu_);
    return seen_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, s] = co_await acc_.async_accept(test::use_tuple);
      if (ec) co_return;
      const int id = ++conns_;
      asio::co_spawn(ctx_, serve(std::make_unique<TcpStream>(std::move(s)), id),
                     [](std::exception_ptr) {});
    }
  }

  static std::string respond(int status, std::string_view body, std::string_view extra = {}) {
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(ghttp::reason_phrase(status)) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra) +
           "\r\n" + std::string(body);
  }

  asio::awaitable<void> serve(StreamPtr s, int id) {
    StreamReader rd(*s, 4 * 1024 * 1024);  // whole request bodies are buffered here
    for (;;) {
      std::optional<ghttp::RequestHead> head;
      while (!head) {
        auto p = ghttp::parse_request_head(Bytes(rd.data(), rd.size()));
        if (p.failed()) co_return;
        if (p.ok()) {
          rd.consume(p.consumed);
          head = std::move(p.value);
        } else if (co_await rd.fill()) {
          co_return;
        }
      }
      Seen r;
      r.conn = id;
      r.method = head->method;
      r.target = head->target;
      r.headers = head->headers;
      auto f = ghttp::request_framing(*head);
      if (!f) co_return;
      if (f->kind == ghttp::BodyKind::length) {
        if (co_await rd.need(f->length)) co_return;
        r.body.assign(reinterpret_cast<const char*>(rd.data()), f->length);
        rd.consume(f->length);
      } else if (f->kind == ghttp::BodyKind::chunked) {
        ghttp::ChunkedScanner sc;
        while (!sc.done()) {
          if (rd.size() == 0 && co_await rd.fill()) co_return;
          Bytes data;
          auto k = sc.feed(Bytes(rd.data(), rd.size()), &data);
          if (sc.failed()) co_return;
          r.body.append(reinterpret_cast<const char*>(data.data()), data.size());
          rd.consume(k);
        }
      }
      {
        std::lock_guard lk(mu_);
        seen_.push_back(r);
      }
      const std::string& t = head->target;
      const bool close = head->headers.has_token("Connection", "close");
      std::string out;
      if (t == "/close") {
        out = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close body";
        co_await write_all(*s, asio::buffer(out));
        co_await s->shutdown_write();
        co_return;
      } else if (t == "/chunked") {
        out =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, "
            "world\r\n0\r\nX-T: 1\r\n\r\n";
      } else if (t == "/ws" && head->headers.has_token("Upgrade", "websocket") &&
                 head->headers.has_token("Connection", "upgrade")) {
        out =
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        if (co_await write_all(*s, asio::buffer(out))) co_return;
        // Now a raw echo.
        std::vector<unsigned char> pending(rd.data(), rd.data() + rd.size());
        if (!pending.empty() && co_await write_all(*s, asio::buffer(pending))) co_return;
        char buf[4096];
        for (;;) {
          auto rr = co_await s->read_some(asio::buffer(buf));
          if (rr.ec || rr.bytes == 0) co_return;
          if (co_await write_all(*s, asio::buffer(buf, rr.bytes))) co_return;
        }
      } else if (t.rfind("/big/", 0) == 0) {
        std::string body(std::stoul(t.substr(5)), '\0');
        for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
        out = respond(200, body);
      } else if (t == "/echo") {
        out = respond(200, r.body);
      } else if (t == "/nocontent") {
        out = "HTTP/1.1 204 No Content\r\n\r\n";
      } else if (t == "/interim") {
        out = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + respond(200, "after hints");
      } else {
        out = respond(200, "path=" + t);
      }
      if (head->method == "HEAD") out = out.substr(0, out.find("\r\n\r\n") + 4);
      if (co_await write_all(*s, asio::buffer(out))) co_return;
      if (close) {
        co_await s->shutdown_write();
        co_return;
      }
    }
  }

  asio::io_context ctx_;
  asio::ip::tcp::acceptor acc_;
  std::thread th_;
  std::atomic<int> conns_{0};
  std::mutex mu_;
  std::vector<Seen> seen_;
};

// ---- a blocking client with deadlines on every read --------------------------------------------

struct Response {
  ghttp::ResponseHead head;
  std::string body;
  const std::string* header(std::string_view n) const { return head.headers.find(n); }
};

class Client {
 public:
  explicit Client(std::uint16_t port) : s_(test::connect_blocking(ctx_, port)) {}

  void send(std::string_view data) { asio::write(s_, asio::buffer(data)); }
  void shutdown_write() { s_.shutdown(asio::ip::tcp::socket::shutdown_send); }

  // Reads more into the buffer; false on EOF, error or when the deadline passed.
  bool fill(Clock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{s_.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char b[16384];
    auto n = ::recv(s_.native_handle(), b, sizeof b, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }

  // Reads one response (body decoded from its framing; chunked bodies de-chunked).
  std::optional<Response> response(std::string_view method = "GET",
                                   std::chrono::seconds limit = 10s) {
    const auto deadline = Clock::now() + limit;
    Response r;
    for (;;) {
      auto p = ghttp::parse_response_head(bytes(buf_));
      if (p.failed()) return std::nullopt;
      if (p.ok()) {
        buf_.erase(0, p.consumed);
        r.head = std::move(p.value);
        break;
      }
      if (!fill(deadline)) return std::nullopt;
    }
    auto f = ghttp::response_framing(r.head, method);
    if (!f) return std::nullopt;
    switch (f->kind) {
      case ghttp::BodyKind::none:
        break;
      case ghttp::BodyKind::length:
        while (buf_.size() < f->length) {
          if (!fill(deadline)) return std::nullopt;
        }
        r.body = buf_.substr(0, f->length);
        buf_.erase(0, f->length);
        break;
      case ghttp::BodyKind::chunked: {
        ghttp::ChunkedScanner sc;
        while (!sc.done()) {
          if (buf_.empty() && !fill(deadline)) return std::nullopt;
          Bytes data;
          auto k = sc.feed(bytes(buf_), &data);
          if (sc.failed()) return std::nullopt;
          r.body.append(reinterpret_cast<const char*>(data.data()), data.size());
          buf_.erase(0, k);
        }
        break;
      }
      case ghttp::BodyKind::until_close:
        while (fill(deadline)) {
        }
        if (!eof_) return std::nullopt;
        r.body = std::move(buf_);
        buf_.clear();
        break;
    }
    return r;
  }

  std::string read_exact(std::size_t n, std::chrono::seconds limit = 10s) {
    const auto deadline = Clock::now() + limit;
    while (buf_.size() < n && fill(deadline)) {
    }
    auto out = buf_.substr(0, std::min(n, buf_.size()));
    buf_.erase(0, out.size());
    return out;
  }

  // True when the server closes the connection within `limit` (what it sends is dropped).
  bool closed_within(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!eof_) {
      buf_.clear();
      if (!fill(deadline) && !eof_) return false;
    }
    return true;
  }
  const std::string& buffered() const { return buf_; }

 private:
  asio::io_context ctx_;
  asio::ip::tcp::socket s_;
  std::string buf_;
  bool eof_ = false;
};

std::uint16_t dead_port() {
  asio::io_context c;
  asio::ip::tcp::acceptor a(c, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// ---- the proxy under test ----------------------------------------------------------------------

struct ProxyOptions {
  Metadata md;
  AutherPtr auther;
  BypassPtr bypass;
  LoggerPtr logger;
};

struct Fixture {
  Runtime rt{2};
  Registry reg;
  std::vector<ServicePtr> services;

  Fixture() {
    register_core(reg);
    ghttp::register_module(reg);
    rt.start();
  }
  ~Fixture() {
    for (auto& s : services) s->stop();
    for (auto& s : services) s->wait_stopped(5s);
    services.clear();
    rt.stop();
    rt.join();
  }

  HandlerArgs handler_args(const ProxyOptions& o) {
    HandlerArgs ha;
    ha.runtime = &rt;
    ha.service = "http-test";
    ha.metadata = o.md;
    ha.router = std::make_shared<Router>();
    ha.auther = o.auther;
    ha.bypass = o.bypass;
    ha.logger = o.logger;
    return ha;
  }

  std::uint16_t start(const ProxyOptions& o = {}) {
    ListenerArgs la;
    la.runtime = &rt;
    la.service = "http-test";
    la.addr = Address("127.0.0.1", 0);
    auto l = (*reg.listener("tcp"))(la);
    REQUIRE(l);
    auto h = (*reg.handler("http"))(handler_args(o));
    REQUIRE(h);
    ServiceOptions so;
    so.name = "http-test";
    so.protocol = "http";
    so.logger = std::make_shared<Logger>(LogLevel::none);
    auto svc = std::make_shared<Service>(rt, so, std::move(*l), std::move(*h));
    REQUIRE_FALSE(svc->start());
    services.push_back(svc);
    return svc->address().port;
  }
};

// Runs the handler directly on one accepted connection so the test can read its ConnRecord.
class Direct {
 public:
  Direct(Fixture& f, const ProxyOptions& o)
      : acc_(f.rt.context(0), {asio::ip::make_address("127.0.0.1"), 0}) {
    auto h = ghttp::make_http_handler(f.handler_args(o));
    REQUIRE(h);
    handler_ = *h;
  }
  std::uint16_t port() const { return acc_.local_endpoint().port(); }
  // Accepts the connection the test has opened and serves it. With peek, the first byte is
  // read here and handed over in front of the stream, as the auto handler does.
  void serve(bool peek = false) {
    auto sock = acc_.accept();
    StreamPtr s = std::make_unique<TcpStream>(std::move(sock));
    if (peek) {
      std::vector<unsigned char> first(1);
      asio::read(static_cast<TcpStream&>(*s).socket(), asio::buffer(first));
      s = make_prefixed(std::move(s), std::move(first));
    }
    result_ = done_.get_future();
    asio::co_spawn(acc_.get_executor(), run(handler_, std::move(s)),
                   [this](std::exception_ptr e, ConnRecord rec) {
                     if (e)
                       done_.set_exception(e);
                     else
                       done_.set_value(std::move(rec));
                   });
  }
  ConnRecord record() {
    REQUIRE(result_.valid());
    REQUIRE(result_.wait_for(20s) == std::future_status::ready);
    return result_.get();
  }
  // The handler's coroutine refers to done_: wait for it (bounded) before going away. The test
  // has closed its client by then (clients are declared after the Direct they talk to).
  ~Direct() {
    if (result_.valid()) result_.wait_for(20s);
  }

 private:
  static asio::awaitable<ConnRecord> run(HandlerPtr h, StreamPtr s) {
    ConnRecord rec;
    rec.client = s->remote_address();
    co_await run_handler(*h, std::move(s), rec);  // runs the relay a CONNECT hands over
    co_return rec;
  }
  asio::ip::tcp::acceptor acc_;
  HandlerPtr handler_;
  std::promise<ConnRecord> done_;
  std::future<ConnRecord> result_;
};

AutherPtr alice() { return make_static_auther({{"alice", "s3cret"}}); }

std::string get(const Origin& o, std::string_view path, std::string_view extra = {}) {
  return "GET " + o.url(path) + " HTTP/1.1\r\nHost: " + o.authority() + "\r\n" +
         std::string(extra) + "\r\n";
}

}  // namespace

// ---- CONNECT -----------------------------------------------------------------------------------

TEST_CASE("CONNECT tunnels to the target, early bytes included", "[http][handler]") {
  Fixture f;
  test::EchoServer echo;
  auto port = f.start();
  Client c(port);
  const std::string target = "127.0.0.1:" + std::to_string(echo.port());
  // The first tunnelled bytes travel in the same segment as the CONNECT head.
  c.send("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\nearly");
  auto r = c.response("CONNECT");
  REQUIRE(r);
  CHECK(r->head.status == 200);
  CHECK(r->head.reason == "Connection established");
  REQUIRE(r->header("Proxy-Agent"));
  CHECK(*r->header("Proxy-Agent") == "gost/3.0");
  CHECK(c.read_exact(5) == "early");
  c.send("more bytes");
  CHECK(c.read_exact(10) == "more bytes");
  c.shutdown_write();
  CHECK(c.closed_within(5s));
}

TEST_CASE("CONNECT fills the connection record", "[http][handler]") {
  Fixture f;
  test::EchoServer echo;
  ProxyOptions o;
  o.auther = alice();
  Direct d(f, o);
  Client c(d.port());
  d.serve();
  const std::string target = "127.0.0.1:" + std::to_string(echo.port());
  c.send("CONNECT " + target + " HTTP/1.1\r\nProxy-Authorization: " +
         ghttp::basic_auth_value({"alice", "s3cret"}) + "\r\n\r\n");
  auto r = c.response("CONNECT");
  REQUIRE(r);
  CHECK(r->head.status == 200);
  c.send("12345");
  CHECK(c.read_exact(5) == "12345");
  c.shutdown_write();
  CHECK(c.closed_within(5s));
  auto rec = d.record();
  CHECK(rec.protocol == "http");
  CHECK(rec.target == target);
  CHECK(rec.user == "alice");
  CHECK(rec.route == "direct");
  CHECK(rec.bytes_up == 5);
  CHECK(rec.bytes_down >= 5);
  CHECK_FALSE(rec.ec);
}

TEST_CASE("metadata header and proxyAgent shape the proxy's own responses", "[http][handler]") {
  Fixture f;
  test::EchoServer echo;
  ProxyOptions o;
  o.md.set("proxyAgent", "agent/9");
  o.md.set("header", R"({"X-Proxy":"yes","X-Other":"2"})");
  auto port = f.start(o);
  Client c(port);
  c.send("CONNECT 127.0.0.1:" + std::to_string(echo.port()) + " HTTP/1.1\r\n\r\n");
  auto r = c.response("CONNECT");
  REQUIRE(r);
  CHECK(r->head.status == 200);
  CHECK(*r->header("proxy-agent") == "agent/9");
  CHECK(*r->header("x-proxy") == "yes");
  CHECK(*r->header("x-other") == "2");
}

TEST_CASE("CONNECT to a dead port answers 503 and closes", "[http][handler]") {
  Fixture f;
  auto port = f.start();
  Client c(port);
  c.send("CONNECT 127.0.0.1:" + std::to_string(dead_port()) + " HTTP/1.1\r\n\r\n");
  auto r = c.response("CONNECT");
  REQUIRE(r);
  CHECK(r->head.status == 503);
  CHECK(r->head.headers.has_token("Connection", "close"));
  CHECK(c.closed_within(5s));
}

// ---- absolute-URI forwarding -------------------------------------------------------------------

TEST_CASE("GET is rewritten to origin-form with hop-by-hop fields dropped", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  Client c(port);
  c.send("GET " + o.url("/abs?q=1#frag") +
         " HTTP/1.1\r\nHost: wrong.example\r\nProxy-Connection: keep-alive\r\nConnection: X-Hop, "
         "keep-alive\r\n"
         "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-End: kept\r\n\r\n");
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->head.status == 200);
  CHECK(r->body == "path=/abs?q=1");
  auto seen = o.seen();
  REQUIRE(seen.size() == 1);
  const auto& h = seen[0].headers;
  CHECK(seen[0].target == "/abs?q=1");
  REQUIRE(h.find("Host"));
  CHECK(*h.find("Host") == o.authority());
  for (auto name :
       {"Proxy-Connection", "Connection", "X-Hop", "Keep-Alive", "TE", "Proxy-Authorization"}) {
    INFO(name);
    CHECK_FALSE(h.contains(name));
  }
  CHECK(*h.find("X-End") == "kept");
}

TEST_CASE("keep-alive: several requests on one connection, one upstream, then another origin",
          "[http][handler]") {
  Fixture f;
  Origin o1, o2;
  auto port = f.start();
  Client c(port);
  c.send(get(o1, "/one"));
  auto a = c.response();
  REQUIRE(a);
  CHECK(a->body == "path=/one");
  c.send(get(o1, "/two"));
  auto b = c.response();
  REQUIRE(b);
  CHECK(b->body == "path=/two");
  CHECK(o1.connections() == 1);  // the upstream connection was reused
  // A different target on the same client connection.
  c.send(get(o2, "/three"));
  auto d = c.response();
  REQUIRE(d);
  CHECK(d->body == "path=/three");
  // Back to the first: a new upstream connection.
  c.send(get(o1, "/four"));
  auto e = c.response();
  REQUIRE(e);
  CHECK(e->body == "path=/four");
  CHECK(o1.seen().size() == 3);
  CHECK(o2.seen().size() == 1);
}

TEST_CASE("pipelined requests are answered in order", "[http][handler]") {
  Fixture f;
  Origin o;
  ProxyOptions opt;  // with debug logging on, to run that path too
  opt.logger = std::make_shared<Logger>(LogLevel::trace, LogFormat::json,
                                        std::fopen("/dev/null", "w"), true);
  auto port = f.start(opt);
  Client c(port);
  c.send(get(o, "/p1") + get(o, "/p2") + get(o, "/p3"));
  for (auto p : {"/p1", "/p2", "/p3"}) {
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->body == std::string("path=") + p);
  }
}

TEST_CASE("POST bodies: Content-Length and chunked, then a chunked response", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  Client c(port);
  std::string big(200000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('0' + i % 10);
  c.send("POST " + o.url("/echo") + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
         std::to_string(big.size()) + "\r\n\r\n" + big);
  auto a = c.response();
  REQUIRE(a);
  CHECK(a->head.status == 200);
  CHECK(a->body == big);

  c.send("POST " + o.url("/echo") +
         " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
         "chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n");
  auto b = c.response();
  REQUIRE(b);
  CHECK(b->body == "Wikipedia");

  c.send(get(o, "/chunked"));
  auto d = c.response();
  REQUIRE(d);
  CHECK(d->head.headers.has_token("Transfer-Encoding", "chunked"));
  CHECK(d->body == "hello, world");
  // Still usable afterwards: the chunked framing (trailer included) was followed exactly.
  c.send(get(o, "/after"));
  auto e = c.response();
  REQUIRE(e);
  CHECK(e->body == "path=/after");
  CHECK(o.connections() == 1);
}

TEST_CASE("Expect: 100-continue gets a 100 from the proxy", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  Client c(port);
  c.send("POST " + o.url("/echo") +
         " HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.response();
  REQUIRE(interim);
  CHECK(interim->head.status == 100);
  c.send("data");
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->body == "data");
  CHECK_FALSE(o.seen().at(0).headers.contains("Expect"));
}

TEST_CASE("HEAD, 204 and 1xx responses carry no body", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  Client c(port);
  c.send("HEAD " + o.url("/h") + " HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = c.response("HEAD");
  REQUIRE(a);
  CHECK(a->head.status == 200);
  CHECK(*a->header("Content-Length") == "7");
  c.send(get(o, "/nocontent"));
  auto b = c.response();
  REQUIRE(b);
  CHECK(b->head.status == 204);
  c.send(get(o, "/interim"));
  auto hints = c.response();
  REQUIRE(hints);
  CHECK(hints->head.status == 103);
  auto d = c.response();
  REQUIRE(d);
  CHECK(d->body == "after hints");
  c.send(get(o, "/x"));
  auto e = c.response();
  REQUIRE(e);
  CHECK(e->body == "path=/x");
}

TEST_CASE("Connection: close is honoured", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  Client c(port);
  c.send(get(o, "/bye", "Connection: close\r\n"));
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->body == "path=/bye");
  CHECK(r->head.headers.has_token("Connection", "close"));
  CHECK(c.closed_within(5s));
}

TEST_CASE("a body delimited by the origin's close ends the client connection", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  Client c(port);
  c.send(get(o, "/close"));
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->body == "until-close body");
  CHECK(r->head.headers.has_token("Connection", "close"));
}

TEST_CASE("an HTTP/1.0 client gets a de-chunked body", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  Client c(port);
  c.send("GET " + o.url("/chunked") + " HTTP/1.0\r\n\r\n");
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->head.version_minor == 0);
  CHECK_FALSE(r->head.headers.contains("Transfer-Encoding"));
  CHECK(r->body == "hello, world");
  // An HTTP/1.0 keep-alive request with a sized response keeps the connection.
  Client k(port);
  k.send("GET " + o.url("/k1") + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto a = k.response();
  REQUIRE(a);
  CHECK(a->head.headers.has_token("Connection", "keep-alive"));
  k.send("GET " + o.url("/k2") + " HTTP/1.0\r\n\r\n");
  auto b = k.response();
  REQUIRE(b);
  CHECK(b->body == "path=/k2");
  CHECK(k.closed_within(5s));
}

TEST_CASE("101 Switching Protocols turns the connection into a tunnel", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  Client c(port);
  c.send("GET " + o.url("/ws") +
         " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
         "websocket\r\nSec-WebSocket-Version: 13\r\n\r\n");
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->head.status == 101);
  CHECK(r->head.headers.has_token("Upgrade", "websocket"));
  auto seen = o.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].headers.has_token("Connection", "upgrade"));
  CHECK(seen[0].headers.has_token("Upgrade", "websocket"));
  c.send("\x81\x02hi");
  CHECK(c.read_exact(4) == "\x81\x02hi");
}

TEST_CASE("a dead origin gets 503", "[http][handler]") {
  Fixture f;
  auto port = f.start();
  Client c(port);
  c.send("GET http://127.0.0.1:" + std::to_string(dead_port()) + "/ HTTP/1.1\r\n\r\n");
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->head.status == 503);
  CHECK(c.closed_within(5s));
}

TEST_CASE("a stream whose first byte was already read (auto handler) is served",
          "[http][handler]") {
  Fixture f;
  Origin o;
  test::EchoServer echo;
  {
    Direct d(f, {});
    Client c(d.port());
    c.send(get(o, "/peeked"));
    d.serve(true);
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->body == "path=/peeked");
    c.shutdown_write();
    CHECK(c.closed_within(5s));
    CHECK(d.record().target == o.authority());
  }
  {
    Direct d(f, {});
    Client c(d.port());
    c.send("CONNECT 127.0.0.1:" + std::to_string(echo.port()) + " HTTP/1.1\r\n\r\nabc");
    d.serve(true);
    auto r = c.response("CONNECT");
    REQUIRE(r);
    CHECK(r->head.status == 200);
    CHECK(c.read_exact(3) == "abc");
  }
}

// ---- refusals ----------------------------------------------------------------------------------

TEST_CASE("requests that are neither CONNECT nor absolute http:// get 400", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  for (std::string req :
       {std::string("GET / HTTP/1.1\r\nHost: ") + o.authority() + "\r\n\r\n",
        "GET https://" + o.authority() + "/ HTTP/1.1\r\n\r\n",
        std::string("CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n"),
        std::string("CONNECT 127.0.0.1:0 HTTP/1.1\r\n\r\n"), std::string("PRI * HTTP/1.1\r\n\r\n"),
        "POST " + o.url("/") + " HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET " + o.url("/") + " HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}) {
    INFO(req);
    Client c(port);
    c.send(req);
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->head.status == 400);
    CHECK(c.closed_within(5s));
  }
  CHECK(o.seen().empty());
}

TEST_CASE("Basic proxy authentication: 407 without or with wrong credentials", "[http][handler]") {
  Fixture f;
  Origin o;
  ProxyOptions opt;
  opt.auther = alice();
  auto port = f.start(opt);
  const std::string right =
      "Proxy-Authorization: " + ghttp::basic_auth_value({"alice", "s3cret"}) + "\r\n";
  const std::string wrong =
      "Proxy-Authorization: " + ghttp::basic_auth_value({"alice", "nope"}) + "\r\n";
  for (const std::string& extra :
       {std::string(), wrong, std::string("Proxy-Authorization: Basic !!!\r\n")}) {
    for (bool connect : {false, true}) {
      INFO(extra << " connect=" << connect);
      Client c(port);
      if (connect)
        c.send("CONNECT " + o.authority() + " HTTP/1.1\r\n" + extra + "\r\n");
      else
        c.send(get(o, "/a", extra));
      auto r = c.response(connect ? "CONNECT" : "GET");
      REQUIRE(r);
      CHECK(r->head.status == 407);
      REQUIRE(r->header("Proxy-Authenticate"));
      CHECK(*r->header("Proxy-Authenticate") == "Basic realm=\"gost\"");
      CHECK(c.closed_within(5s));
    }
  }
  CHECK(o.seen().empty());

  Client c(port);
  c.send(get(o, "/ok", right));
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->body == "path=/ok");
  // Later requests of an authenticated connection need not repeat the credentials (as in GOST)...
  c.send(get(o, "/again"));
  auto r2 = c.response();
  REQUIRE(r2);
  CHECK(r2->body == "path=/again");
  // ...but different ones are checked.
  c.send(get(o, "/other", wrong));
  auto r3 = c.response();
  REQUIRE(r3);
  CHECK(r3->head.status == 407);
  auto seen = o.seen();
  REQUIRE(seen.size() == 2);
  CHECK_FALSE(seen[0].headers.contains("Proxy-Authorization"));
}

TEST_CASE("authBasicRealm changes the realm; the client id lands in the record",
          "[http][handler]") {
  Fixture f;
  Origin o;
  ProxyOptions opt;
  opt.auther = alice();
  opt.md.set("authBasicRealm", "corp");
  {
    auto port = f.start(opt);
    Client c(port);
    c.send(get(o, "/"));
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->head.status == 407);
    CHECK(*r->header("Proxy-Authenticate") == "Basic realm=\"corp\"");
  }
  Direct d(f, opt);
  Client c(d.port());
  d.serve();
  c.send(get(o, "/u",
             "Proxy-Authorization: " + ghttp::basic_auth_value({"alice", "s3cret"}) + "\r\n"));
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->head.status == 200);
  c.shutdown_write();
  CHECK(c.closed_within(5s));
  auto rec = d.record();
  CHECK(rec.user == "alice");
  CHECK(rec.target == o.authority());
  CHECK(rec.bytes_up > 0);
  CHECK(rec.bytes_down > r->body.size());
  CHECK_FALSE(rec.ec);
}

TEST_CASE("service bypass refuses with 403", "[http][handler]") {
  Fixture f;
  Origin o;
  ProxyOptions opt;
  auto bp = make_bypass({"127.0.0.2"});
  REQUIRE(bp);
  opt.bypass = *bp;
  auto port = f.start(opt);
  for (bool connect : {false, true}) {
    Client c(port);
    const std::string target = "127.0.0.2:" + std::to_string(o.port());
    if (connect)
      c.send("CONNECT " + target + " HTTP/1.1\r\n\r\n");
    else
      c.send("GET http://" + target + "/ HTTP/1.1\r\n\r\n");
    auto r = c.response(connect ? "CONNECT" : "GET");
    REQUIRE(r);
    CHECK(r->head.status == 403);
    CHECK(c.closed_within(5s));
  }
  CHECK(o.connections() == 0);
  Client ok(port);
  ok.send(get(o, "/fine"));
  auto r = ok.response();
  REQUIRE(r);
  CHECK(r->body == "path=/fine");
}

TEST_CASE("UDP over HTTP is refused", "[http][handler]") {
  Fixture f;
  auto port = f.start();
  Client c(port);
  c.send("CONNECT 127.0.0.1:53 HTTP/1.1\r\nX-Gost-Protocol: udp\r\n\r\n");
  auto r = c.response("CONNECT");
  REQUIRE(r);
  CHECK(r->head.status == 403);
  CHECK(c.closed_within(5s));
}

// ---- bad clients -------------------------------------------------------------------------------

TEST_CASE("garbage, truncated and oversized heads are closed cleanly", "[http][handler]") {
  Fixture f;
  Origin o;
  ProxyOptions opt;
  opt.md.set("readTimeout", "1s");
  auto port = f.start(opt);

  const std::string garbage[] = {
      std::string("\x00\x01\x02\x03\r\n\r\n", 8),
      "GET\r\n\r\n",
      "GET http://[::1/ HTTP/1.1\r\n\r\n",
      "GET " + o.url("/") + " HTTP/9.9\r\n\r\n",
      "POST " + o.url("/") + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET / HTTP/1.1\r\n" +
          [] {
            std::string s;
            for (int i = 0; i < 2000; ++i) s += "X: y\r\n";
            return s;
          }() +
          "\r\n",
  };
  for (const auto& g : garbage) {
    INFO(g.substr(0, 40));
    Client c(port);
    c.send(g);
    CHECK(c.closed_within(5s));
  }
  // Truncated, then FIN.
  for (std::string t : {std::string("G"), "CONNECT " + o.authority() + " HTTP/1.1\r\nHost: x",
                        "GET " + o.url("/") + " HTTP/1.1\r\n"}) {
    INFO(t);
    Client c(port);
    c.send(t);
    c.shutdown_write();
    CHECK(c.closed_within(5s));
  }
  // Oversized: 431 (or a reset while we are still sending), never a 2xx, never at the origin.
  const std::string big(70 * 1024, 'a');
  for (std::string h : {"GET " + o.url("/big-header") + " HTTP/1.1\r\nX-Big: " + big + "\r\n\r\n",
                        "GET " + o.url("/") + big + " HTTP/1.1\r\n\r\n", big + big}) {
    Client c(port);
    try {
      c.send(h);
    } catch (const std::exception&) {
      continue;  // the proxy already closed
    }
    auto r = c.response();
    if (r) CHECK(r->head.status == 431);
    CHECK(c.closed_within(5s));
  }
  CHECK(o.seen().empty());
  Client ok(port);
  ok.send(get(o, "/still-works"));
  auto r = ok.response();
  REQUIRE(r);
  CHECK(r->body == "path=/still-works");
}

TEST_CASE("garbage is recorded as bad_request with a 400", "[http][handler]") {
  Fixture f;
  Direct d(f, {});
  Client c(d.port());
  d.serve();
  c.send("NOT HTTP AT ALL\r\n\r\n");
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->head.status == 400);
  CHECK(c.closed_within(5s));
  auto rec = d.record();
  CHECK(rec.ec == errc::bad_request);
}

TEST_CASE("garbage without a line end is refused at once, not at readTimeout", "[http][handler]") {
  Fixture f;
  ProxyOptions opt;
  opt.md.set("readTimeout", "30s");
  auto port = f.start(opt);
  for (std::string g : {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
                        std::string("\x05\x01\x00", 3), std::string("GET /a b")}) {
    const auto t0 = Clock::now();
    Client c(port);
    c.send(g);
    auto r = c.response("GET", 5s);
    REQUIRE(r);
    CHECK(r->head.status == 400);
    CHECK(c.closed_within(5s));
    CHECK(Clock::now() - t0 < 5s);
  }
}

TEST_CASE("a slow head is cut at readTimeout while other clients are served", "[http][handler]") {
  Fixture f;
  Origin o;
  ProxyOptions opt;
  opt.md.set("readTimeout", "500ms");
  Direct d(f, opt);
  auto port = f.start(opt);
  Client slow(d.port());
  d.serve();
  const auto t0 = Clock::now();
  slow.send("GET " + o.url("/slow") + " HTTP/1.1\r\n");
  // Meanwhile, a normal client of the same handler configuration is served.
  Client ok(port);
  ok.send(get(o, "/meanwhile"));
  auto r = ok.response();
  REQUIRE(r);
  CHECK(r->body == "path=/meanwhile");
  CHECK(slow.closed_within(5s));
  const auto dt = Clock::now() - t0;
  CHECK(dt >= 400ms);
  CHECK(dt < 5s);
  auto rec = d.record();
  CHECK(rec.ec == errc::timeout);

  // A silent client too.
  Client silent(port);
  CHECK(silent.closed_within(5s));
}

TEST_CASE("after a parked wait, a slow next head is still cut at readTimeout", "[http][handler]") {
  Fixture f;
  Origin o;
  ProxyOptions opt;
  opt.md.set("readTimeout", "400ms");
  opt.md.set("idleTimeout", "10s");  // the wait between requests is not what ends it
  auto port = f.start(opt);
  Client c(port);
  c.send(get(o, "/first"));
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->body == "path=/first");
  // The session parks; the first bytes of the next head resume it, then nothing more comes.
  c.send("GET " + o.url("/second") + " HTTP/1.1\r\n");
  const auto t0 = Clock::now();
  CHECK(c.closed_within(5s));
  const auto dt = Clock::now() - t0;
  CHECK(dt >= 300ms);
  CHECK(dt < 5s);
}

TEST_CASE("an idle keep-alive connection is closed after idleTimeout", "[http][handler]") {
  Fixture f;
  Origin o;
  ProxyOptions opt;
  opt.md.set("idleTimeout", "300ms");
  auto port = f.start(opt);
  Client c(port);
  c.send(get(o, "/x"));
  auto r = c.response();
  REQUIRE(r);
  const auto t0 = Clock::now();
  CHECK(c.closed_within(5s));
  CHECK(Clock::now() - t0 >= 200ms);
}

namespace {
// Read or copy buffers held by connections of the runtime's threads (both counters are kept per
// thread; each is read on its own thread).
long buffers_held(Runtime& rt) {
  long total = 0;
  for (std::size_t i = 0; i < rt.size(); ++i) {
    std::promise<long> p;
    auto fut = p.get_future();
    asio::post(rt.executor(i), [&p] { p.set_value(StreamReader::holding() + core::PooledBuffer::outstanding()); });
    REQUIRE(fut.wait_for(5s) == std::future_status::ready);
    total += fut.get();
  }
  return total;
}
// Polls buffers_held() until it equals want (bounded): the handler reaches its wait for the
// next request a moment after the client has the response.
bool buffers_held_become(Runtime& rt, long want) {
  const auto limit = Clock::now() + 5s;
  for (int i = 0; i < 1000 && Clock::now() < limit; ++i) {
    if (buffers_held(rt) == want) return true;
    std::this_thread::sleep_for(5ms);
  }
  return buffers_held(rt) == want;
}
}  // namespace

TEST_CASE("an idle keep-alive connection holds no read or copy buffer", "[http][handler]") {
  Fixture f;
  Origin o;
  auto port = f.start();
  const long base = buffers_held(f.rt);
  Client c(port);
  // Half a head: the handler's reader holds storage while it reads (the counters see it).
  const std::string req = get(o, "/big/200000");
  c.send(req.substr(0, req.size() - 2));
  CHECK(buffers_held_become(f.rt, base + 1));
  c.send(req.substr(req.size() - 2));
  auto r = c.response();
  REQUIRE(r);
  CHECK(r->body.size() == 200000);
  // A 200,000-byte body went through the copy buffer; between requests nothing is held.
  CHECK(buffers_held_become(f.rt, base));
  // The connection still serves the next request, and is idle again afterwards.
  c.send(get(o, "/again"));
  auto r2 = c.response();
  REQUIRE(r2);
  CHECK(r2->body == "path=/again");
  CHECK(buffers_held_become(f.rt, base));
  CHECK(o.connections() == 1);  // the origin connection was kept too
}

namespace {
// Drives the handler as Service does, reporting each step: whether handle() / resume() left the
// connection parked (steps[0], steps[1], ...). Ends when the session is done.
asio::awaitable<void> drive_parking(Handler* h, StreamPtr s, ConnRecord* rec,
                                    std::vector<std::promise<bool>>* steps) {
  co_await h->handle(std::move(s), *rec);
  std::size_t i = 0;
  (*steps)[i++].set_value(rec->parked != nullptr);
  while (rec->parked && i < steps->size()) {
    auto w = co_await rec->parked->client().wait_readable();
    bool again = false;
    if (!w) again = co_await rec->parked->resume(*rec);
    if (!again) rec->parked.reset();
    (*steps)[i++].set_value(again);
  }
}
}  // namespace

TEST_CASE("between keep-alive requests handle() returns with the session parked", "[http][handler]") {
  Fixture f;
  Origin o;
  auto h = ghttp::make_http_handler(f.handler_args({}));
  REQUIRE(h);
  asio::ip::tcp::acceptor acc(f.rt.context(0), {asio::ip::make_address("127.0.0.1"), 0});
  Client c(acc.local_endpoint().port());
  ConnRecord rec;
  std::vector<std::promise<bool>> steps(3);
  std::vector<std::future<bool>> got;
  for (auto& p : steps) got.push_back(p.get_future());
  asio::co_spawn(acc.get_executor(),
                 drive_parking((*h).get(), std::make_unique<TcpStream>(acc.accept()), &rec, &steps),
                 asio::detached);
  // One request answered, then the session is parked (step `i` reports true).
  auto answered_then_parked = [&](const std::string& path, std::size_t i) {
    c.send(get(o, path));
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->body == "path=" + path);
    REQUIRE(got[i].wait_for(5s) == std::future_status::ready);
    CHECK(got[i].get());
  };
  // handle() returns once the first response is out, with the client's connection still open.
  answered_then_parked("/one", 0);
  // Resumed by the next request, it parks again after answering.
  answered_then_parked("/two", 1);
  CHECK(o.connections() == 1);  // the upstream stayed with the parked session
  // The client's close: resumed once more, the session ends.
  c.shutdown_write();
  CHECK(c.closed_within(5s));
  REQUIRE(got[2].wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(got[2].get());
  CHECK(rec.target == o.authority());
}

// ---- the connector -----------------------------------------------------------------------------

namespace {

struct ConnectOutcome {
  std::error_code ec;
  std::string echoed;
};

asio::awaitable<ConnectOutcome> connect_and_echo(ConnectorPtr conn, std::uint16_t proxy_port,
                                                 std::string network, Address target,
                                                 std::string msg) {
  ConnectOutcome out;
  Address proxy("127.0.0.1", proxy_port);
  auto s = co_await dial_tcp(proxy, std::chrono::milliseconds(5000));
  if (!s) {
    out.ec = s.error();
    co_return out;
  }
  auto t = co_await conn->connect(std::move(*s), network, target);
  if (!t) {
    out.ec = t.error();
    co_return out;
  }
  if (auto ec = co_await write_all(**t, asio::buffer(msg))) {
    out.ec = ec;
    co_return out;
  }
  std::string got(msg.size(), '\0');
  out.ec = co_await read_exact(**t, asio::buffer(got));
  out.echoed = got;
  (*t)->close();
  co_return out;
}

ConnectorPtr connector(Registry& reg, std::optional<Credentials> auth, Metadata md = {}) {
  ConnectorArgs ca;
  ca.auth = std::move(auth);
  ca.metadata = std::move(md);
  auto c = (*reg.connector("http"))(ca);
  REQUIRE(c);
  return *c;
}

// A one-shot fake proxy: reads a request head, answers `reply`, then echoes.
class FakeProxy {
 public:
  explicit FakeProxy(std::string reply)
      : acc_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}), reply_(std::move(reply)) {
    th_ = std::thread([this] { run(); });
  }
  ~FakeProxy() {
    std::error_code ec;
    acc_.close(ec);
    th_.join();
  }
  std::uint16_t port() const { return acc_.local_endpoint().port(); }
  std::string request() {
    std::lock_guard lk(mu_);
    return request_;
  }

 private:
  void run() {
    std::error_code ec;
    auto s = acc_.accept(ec);
    if (ec) return;
    std::string got;
    char b[4096];
    while (got.find("\r\n\r\n") == std::string::npos) {
      pollfd p{s.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return;
      auto n = ::recv(s.native_handle(), b, sizeof b, 0);
      if (n <= 0) return;
      got.append(b, static_cast<std::size_t>(n));
    }
    {
      std::lock_guard lk(mu_);
      request_ = got.substr(0, got.find("\r\n\r\n") + 4);
    }
    asio::write(s, asio::buffer(reply_), ec);
    for (;;) {
      pollfd p{s.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return;
      auto n = ::recv(s.native_handle(), b, sizeof b, 0);
      if (n <= 0) return;
      asio::write(s, asio::buffer(b, static_cast<std::size_t>(n)), ec);
    }
  }
  asio::io_context ctx_;
  asio::ip::tcp::acceptor acc_;
  std::string reply_;
  std::thread th_;
  std::mutex mu_;
  std::string request_;
};

}  // namespace

TEST_CASE("connector: CONNECT through the handler, with and without auth", "[http][connector]") {
  Fixture f;
  test::EchoServer echo;
  Address target("127.0.0.1", echo.port());
  auto open = f.start();
  ProxyOptions opt;
  opt.auther = alice();
  auto locked = f.start(opt);

  auto r1 = test::run_on(f.rt.executor(0),
                         connect_and_echo(connector(f.reg, {}), open, "tcp", target, "ping"));
  CHECK_FALSE(r1.ec);
  CHECK(r1.echoed == "ping");

  auto r2 = test::run_on(f.rt.executor(0),
                         connect_and_echo(connector(f.reg, Credentials{"alice", "s3cret"}), locked,
                                          "tcp", target, "pong"));
  CHECK_FALSE(r2.ec);
  CHECK(r2.echoed == "pong");

  auto r3 = test::run_on(
      f.rt.executor(0),
      connect_and_echo(connector(f.reg, Credentials{"alice", "bad"}), locked, "tcp", target, "x"));
  CHECK(r3.ec == errc::auth_failed);
  auto r4 = test::run_on(f.rt.executor(0),
                         connect_and_echo(connector(f.reg, {}), locked, "tcp", target, "x"));
  CHECK(r4.ec == errc::auth_failed);

  auto r5 = test::run_on(
      f.rt.executor(0),
      connect_and_echo(connector(f.reg, {}), open, "tcp", Address("127.0.0.1", dead_port()), "x"));
  CHECK(r5.ec == errc::proxy_error);

  auto r6 = test::run_on(f.rt.executor(0),
                         connect_and_echo(connector(f.reg, {}), open, "udp", target, "x"));
  CHECK(r6.ec == errc::proxy_error);  // X-Gost-Protocol: udp, refused (403) with udp off
}

TEST_CASE("connector: request fields, bytes after the response head, errors", "[http][connector]") {
  Fixture f;
  {
    FakeProxy p("HTTP/1.1 200 Connection established\r\n\r\nHELLO");
    Metadata md;
    md.set("header", R"({"X-Client":"gost-test"})");
    auto r = test::run_on(f.rt.executor(0),
                          connect_and_echo(connector(f.reg, Credentials{"u", "p"}, md), p.port(),
                                           "tcp", Address("example.com", 443), "12345"));
    CHECK_FALSE(r.ec);
    CHECK(r.echoed == "HELLO");  // what followed the head comes first
    auto req = p.request();
    auto parsed = ghttp::parse_request_head(bytes(req));
    REQUIRE(parsed.ok());
    CHECK(parsed.value.method == "CONNECT");
    CHECK(parsed.value.target == "example.com:443");
    CHECK(*parsed.value.headers.find("Host") == "example.com:443");
    CHECK(*parsed.value.headers.find("Proxy-Connection") == "keep-alive");
    CHECK(*parsed.value.headers.find("Proxy-Authorization") == ghttp::basic_auth_value({"u", "p"}));
    CHECK(*parsed.value.headers.find("X-Client") == "gost-test");
  }
  {
    FakeProxy p("HTTP/1.1 403 Forbidden\r\n\r\n");
    auto r = test::run_on(f.rt.executor(0), connect_and_echo(connector(f.reg, {}), p.port(), "tcp",
                                                             Address("example.com", 443), "x"));
    CHECK(r.ec == errc::proxy_error);
  }
  {
    FakeProxy p("SSH-2.0-OpenSSH\r\n\r\n");
    auto r = test::run_on(f.rt.executor(0), connect_and_echo(connector(f.reg, {}), p.port(), "tcp",
                                                             Address("example.com", 443), "x"));
    CHECK(r.ec == errc::proxy_error);
  }
  {
    // A proxy that never answers: connectTimeout bounds the exchange.
    FakeProxy p("");
    Metadata md;
    md.set("connectTimeout", "300ms");
    auto r =
        test::run_on(f.rt.executor(0), connect_and_echo(connector(f.reg, {}, md), p.port(), "tcp",
                                                        Address("example.com", 443), "x"));
    CHECK(r.ec == errc::timeout);
  }
}

namespace {
asio::awaitable<ConnectOutcome> via_chain(RouterPtr router, Address target, std::string msg) {
  ConnectOutcome out;
  SelectOptions sel;
  DialInfo info;
  auto t = co_await router->dial("tcp", target, sel, &info);
  if (!t) {
    out.ec = t.error();
    co_return out;
  }
  if (auto ec = co_await write_all(**t, asio::buffer(msg))) {
    out.ec = ec;
    co_return out;
  }
  std::string got(msg.size(), '\0');
  out.ec = co_await read_exact(**t, asio::buffer(got));
  out.echoed = got;
  (*t)->close();
  co_return out;
}
}  // namespace

TEST_CASE("connector: a chain of two http proxies", "[http][connector]") {
  Fixture f;
  test::EchoServer echo;
  ProxyOptions opt;
  opt.auther = alice();
  auto first = f.start();
  auto second = f.start(opt);
  auto node = [&](std::uint16_t port, std::optional<Credentials> auth) {
    auto n = std::make_shared<Node>();
    n->name = "n" + std::to_string(port);
    n->addr = "127.0.0.1:" + std::to_string(port);
    DialerArgs da;
    da.node_addr = Address("127.0.0.1", port);
    n->dialer = *(*f.reg.dialer("tcp"))(da);
    n->connector = connector(f.reg, std::move(auth));
    auto hop = std::make_shared<Hop>();
    hop->name = "hop" + std::to_string(port);
    hop->nodes.push_back(n);
    return hop;
  };
  auto chain = std::make_shared<Chain>();
  chain->hops.push_back(node(first, std::nullopt));
  chain->hops.push_back(node(second, Credentials{"alice", "s3cret"}));
  auto router = std::make_shared<Router>(chain);
  auto r = test::run_on(f.rt.executor(0),
                        via_chain(router, Address("127.0.0.1", echo.port()), "through two"));
  CHECK_FALSE(r.ec);
  CHECK(r.echoed == "through two");
}

TEST_CASE("a silent origin gets 504 after idleTimeout, a garbled one 502", "[http][handler]") {
  Fixture f;
  ProxyOptions opt;
  opt.md.set("idleTimeout", "300ms");
  auto port = f.start(opt);
  {
    FakeProxy silent("");
    Client c(port);
    c.send("GET http://127.0.0.1:" + std::to_string(silent.port()) + "/ HTTP/1.1\r\n\r\n");
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->head.status == 504);
    CHECK(c.closed_within(5s));
  }
  {
    FakeProxy garbled("SSH-2.0-OpenSSH\r\n\r\n");
    Client c(port);
    c.send("GET http://127.0.0.1:" + std::to_string(garbled.port()) + "/ HTTP/1.1\r\n\r\n");
    auto r = c.response();
    REQUIRE(r);
    CHECK(r->head.status == 502);
    CHECK(c.closed_within(5s));
  }
}

// ---- curl --------------------------------------------------------------------------------------

namespace {
std::string run_cmd(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char b[4096];
  std::size_t n;
  while ((n = std::fread(b, 1, sizeof b, p)) > 0) out.append(b, n);
  ::pclose(p);
  return out;
}
}  // namespace

TEST_CASE("curl through the proxy", "[http][curl]") {
  if (::access("/usr/bin/curl", X_OK) != 0) {
    WARN("no /usr/bin/curl: skipped");
    return;
  }
  Fixture f;
  Origin o;
  ProxyOptions opt;
  opt.auther = make_static_auther({{"user", "pass"}});
  auto port = f.start(opt);
  const std::string proxy = "http://user:pass@127.0.0.1:" + std::to_string(port);
  const std::string base = "/usr/bin/curl -sS --max-time 10 --noproxy '' ";
  CHECK(run_cmd(base + "-x " + proxy + " " + o.url("/curl-plain") + " 2>&1") == "path=/curl-plain");
  CHECK(run_cmd(base + "-p -x " + proxy + " " + o.url("/curl-tunnel") + " 2>&1") ==
        "path=/curl-tunnel");
  CHECK(run_cmd(base + "-x " + proxy + " " + o.url("/one") + " " + o.url("/two") + " 2>&1") ==
        "path=/onepath=/two");
  CHECK(run_cmd(base + "-o /dev/null -w '%{http_code}' -x http://user:wrong@127.0.0.1:" +
                std::to_string(port) + " " + o.url("/denied") + " 2>&1") == "407");
  CHECK(run_cmd(base + "--data-binary hello-post -x " + proxy + " " + o.url("/echo") + " 2>&1") ==
        "hello-post");
}
