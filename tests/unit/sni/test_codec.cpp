// The sni codecs: ClientHello parsing and rewriting (a ClientHello captured from
// `openssl s_client -servername example.com`, and hand-built ones), GOST's server-name
// encoding (values computed with Go's algorithm: crc32 IEEE + RawURLEncoding), HTTP heads.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sni/codec.hpp"

using namespace gost;
using namespace gost::sni;

namespace {

std::vector<std::uint8_t> unhex(std::string_view h) {
  std::vector<std::uint8_t> out;
  auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(v(h[i]) << 4 | v(h[i + 1])));
  return out;
}

Bytes bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// openssl s_client -connect 127.0.0.1:P -servername example.com (OpenSSL 3, TLS 1.3 offer).
const std::vector<std::uint8_t> kOpensslHello = unhex(
    "16030101380100013403034fbc30adb9072305d1442de212efd8371f81e09749d6585dea180bbdf86bec2020762b"
    "bb8cc7497915ba97d58f30d3970b6f53b6c85a39e11c5178524cf7eb493a003e130213031301c02cc030009fcca9"
    "cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f"
    "00ff010000ad00000010000e00000b6578616d706c652e636f6d000b000403000102000a00160014001d0017001e"
    "0019001801000101010201030104002300000016000000170000000d002a0028040305030603080708080809080a"
    "080b080408050806040105010601030303010302040205020602002b0009080304030303020301002d0002010100"
    "3300260024001d002006a67516a9d8911dd4003bf40ef7a425cac49e4f9bfa5f6d72e300471f630c3a");

// A minimal ClientHello record: TLS 1.2 version, empty session id, one suite, null
// compression, and the given extensions block (nullptr: none at all).
std::vector<std::uint8_t> hello(const std::vector<std::uint8_t>* exts) {
  std::vector<std::uint8_t> body = {0x03, 0x03};
  body.insert(body.end(), 32, 0xAB);
  body.push_back(0);                                  // session id
  body.insert(body.end(), {0x00, 0x02, 0x13, 0x01});  // cipher suites
  body.insert(body.end(), {0x01, 0x00});              // compression
  if (exts) {
    body.push_back(static_cast<std::uint8_t>(exts->size() >> 8));
    body.push_back(static_cast<std::uint8_t>(exts->size()));
    body.insert(body.end(), exts->begin(), exts->end());
  }
  std::vector<std::uint8_t> hs = {0x01, 0, static_cast<std::uint8_t>(body.size() >> 8),
                                  static_cast<std::uint8_t>(body.size())};
  hs.insert(hs.end(), body.begin(), body.end());
  std::vector<std::uint8_t> rec = {0x16, 0x03, 0x01, static_cast<std::uint8_t>(hs.size() >> 8),
                                   static_cast<std::uint8_t>(hs.size())};
  rec.insert(rec.end(), hs.begin(), hs.end());
  return rec;
}

std::vector<std::uint8_t> sni_ext(std::string_view name) {
  std::size_t n = name.size();
  std::vector<std::uint8_t> e = {0x00,
                                 0x00,
                                 static_cast<std::uint8_t>((n + 5) >> 8),
                                 static_cast<std::uint8_t>(n + 5),
                                 static_cast<std::uint8_t>((n + 3) >> 8),
                                 static_cast<std::uint8_t>(n + 3),
                                 0x00,
                                 static_cast<std::uint8_t>(n >> 8),
                                 static_cast<std::uint8_t>(n)};
  e.insert(e.end(), name.begin(), name.end());
  return e;
}

}  // namespace

TEST_CASE("ClientHello from openssl s_client", "[sni][codec]") {
  REQUIRE(looks_like_tls(kOpensslHello));
  auto p = parse_client_hello(kOpensslHello);
  REQUIRE(p.ok());
  CHECK(p.consumed == kOpensslHello.size());
  CHECK(p.value.server_name == "example.com");
  CHECK(p.value.gost_host.empty());
  CHECK(p.value.sni_size == 4 + 16);
  // Every proper prefix asks for more.
  for (std::size_t n = 0; n < kOpensslHello.size(); n += 7) {
    auto q = parse_client_hello(Bytes(kOpensslHello.data(), n));
    INFO(n);
    CHECK(q.need_more());
  }
  // Bytes after the record are not consumed.
  auto more = kOpensslHello;
  more.insert(more.end(), {0x17, 0x03, 0x03});
  auto r = parse_client_hello(more);
  REQUIRE(r.ok());
  CHECK(r.consumed == kOpensslHello.size());
}

