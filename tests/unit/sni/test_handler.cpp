// The sni handler and connector in process: a Service (core tcp listener + sni handler) on
// 127.0.0.1:0 in front of an echo server that stands for every target.
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "gost/core.hpp"
#include "gost/sni/sni.hpp"
#include "sni/codec.hpp"
#include "support.hpp"

using namespace gost;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  Runtime rt{2};
  Registry reg;
  ServicePtr svc;

  explicit Fixture(Metadata md = {}) {
    register_core(reg);
    sni::register_module(reg);
    rt.start();
    ListenerArgs la;
    la.runtime = &rt;
    la.service = "sni-test";
    la.addr = Address("127.0.0.1", 0);
    auto l = (*reg.listener("tcp"))(la);
    REQUIRE(l);
    HandlerArgs ha;
    ha.runtime = &rt;
    ha.service = "sni-test";
    ha.metadata = md;
    ha.router = std::make_shared<Router>();
    auto h = (*reg.handler("sni"))(ha);
    REQUIRE(h);
    ServiceOptions so;
    so.name = "sni-test";
    so.protocol = "sni";
    so.logger = std::make_shared<Logger>(LogLevel::none);
    svc = std::make_shared<Service>(rt, so, std::move(*l), std::move(*h));
    REQUIRE_FALSE(svc->start());
  }
  ~Fixture() {
    svc->stop();
    svc->wait_stopped(5s);
    rt.stop();
    rt.join();
  }
  std::uint16_t port() const { return svc->address().port; }
};

// Sends data to the sni service and reads back n bytes (the echo) with a deadline.
std::string roundtrip(std::uint16_t port, const std::string& data, std::size_t n) {
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, port);
  asio::write(s, asio::buffer(data));
  std::string got(n, '\0');
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::error_code ec;
  std::size_t r = asio::read(s, asio::buffer(got), ec);
  got.resize(r);
  return got;
}

std::vector<std::uint8_t> unhex(std::string_view h) {
  std::vector<std::uint8_t> out;
  auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(v(h[i]) << 4 | v(h[i + 1])));
  return out;
}

const std::vector<std::uint8_t> kHello = unhex(
    "16030101380100013403034fbc30adb9072305d1442de212efd8371f81e09749d6585dea180bbdf86bec2020762b"
    "bb8cc7497915ba97d58f30d3970b6f53b6c85a39e11c5178524cf7eb493a003e130213031301c02cc030009fcca9"
    "cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f"
    "00ff010000ad00000010000e00000b6578616d706c652e636f6d000b000403000102000a00160014001d0017001e"
    "0019001801000101010201030104002300000016000000170000000d002a0028040305030603080708080809080a"
    "080b080408050806040105010601030303010302040205020602002b0009080304030303020301002d0002010100"
    "3300260024001d002006a67516a9d8911dd4003bf40ef7a425cac49e4f9bfa5f6d72e300471f630c3a");

asio::awaitable<std::string> via_connector(std::uint16_t port, std::string front, std::string data,
                                           std::size_t n) {
  Metadata md;
  md.set("host", front);
  ConnectorArgs ca;
  ca.metadata = md;
  auto c = sni::make_sni_connector(ca);
  if (!c) co_return "connector: " + c.error().message;
  auto conn = co_await dial_tcp(Address("127.0.0.1", port), 5s);
  if (!conn) co_return "dial: " + conn.error().message();
  auto s = co_await (*c)->connect(std::move(*conn), "tcp", Address("ignored", 1));
  if (!s) co_return "connect: " + s.error().message();
  // Two writes: the connector must wait for the whole head.
  auto half = data.size() / 2;
  if (auto ec = co_await write_all(**s, asio::buffer(data.data(), half))) co_return ec.message();
  if (auto ec = co_await write_all(**s, asio::buffer(data.data() + half, data.size() - half)))
    co_return ec.message();
  std::string got(n, '\0');
  auto ec = co_await read_exact(**s, asio::buffer(got));
  if (ec) co_return "read: " + ec.message();
  co_return got;
}

}  // namespace

TEST_CASE("sni handler routes HTTP by Host", "[sni][handler]") {
  test::EchoServer echo;
  Fixture f;
  std::string req =
      "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(echo.port()) + "\r\n\r\nafter-the-head";
  CHECK(roundtrip(f.port(), req, req.size()) == req);
  CHECK(echo.accepted() == 1);
}

