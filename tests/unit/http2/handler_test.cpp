// The http2 handler and connector over an in-memory HTTP/2 session: CONNECT tunnels through
// the connector's request, Basic proxy auth (407), non-CONNECT forwarding to an HTTP/1.1 origin.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "gost/core/chain.hpp"
#include "gost/http2/http2.hpp"
#include "gost/http2/session.hpp"
#include "http2/internal.hpp"
#include "support.hpp"
#include "unit/http2/pipe.hpp"

using namespace gost;
using namespace gost::http2;

namespace {

// A one-thread HTTP/1.1 origin: answers every request with a chunked "hello <target>".
class Origin {
 public:
  Origin() : acc_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    th_ = std::thread([this] { loop(); });
  }
  ~Origin() {
    stop_ = true;
    std::error_code ec;
    asio::ip::tcp::socket s(ctx_);
    s.connect(acc_.local_endpoint(), ec);
    th_.join();
  }
  std::uint16_t port() const { return acc_.local_endpoint().port(); }
  std::string last_head() {
    std::lock_guard<std::mutex> g(mu_);
    return last_;
  }

 private:
  void loop() {
    while (!stop_) {
      asio::ip::tcp::socket s(ctx_);
      std::error_code ec;
      acc_.accept(s, ec);
      if (ec || stop_) return;
      asio::streambuf b;
      asio::read_until(s, b, "\r\n\r\n", ec);
      std::string head(asio::buffers_begin(b.data()), asio::buffers_end(b.data()));
      {
        std::lock_guard<std::mutex> g(mu_);
        last_ = head;
      }
      auto sp = head.find(' ');
      auto sp2 = head.find(' ', sp + 1);
      std::string body = "hello " + head.substr(sp + 1, sp2 - sp - 1);
      char len[16];
      std::snprintf(len, sizeof len, "%zx", body.size());
      std::string resp = "HTTP/1.1 200 OK\r\nX-Origin: 1\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         std::string(len) + "\r\n" + body + "\r\n0\r\n\r\n";
      asio::write(s, asio::buffer(resp), ec);
    }
  }
  asio::io_context ctx_;
  asio::ip::tcp::acceptor acc_;
  std::thread th_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string last_;
};

void run_until(asio::io_context& ctx, const bool& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    ctx.run_for(std::chrono::milliseconds(20));
    if (ctx.stopped()) ctx.restart();
  }
}

asio::awaitable<void> serve_one(HandlerPtr h, ExchangePtr ex) {
  ConnRecord rec;
  // As the http2 listener hands requests to the handler.
  co_await run_handler(*h, make_request_stream(std::move(ex)), rec);
}

asio::awaitable<void> serve(SessionPtr srv, HandlerPtr h) {
  for (;;) {
    auto r = co_await srv->accept();
    if (!r) co_return;
    asio::co_spawn(srv->get_executor(), serve_one(h, std::move(*r)), asio::detached);
  }
}

struct Outcome {
  std::error_code connect_ec;
  std::string echoed;
  int get_status = 0;
  std::string get_body;
  std::string get_header;
};

asio::awaitable<void> client(SessionPtr cli, ConnectorPtr conn, std::uint16_t echo_port,
                             std::uint16_t origin_port, Outcome* out, bool* done) {
  // CONNECT through the connector: the handler dials the echo server.
  Address echo("127.0.0.1", echo_port);
  // (The connector needs the http2 dialer's session handle, which needs TLS; the request it
  // sends is the same CONNECT.)
  Headers h{{":method", "CONNECT"}, {":authority", echo.to_string()}};
  auto r = co_await cli->request(h, false);
  if (!r) {
    out->connect_ec = r.error();
  } else if ((*r)->status() != 200) {
    out->connect_ec = make_error_code(errc::proxy_error);
  } else {
    co_await write_all(**r, asio::buffer(std::string("ping")));
    char buf[4];
    if (!co_await read_exact(**r, asio::buffer(buf))) out->echoed.assign(buf, 4);
  }
  // A plain GET is forwarded to the origin over HTTP/1.1.
  Headers g{{":method", "GET"},
            {":scheme", "http"},
            {":authority", "127.0.0.1:" + std::to_string(origin_port)},
            {":path", "/x?y=1"},
            {"accept", "*/*"}};
  auto gr = co_await cli->request(g, true);
  if (gr) {
    out->get_status = (*gr)->status();
    if (auto* x = find_header((*gr)->response_headers(), "x-origin")) out->get_header = *x;
    char buf[256];
    for (;;) {
      auto [ec, n] = co_await (*gr)->read_some(asio::buffer(buf));
      out->get_body.append(buf, n);
      if (ec) break;
    }
  }
  // The connector refuses a stream that is not the http2 dialer's session handle.
  auto bad = co_await conn->connect(
      std::make_unique<gost::test::PipeStream>(
          cli->get_executor(), std::make_shared<gost::test::PipeBuf>(cli->get_executor(), 1),
          std::make_shared<gost::test::PipeBuf>(cli->get_executor(), 1)),
      "tcp", echo);
  if (bad) out->connect_ec = make_error_code(errc::bad_request);
  *done = true;
}