TEST_CASE("ClientHello rewrite carries the real name in 0xFFFE", "[sni][codec]") {
  auto p = parse_client_hello(kOpensslHello);
  REQUIRE(p.ok());
  auto out = rewrite_client_hello(kOpensslHello, p.value, "front.example.net");
  REQUIRE(out);
  auto q = parse_client_hello(*out);
  REQUIRE(q.ok());
  CHECK(q.consumed == out->size());
  CHECK(q.value.server_name == "front.example.net");
  CHECK(q.value.gost_host == "example.com");
  // The handler's restore gives back the original byte for byte.
  auto q2 = parse_client_hello(*out);
  REQUIRE(q2.ok());
  auto back = restore_client_hello(*out, q2.value);
  REQUIRE(back);
  CHECK(*back == kOpensslHello);
  CHECK_FALSE(restore_client_hello(kOpensslHello, p.value));  // nothing hidden
  // The hello's fields before the extensions are unchanged.
  CHECK(std::equal(kOpensslHello.begin() + 9,
                   kOpensslHello.begin() + static_cast<std::ptrdiff_t>(p.value.extensions_at),
                   out->begin() + 9));
  // No SNI: nothing to rewrite.
  auto ext = std::vector<std::uint8_t>{0x00, 0x17, 0x00, 0x00};
  auto h = hello(&ext);
  auto ph = parse_client_hello(h);
  REQUIRE(ph.ok());
  CHECK(ph.value.server_name.empty());
  CHECK_FALSE(rewrite_client_hello(h, ph.value, "x"));
}

TEST_CASE("hand-built ClientHellos", "[sni][codec]") {
  auto h0 = hello(nullptr);
  auto p0 = parse_client_hello(h0);
  REQUIRE(p0.ok());
  CHECK(p0.value.server_name.empty());
  CHECK(p0.value.extensions_at == 0);

  auto e = sni_ext("a.example");
  auto enc = encode_server_name("127.0.0.1:8080");
  std::vector<std::uint8_t> g = {0xFF, 0xFE, 0x00, static_cast<std::uint8_t>(enc.size())};
  g.insert(g.end(), enc.begin(), enc.end());
  e.insert(e.end(), g.begin(), g.end());
  auto h1 = hello(&e);
  auto p1 = parse_client_hello(h1);
  REQUIRE(p1.ok());
  CHECK(p1.value.server_name == "a.example");
  CHECK(p1.value.gost_host == "127.0.0.1:8080");

  SECTION("malformed") {
    auto bad = make_error_code(errc::bad_request);
    auto x = h1;
    x[5] = 0x02;  // ServerHello, not ClientHello
    CHECK(parse_client_hello(x).ec == bad);
    x = h1;
    x[0] = 0x17;  // application data
    CHECK(parse_client_hello(x).ec == bad);
    x = h1;
    x[8] = static_cast<std::uint8_t>(x[8] + 1);  // handshake longer than the record
    CHECK(parse_client_hello(x).failed());
    auto dup = sni_ext("a");
    auto dup2 = sni_ext("b");
    dup.insert(dup.end(), dup2.begin(), dup2.end());
    CHECK(parse_client_hello(hello(&dup)).failed());
    std::vector<std::uint8_t> empty_name = {0x00, 0x00, 0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00};
    CHECK(parse_client_hello(hello(&empty_name)).failed());
    std::vector<std::uint8_t> short_ext = {0x00, 0x00, 0x00, 0x09, 0x00};
    CHECK(parse_client_hello(hello(&short_ext)).failed());
    std::vector<std::uint8_t> zero = {0x16, 0x03, 0x01, 0x00, 0x00};
    CHECK(parse_client_hello(zero).failed());
  }
}

TEST_CASE("GOST server name encoding", "[sni][codec]") {
  CHECK(encode_server_name("example.com") == "tvpOuVpYaGhiWEJzWlM1amIyMA");
  CHECK(encode_server_name("127.0.0.1:8080") == "CJb4KE1USTNMakF1TUM0eE9qZ3dPREE");
  CHECK(encode_server_name("") == "AAAAAA");
  CHECK(decode_server_name("tvpOuVpYaGhiWEJzWlM1amIyMA") ==
        std::optional<std::string>("example.com"));
  CHECK_FALSE(decode_server_name("tvpOuVpYaGhiWEJzWlM1amIyMB"));  // stray bits
  CHECK_FALSE(decode_server_name("uvpOuVpYaGhiWEJzWlM1amIyMA"));  // crc mismatch
  CHECK_FALSE(decode_server_name("tvpO=VpYaGhi"));
  CHECK_FALSE(decode_server_name("AAA"));
  for (std::string n : {"a", "ab", "abc", "abcd", "www.example.org:443", "[::1]:80"})
    CHECK(decode_server_name(encode_server_name(n)) == std::optional<std::string>(n));
}