TEST_CASE("sni handler routes TLS by the name GOST's connector hid in 0xFFFE", "[sni][handler]") {
  test::EchoServer echo;
  Fixture f;
  auto p = sni::parse_client_hello(kHello);
  REQUIRE(p.ok());
  auto ch = p.value;
  ch.server_name = "127.0.0.1:" + std::to_string(echo.port());
  auto rec = sni::rewrite_client_hello(kHello, ch, "front.example");
  REQUIRE(rec);
  std::string data(rec->begin(), rec->end());
  data += "tail";
  // The target gets the ClientHello back as it was before the connector's rewrite (with the
  // hidden name as its SNI): the original's extensions in the original order.
  auto again = sni::parse_client_hello(*rec);
  REQUIRE(again.ok());
  auto restored = sni::restore_client_hello(*rec, again.value);
  REQUIRE(restored);
  std::string want(restored->begin(), restored->end());
  want += "tail";
  auto rp = sni::parse_client_hello(*restored);
  REQUIRE(rp.ok());
  CHECK(rp.value.server_name == ch.server_name);
  CHECK(rp.value.gost_at == 0);
  CHECK(roundtrip(f.port(), data, want.size()) == want);
  CHECK(echo.accepted() == 1);
}

TEST_CASE("sni handler drops what it cannot route", "[sni][handler]") {
  test::EchoServer echo;
  Metadata md;
  md.set("readTimeout", "1s");
  Fixture f(md);
  // Not TLS, and not an HTTP head: the handler gives up after readTimeout.
  CHECK(roundtrip(f.port(), "hello", 1).empty());
  // A TLS ClientHello without SNI.
  std::vector<std::uint8_t> h = kHello;
  auto p = sni::parse_client_hello(h);
  REQUIRE(p.ok());
  h[p.value.sni_at + 1] = 0x7F;  // turn the SNI into an unknown extension type 0x007F
  CHECK(roundtrip(f.port(), std::string(h.begin(), h.end()), 1).empty());
  CHECK(echo.accepted() == 0);
}

TEST_CASE("sni connector fronts HTTP and the handler restores the Host", "[sni][connector]") {
  test::EchoServer echo;
  Fixture f;
  std::string target = "127.0.0.1:" + std::to_string(echo.port());
  std::string req = "GET /p HTTP/1.1\r\nHost: " + target + "\r\nAccept: */*\r\n\r\nbody";
  auto got = test::run_on(f.rt.context(0).get_executor(),
                          via_connector(f.port(), "cdn.example", req, req.size()));
  CHECK(got == req);
  CHECK(echo.accepted() == 1);
}

TEST_CASE("sni connector fronts a ClientHello", "[sni][connector]") {
  test::EchoServer echo;
  Fixture f;
  auto p = sni::parse_client_hello(kHello);
  REQUIRE(p.ok());
  std::string target = "127.0.0.1:" + std::to_string(echo.port());
  // A plain hello naming the target in its SNI.
  auto plain_ch = p.value;
  std::vector<std::uint8_t> h2;
  {
    // Build SNI = target without a 0xFFFE extension: rewrite then drop the trailing extension.
    auto r = sni::rewrite_client_hello(kHello, plain_ch, target);
    REQUIRE(r);
    auto q = sni::parse_client_hello(*r);
    REQUIRE(q.ok());
    std::size_t ext_size = 4 + sni::encode_server_name("example.com").size();
    h2.assign(r->begin(), r->end() - static_cast<std::ptrdiff_t>(ext_size));
    auto fix16 = [&](std::size_t at, std::size_t v) {
      h2[at] = static_cast<std::uint8_t>(v >> 8);
      h2[at + 1] = static_cast<std::uint8_t>(v);
    };
    fix16(3, h2.size() - 5);
    h2[6] = 0;
    fix16(7, h2.size() - 9);
    fix16(q.value.extensions_at, h2.size() - q.value.extensions_at - 2);
    auto check = sni::parse_client_hello(h2);
    REQUIRE(check.ok());
    REQUIRE(check.value.server_name == target);
    REQUIRE(check.value.gost_host.empty());
  }
  std::string d2(h2.begin(), h2.end());
  // connector (SNI -> cdn.example, 0xFFFE = target) -> handler (routes to target, restores)
  // -> echo: the target sees the client's own ClientHello byte for byte.
  auto got2 = test::run_on(f.rt.context(0).get_executor(),
                           via_connector(f.port(), "cdn.example", d2, d2.size()));
  CHECK(got2 == d2);
  CHECK(echo.accepted() == 1);
}