asio::awaitable<void> auth_client(SessionPtr cli, int* status, std::string* realm, int* ok_status,
                                  bool* done) {
  Headers h{{":method", "CONNECT"}, {":authority", "127.0.0.1:9"}};
  auto r = co_await cli->request(h, false);
  if (!r) WARN("auth request: " << r.error().message());
  if (r) {
    *status = (*r)->status();
    if (auto* v = find_header((*r)->response_headers(), "proxy-authenticate")) *realm = *v;
  }
  // "u:p" in base64 is dTpw.
  Headers h2{
      {":method", "CONNECT"}, {":authority", "127.0.0.1:9"}, {"proxy-authorization", "Basic dTpw"}};
  auto r2 = co_await cli->request(h2, false);
  if (r2) *ok_status = (*r2)->status();
  *done = true;
}

}  // namespace

TEST_CASE("http2 handler: CONNECT tunnel and GET forwarding", "[http2]") {
  gost::test::EchoServer echo;
  Origin origin;
  asio::io_context ctx;
  auto p = gost::test::make_pipe(ctx.get_executor());
  auto srv = Session::server(std::move(p.b));
  auto cli = Session::client(std::move(p.a));
  REQUIRE(srv);
  REQUIRE(cli);
  HandlerArgs ha;
  ha.router = std::make_shared<Router>();
  auto h = make_http2_handler(ha);
  REQUIRE(h);
  ConnectorArgs ca;
  auto c = make_http2_connector(ca);
  REQUIRE(c);
  asio::co_spawn(ctx, serve(*srv, *h), asio::detached);
  Outcome out;
  bool done = false;
  asio::co_spawn(ctx, client(*cli, *c, echo.port(), origin.port(), &out, &done), asio::detached);
  run_until(ctx, done);
  REQUIRE(done);
  CHECK(!out.connect_ec);
  CHECK(out.echoed == "ping");
  CHECK(out.get_status == 200);
  CHECK(out.get_header == "1");
  CHECK(out.get_body == "hello /x?y=1");
  auto head = origin.last_head();
  CHECK(head.find("GET /x?y=1 HTTP/1.1\r\n") == 0);
  CHECK(head.find("Host: 127.0.0.1:") != std::string::npos);
  (*cli)->close();
  (*srv)->close();
  ctx.run_for(std::chrono::milliseconds(50));
}

TEST_CASE("http2 handler: Basic proxy authentication", "[http2]") {
  asio::io_context ctx;
  auto p = gost::test::make_pipe(ctx.get_executor());
  auto srv = Session::server(std::move(p.b));
  auto cli = Session::client(std::move(p.a));
  REQUIRE(srv);
  REQUIRE(cli);
  HandlerArgs ha;
  ha.router = std::make_shared<Router>();
  ha.auther = make_static_auther({{"u", "p"}});
  ha.metadata.set("authBasicRealm", "test");
  auto h = make_http2_handler(ha);
  REQUIRE(h);
  asio::co_spawn(ctx, serve(*srv, *h), asio::detached);
  int status = 0, ok_status = 0;
  std::string realm;
  bool done = false;
  asio::co_spawn(ctx, auth_client(*cli, &status, &realm, &ok_status, &done), asio::detached);
  run_until(ctx, done);
  REQUIRE(done);
  CHECK(status == 407);
  CHECK(realm == "Basic realm=\"test\"");
  // Authenticated: the target (discard port 9 on loopback) refuses, so 503, not 407.
  CHECK(ok_status == 503);
  (*cli)->close();
  (*srv)->close();
  ctx.run_for(std::chrono::milliseconds(50));
}
