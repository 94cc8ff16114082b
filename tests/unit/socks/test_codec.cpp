// SOCKS4/4a, SOCKS5 and RFC 1929 codecs from byte vectors.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "socks/codec.hpp"

using namespace gost;
using namespace gost::socks;
using B = std::vector<std::uint8_t>;

namespace {

B bytes(std::initializer_list<int> l) {
  B b;
  for (int v : l) b.push_back(static_cast<std::uint8_t>(v));
  return b;
}

B operator+(B a, const B& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

B cat(B a, const std::string& s) {
  a.insert(a.end(), s.begin(), s.end());
  return a;
}

// Every strict prefix of a complete message must ask for more.
template <class F>
void check_prefixes(const B& msg, F parse) {
  for (std::size_t i = 0; i < msg.size(); ++i) {
    auto p = parse(Bytes(msg.data(), i));
    INFO("prefix length " << i);
    CHECK(p.need_more());
  }
}

}  // namespace

TEST_CASE("socks4 connect request", "[socks][codec]") {
  // VN=4 CD=1 PORT=80 IP=66.102.7.99 USERID="fred" NUL (the SOCKS4.protocol example shape).
  B msg = cat(bytes({4, 1, 0, 80, 66, 102, 7, 99}), "fred");
  msg.push_back(0);
  auto p = parse_socks4_request(msg);
  REQUIRE(p.ok());
  CHECK(p.consumed == msg.size());
  CHECK(p.value.command == kSocks4Connect);
  CHECK(p.value.target == Address("66.102.7.99", 80));
  CHECK(p.value.userid == "fred");
  CHECK_FALSE(p.value.socks4a);
  check_prefixes(msg, parse_socks4_request);

  B out;
  REQUIRE_FALSE(serialize(p.value, out));
  CHECK(out == msg);

  // Trailing bytes are not consumed.
  B more = msg;
  more.push_back('x');
  auto q = parse_socks4_request(more);
  REQUIRE(q.ok());
  CHECK(q.consumed == msg.size());
}

TEST_CASE("socks4a domain request", "[socks][codec]") {
  // DSTIP 0.0.0.1 -> the domain follows the USERID's NUL.
  B msg = bytes({4, 1, 0x01, 0xBB, 0, 0, 0, 1});
  msg.push_back(0);  // empty userid
  msg = cat(msg, "example.com");
  msg.push_back(0);
  auto p = parse_socks4_request(msg);
  REQUIRE(p.ok());
  CHECK(p.consumed == msg.size());
  CHECK(p.value.socks4a);
  CHECK(p.value.target == Address("example.com", 443));
  CHECK(p.value.userid.empty());
  check_prefixes(msg, parse_socks4_request);

  B out;
  REQUIRE_FALSE(serialize(p.value, out));
  CHECK(out == msg);

  // 0.0.0.0 is a plain (if useless) IPv4 target, not 4a.
  B zero = bytes({4, 2, 0, 21, 0, 0, 0, 0, 0});
  auto z = parse_socks4_request(zero);
  REQUIRE(z.ok());
  CHECK_FALSE(z.value.socks4a);
  CHECK(z.value.command == kSocks4Bind);
  CHECK(z.value.target == Address("0.0.0.0", 21));
}

TEST_CASE("socks4 malformed requests", "[socks][codec]") {
  CHECK(parse_socks4_request(bytes({5, 1, 0, 80, 1, 2, 3, 4, 0})).failed());
  auto cmd = parse_socks4_request(bytes({4, 3, 0, 80, 1, 2, 3, 4, 0}));
  REQUIRE(cmd.failed());
  CHECK(cmd.ec == errc::unsupported);
  // USERID longer than 255 bytes without NUL: refused before the NUL arrives.
  B longid = cat(bytes({4, 1, 0, 80, 1, 2, 3, 4}), std::string(300, 'a'));
  auto l = parse_socks4_request(longid);
  REQUIRE(l.failed());
  CHECK(l.ec == errc::bad_request);
  // 255 bytes is fine.
  B okid = cat(bytes({4, 1, 0, 80, 1, 2, 3, 4}), std::string(255, 'a'));
  okid.push_back(0);
  CHECK(parse_socks4_request(okid).ok());
  // Oversized and empty 4a domains.
  B longdom = cat(bytes({4, 1, 0, 80, 0, 0, 0, 9, 0}), std::string(256, 'd'));
  longdom.push_back(0);
  CHECK(parse_socks4_request(longdom).failed());
  B emptydom = bytes({4, 1, 0, 80, 0, 0, 0, 9, 0, 0});
  CHECK(parse_socks4_request(emptydom).failed());
  // IPv6 cannot be serialized.
  B out;
  Socks4Request v6;
  v6.target = Address("::1", 80);
  CHECK(serialize(v6, out) == errc::bad_request);
  CHECK(out.empty());
}

TEST_CASE("socks4 reply", "[socks][codec]") {
  B msg = bytes({0, 90, 0x1F, 0x90, 127, 0, 0, 1});
  auto p = parse_socks4_reply(msg);
  REQUIRE(p.ok());
  CHECK(p.consumed == 8);
  CHECK(p.value.code == kSocks4Granted);
  CHECK(p.value.addr == Address("127.0.0.1", 8080));
  check_prefixes(msg, parse_socks4_reply);
  B out;
  REQUIRE_FALSE(serialize(p.value, out));
  CHECK(out == msg);
  for (int code : {91, 92, 93}) CHECK(parse_socks4_reply(bytes({0, code, 0, 0, 0, 0, 0, 0})).ok());
  CHECK(parse_socks4_reply(bytes({0, 89, 0, 0, 0, 0, 0, 0})).failed());
  CHECK(parse_socks4_reply(bytes({0, 94, 0, 0, 0, 0, 0, 0})).failed());
  CHECK(parse_socks4_reply(bytes({4, 90, 0, 0, 0, 0, 0, 0})).failed());
}

TEST_CASE("socks5 method selection", "[socks][codec]") {
  B msg = bytes({5, 2, 0, 2});
  auto p = parse_method_request(msg);
  REQUIRE(p.ok());
  CHECK(p.consumed == 4);
  CHECK(p.value.methods == B{0, 2});
  check_prefixes(msg, parse_method_request);
  B out;
  REQUIRE_FALSE(serialize(p.value, out));
  CHECK(out == msg);

  CHECK(parse_method_request(bytes({4, 1, 0})).failed());
  CHECK(parse_method_request(bytes({5, 0})).failed());  // NMETHODS 1..255
  B all = {5, 255};
  for (int i = 0; i < 255; ++i) all.push_back(static_cast<std::uint8_t>(i));
  CHECK(parse_method_request(all).ok());

  auto r = parse_method_reply(bytes({5, 0xFF}));
  REQUIRE(r.ok());
  CHECK(r.value.method == kMethodNoAcceptable);
  CHECK(parse_method_reply(bytes({5})).need_more());
  CHECK(parse_method_reply(bytes({1, 0})).failed());
  out.clear();
  REQUIRE_FALSE(serialize(MethodReply{kMethodUserPass}, out));
  CHECK(out == bytes({5, 2}));
}

TEST_CASE("rfc1929 username/password", "[socks][codec]") {
  B msg = cat(cat(bytes({1, 5}), "alice") + B{6}, "secret!");
  msg.resize(msg.size() - 1);  // "secret"
  auto p = parse_userpass_request(msg);
  REQUIRE(p.ok());
  CHECK(p.consumed == msg.size());
  CHECK(p.value.username == "alice");
  CHECK(p.value.password == "secret");
  check_prefixes(msg, parse_userpass_request);
  B out;
  REQUIRE_FALSE(serialize(p.value, out));
  CHECK(out == msg);

  // Empty password (PLEN 0) is accepted.
  auto e = parse_userpass_request(cat(bytes({1, 1}), "u") + B{0});
  REQUIRE(e.ok());
  CHECK(e.value.password.empty());
  CHECK(parse_userpass_request(bytes({5, 1, 'u', 1, 'p'})).failed());
  out.clear();
  CHECK(serialize(UserPassRequest{std::string(256, 'u'), "p"}, out) == errc::bad_request);
  CHECK(out.empty());

  auto r = parse_userpass_reply(bytes({1, 0}));
  REQUIRE(r.ok());
  CHECK(r.value.status == kUserPassSuccess);
  CHECK(parse_userpass_reply(bytes({1, 1})).value.status == kUserPassFailure);
  CHECK(parse_userpass_reply(bytes({9, 0})).failed());
}

TEST_CASE("socks5 requests with each address type", "[socks][codec]") {
  // CONNECT 127.0.0.1:80
  B v4 = bytes({5, 1, 0, 1, 127, 0, 0, 1, 0, 80});
  auto a = parse_request(v4);
  REQUIRE(a.ok());
  CHECK(a.consumed == v4.size());
  CHECK(a.value.command == kCmdConnect);
  CHECK(a.value.addr == Address("127.0.0.1", 80));
  check_prefixes(v4, parse_request);
  B out;
  REQUIRE_FALSE(serialize(a.value, out));
  CHECK(out == v4);

  // CONNECT www.example.com:443
  B dom = cat(bytes({5, 1, 0, 3, 15}), "www.example.com") + B{0x01, 0xBB};
  auto d = parse_request(dom);
  REQUIRE(d.ok());
  CHECK(d.value.addr == Address("www.example.com", 443));
  check_prefixes(dom, parse_request);
  out.clear();
  REQUIRE_FALSE(serialize(d.value, out));
  CHECK(out == dom);

  // UDP ASSOCIATE [2001:db8::1]:53
  B v6 = bytes({5, 3, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 53});
  auto s = parse_request(v6);
  REQUIRE(s.ok());
  CHECK(s.value.command == kCmdUdpAssociate);
  CHECK(s.value.addr == Address("2001:db8::1", 53));
  out.clear();
  REQUIRE_FALSE(serialize(s.value, out));
  CHECK(out == v6);

  // Any command byte parses (the handler answers 0x07).
  CHECK(parse_request(bytes({5, 9, 0, 1, 1, 2, 3, 4, 0, 1})).ok());
  // Bad version, bad ATYP, empty domain.
  CHECK(parse_request(bytes({4, 1, 0, 1, 1, 2, 3, 4, 0, 1})).failed());
  auto atyp = parse_request(bytes({5, 1, 0, 2, 1, 2, 3, 4, 0, 1}));
  REQUIRE(atyp.failed());
  CHECK(atyp.ec == errc::unsupported);
  CHECK(parse_request(bytes({5, 1, 0, 3, 0, 0, 80})).failed());
  // Oversized domain cannot be serialized.
  out.clear();
  CHECK(serialize(Request{kCmdConnect, Address(std::string(256, 'a'), 80)}, out) ==
        errc::bad_request);
  CHECK(out.empty());
  // 255 is the limit.
  CHECK_FALSE(serialize(Request{kCmdConnect, Address(std::string(255, 'a'), 80)}, out));
  CHECK(parse_request(out).ok());
}

TEST_CASE("socks5 replies", "[socks][codec]") {
  B ok = bytes({5, 0, 0, 1, 10, 0, 0, 1, 0x04, 0x38});
  auto r = parse_reply(ok);
  REQUIRE(r.ok());
  CHECK(r.value.reply == kRepSucceeded);
  CHECK(r.value.addr == Address("10.0.0.1", 1080));
  check_prefixes(ok, parse_reply);
  B out;
  REQUIRE_FALSE(serialize(r.value, out));
  CHECK(out == ok);
  // An empty host is sent as 0.0.0.0.
  out.clear();
  REQUIRE_FALSE(serialize(Reply{kRepHostUnreachable, Address()}, out));
  CHECK(out == bytes({5, 4, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("socks5 udp header", "[socks][codec]") {
  B d = bytes({0, 0, 0, 1, 8, 8, 8, 8, 0, 53, 'q', 'r'});
  auto h = parse_udp_header(d);
  REQUIRE(h.ok());
  CHECK(h.consumed == 10);
  CHECK(h.value.frag == 0);
  CHECK(h.value.rsv == 0);
  CHECK(h.value.addr == Address("8.8.8.8", 53));
  B out;
  REQUIRE_FALSE(serialize(h.value, out));
  CHECK(out == B(d.begin(), d.begin() + 10));

  B dom = cat(bytes({0, 0, 1, 3, 4}), "host") + B{0, 7};
  auto f = parse_udp_header(dom);
  REQUIRE(f.ok());
  CHECK(f.value.frag == 1);
  CHECK(f.value.addr == Address("host", 7));
  CHECK(f.consumed == dom.size());

  CHECK(parse_udp_header(bytes({0, 0, 0})).need_more());
  CHECK(parse_udp_header(bytes({0, 0, 0, 1, 1, 2})).need_more());
  CHECK(parse_udp_header(bytes({0, 0, 0, 7, 1, 2, 3, 4, 0, 1})).failed());
  CHECK(socks5_address_size(Address("1.2.3.4", 1)) == 7);
  CHECK(socks5_address_size(Address("::1", 1)) == 19);
  CHECK(socks5_address_size(Address("abc", 1)) == 7);
  CHECK(kMaxUdpHeader == 3 + socks5_address_size(Address(std::string(255, 'x'), 1)));
}