TEST_CASE("HTTP heads: Host and Gost-Target", "[sni][codec]") {
  std::string head = "GET /x HTTP/1.1\r\nUser-Agent: t\r\nhost:  example.org:8080 \r\n\r\nBODY";
  auto p = parse_http_head(bytes(head));
  REQUIRE(p.ok());
  CHECK(p.consumed == head.size() - 4);
  CHECK(p.value.host == "example.org:8080");
  CHECK(parse_http_head(bytes(head.substr(0, 20))).need_more());
  CHECK(parse_http_head(bytes("GET / HTTP/1.1\r\nbad line\r\n\r\n")).failed());
  CHECK(parse_http_head(bytes(std::string(100, 'a')), 64).failed());

  auto fronted = rewrite_http_head(Bytes(bytes(head).data(), p.consumed), p.value, "cdn.example");
  std::string f(fronted.begin(), fronted.end());
  CHECK(f == "GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: cdn.example\r\nGost-Target: " +
                 encode_server_name("example.org:8080") + "\r\n\r\n");
  auto q = parse_http_head(fronted);
  REQUIRE(q.ok());
  CHECK(q.value.host == "cdn.example");
  CHECK(q.value.gost_target == "example.org:8080");
  auto back = restore_http_head(fronted, q.value);
  CHECK(std::string(back.begin(), back.end()) ==
        "GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: example.org:8080\r\n\r\n");

  // No Host at all: the connector adds one.
  std::string nohost = "GET / HTTP/1.0\r\n\r\n";
  auto n = parse_http_head(bytes(nohost));
  REQUIRE(n.ok());
  auto nf = rewrite_http_head(bytes(nohost), n.value, "h");
  CHECK(std::string(nf.begin(), nf.end()) ==
        "GET / HTTP/1.0\r\nHost: h\r\nGost-Target: AAAAAA\r\n\r\n");
}

TEST_CASE("HTTP head rewrite: Gost-Target where the Host line would go", "[sni][codec]") {
  // Found by fuzzing: the request line ends in a bare LF, so the first header seen is the
  // Gost-Target line, at the spot where the missing Host is inserted.
  std::string head = "GET /a HTTP/1.1\x19\nHost: c\r\nGost-Target: AAAAAA\r\n\r\n";
  auto p = parse_http_head(bytes(head));
  REQUIRE(p.ok());
  CHECK(p.value.host.empty());
  auto f = rewrite_http_head(bytes(head), p.value, "cdn");
  CHECK(std::string(f.begin(), f.end()) ==
        "GET /a HTTP/1.1\x19\nHost: c\r\nHost: cdn\r\nGost-Target: AAAAAA\r\n\r\n");
}

TEST_CASE("ClientHello from curl (padding, ALPN, many extensions)", "[sni][codec]") {
  // curl -k --resolve www.example.org:P:127.0.0.1 https://www.example.org:P/ (OpenSSL 3).
  const auto h = unhex(
      "1603010200010001fc0303321c2000fb0649046bb865ede574d633aeb29ad63449b4704957e558c3a9247620f4a6"
      "e9e781c82702d0be0030ede8b4096f052a86217dcec1da9b9e78df4b9c21003e130213031301c02cc030009fcca9"
      "cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f"
      "00ff0100017500000014001200000f7777772e6578616d706c652e6f7267000b000403000102000a00160014001d"
      "0017001e00190018010001010102010301040010000e000c02683208687474702f312e3100160000001700000031"
      "0000000d002a0028040305030603080708080809080a080b08040805080604010501060103030301030204020502"
      "0602002b0009080304030303020301002d00020101003300260024001d0020afd225446afb1e02db770de15a126c"
      "5bb056c3c6534171e9d53220050dad9d0e001500ae00000000000000000000000000000000000000000000000000"
      "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "0000000000000000000000");
  REQUIRE(h.size() == 517);
  auto p = parse_client_hello(h);
  REQUIRE(p.ok());
  CHECK(p.consumed == h.size());
  CHECK(p.value.server_name == "www.example.org");
  auto out = rewrite_client_hello(h, p.value, "cdn.example");
  REQUIRE(out);
  auto q = parse_client_hello(*out);
  REQUIRE(q.ok());
  CHECK(q.value.server_name == "cdn.example");
  CHECK(q.value.gost_host == "www.example.org");
  auto back = restore_client_hello(*out, q.value);
  REQUIRE(back);
  CHECK(*back == h);
}
