// Relay protocol codec vectors (byte layouts of go-gost/relay v0.5.0) and the UDP-tun frame.
#include <catch2/catch.hpp>

#include "relay/codec.hpp"
#include "socks/udptun.hpp"

using namespace gost;
using namespace gost::relay;
using B = std::vector<std::uint8_t>;

namespace {
B str(const std::string& s) { return B(s.begin(), s.end()); }
B cat(std::initializer_list<B> parts) {
  B out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
template <class T>
B ser(const T& v) {
  B out;
  REQUIRE_FALSE(serialize(v, out));
  return out;
}
}  // namespace

TEST_CASE("relay CONNECT requests as GOST writes them", "[relay][codec]") {
  // tcp, no auth: VER 1, CMD 1, FEALEN 10, Addr(IPv4 127.0.0.1:80)
  Request r;
  r.features.list.push_back(AddrFeature{Address("127.0.0.1", 80)});
  const B plain{0x01, 0x01, 0x00, 0x0A, 0x02, 0x00, 0x07, 0x01, 0x7F, 0x00, 0x00, 0x01, 0x00, 0x50};
  CHECK(ser(r) == plain);

  // udp with auth: CMD 0x81, Network(udp), UserAuth(u, pw), Addr(domain example.com:443)
  Request u;
  u.cmd = kCmdConnect | kFlagUdp;
  u.features.list.push_back(NetworkFeature{kNetworkUdp});
  u.features.list.push_back(UserAuthFeature{"u", "pw"});
  u.features.list.push_back(AddrFeature{Address("example.com", 443)});
  const B want = cat({{0x01, 0x81, 0x00, 5 + 8 + 18},
                      {0x04, 0x00, 0x02, 0x00, 0x01},
                      {0x01, 0x00, 0x05, 0x01, 'u', 0x02, 'p', 'w'},
                      {0x02, 0x00, 0x0F, 0x03, 0x0B},
                      str("example.com"),
                      {0x01, 0xBB}});
  CHECK(ser(u) == want);

  auto p = parse_request(want);
  REQUIRE(p.ok());
  CHECK(p.consumed == want.size());
  CHECK(p.value.cmd == 0x81);
  REQUIRE(p.value.features.list.size() == 3);
  REQUIRE(p.value.features.user_auth());
  CHECK(p.value.features.user_auth()->username == "u");
  CHECK(p.value.features.user_auth()->password == "pw");
  REQUIRE(p.value.features.addr());
  CHECK(p.value.features.addr()->addr == Address("example.com", 443));
  REQUIRE(p.value.features.network());
  CHECK(p.value.features.network()->network == kNetworkUdp);
  CHECK(ser(p.value) == want);  // round trip keeps the order

  // IPv6 and IPv4-mapped addresses
  Request v6;
  v6.features.list.push_back(AddrFeature{Address("::1", 8080)});
  B w6 = ser(v6);
  REQUIRE(w6.size() == 4 + 3 + 1 + 16 + 2);
  CHECK(w6[7] == kAddrIPv6);
  auto p6 = parse_request(w6);
  REQUIRE(p6.ok());
  CHECK(p6.value.features.addr()->addr == Address("::1", 8080));
  Request mapped;
  mapped.features.list.push_back(AddrFeature{Address("::ffff:10.0.0.1", 1)});
  B wm = ser(mapped);
  CHECK(wm[7] == kAddrIPv4);
  CHECK(wm.size() == 4 + 3 + 7);
  // An empty host is 0.0.0.0 (GOST's bind request sends 0.0.0.0:0).
  Request any;
  any.features.list.push_back(AddrFeature{Address("", 0)});
  CHECK(ser(any) == B{0x01, 0x01, 0x00, 0x0A, 0x02, 0x00, 0x07, 0x01, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("relay responses", "[relay][codec]") {
  CHECK(ser(Response{}) == B{0x01, 0x00, 0x00, 0x00});
  Response bad;
  bad.status = kStatusUnauthorized;
  CHECK(ser(bad) == B{0x01, 0x02, 0x00, 0x00});
  Response bound;
  bound.features.list.push_back(AddrFeature{Address("0.0.0.0", 40000)});
  const B w{0x01, 0x00, 0x00, 0x0A, 0x02, 0x00, 0x07, 0x01, 0, 0, 0, 0, 0x9C, 0x40};
  CHECK(ser(bound) == w);
  auto p = parse_response(w);
  REQUIRE(p.ok());
  CHECK(p.value.status == kStatusOK);
  CHECK(p.value.features.addr()->addr == Address("0.0.0.0", 40000));
  // Bytes after the message are not consumed.
  B more = w;
  more.push_back(0xAA);
  auto pm = parse_response(more);
  REQUIRE(pm.ok());
  CHECK(pm.consumed == w.size());
  // Tunnel feature: 16 bytes of id.
  Response t;
  TunnelFeature tf;
  for (std::size_t i = 0; i < 16; ++i) tf.id[i] = static_cast<std::uint8_t>(i);
  t.features.list.push_back(tf);
  B wt = ser(t);
  CHECK(wt.size() == 4 + 3 + 16);
  auto pt = parse_response(wt);
  REQUIRE(pt.ok());
  REQUIRE(pt.value.features.tunnel());
  CHECK(pt.value.features.tunnel()->id == tf.id);
}

TEST_CASE("relay parser: prefixes need more, bad input fails", "[relay][codec]") {
  const B full{0x01, 0x01, 0x00, 0x0A, 0x02, 0x00, 0x07, 0x01, 0x7F, 0x00, 0x00, 0x01, 0x00, 0x50};
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto p = parse_request(Bytes(full.data(), n));
    CHECK(p.need_more());
  }
  // Wrong version fails at once.
  CHECK(parse_request(B{0x05}).failed());
  CHECK(parse_response(B{0x00, 0x00, 0x00, 0x00}).failed());
  // Unknown feature type.
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x03, 0x09, 0x00, 0x00}).failed());
  // A feature longer than the block.
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x04, 0x02, 0x00, 0x07, 0x01}).failed());
  // A truncated feature header inside the block.
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x02, 0x02, 0x00}).failed());
  // Bad address type; short IPv4; domain longer than the feature.
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x07, 0x02, 0x00, 0x04, 0x09, 0, 0, 0}).failed());
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x08, 0x02, 0x00, 0x05, 0x01, 1, 2, 3, 4}).failed());
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x08, 0x02, 0x00, 0x05, 0x03, 0x09, 'a', 0, 0}).failed());
  // Short user auth, short network, short tunnel.
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x04, 0x01, 0x00, 0x01, 0x00}).failed());
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x06, 0x01, 0x00, 0x03, 0x05, 'a', 'b'}).failed());
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x04, 0x04, 0x00, 0x01, 0x00}).failed());
  CHECK(parse_request(B{0x01, 0x01, 0x00, 0x05, 0x03, 0x00, 0x02, 0x00, 0x00}).failed());
  // Bytes past a feature's fields (within LEN) are ignored, as GOST does.
  auto p =
      parse_request(B{0x01, 0x01, 0x00, 0x0C, 0x02, 0x00, 0x09, 0x01, 1, 2, 3, 4, 0, 80, 7, 7});
  REQUIRE(p.ok());
  CHECK(p.value.features.addr()->addr == Address("1.2.3.4", 80));
  // No features at all is a valid request (the handler answers BadRequest).
  auto e = parse_request(B{0x01, 0x01, 0x00, 0x00});
  REQUIRE(e.ok());
  CHECK(e.value.features.list.empty());
}

TEST_CASE("relay serializer refuses what cannot be encoded", "[relay][codec]") {
  Request r;
  r.features.list.push_back(UserAuthFeature{std::string(256, 'u'), "p"});
  B out{0xEE};
  CHECK(serialize(r, out) == errc::bad_request);
  CHECK(out == B{0xEE});
  Request d;
  d.features.list.push_back(AddrFeature{Address(std::string(256, 'a'), 1)});
  CHECK(serialize(d, out) == errc::bad_request);
  Request big;
  for (int i = 0; i < 300; ++i)
    big.features.list.push_back(UserAuthFeature{std::string(255, 'u'), ""});
  CHECK(serialize(big, out) == errc::message_too_large);
  CHECK(out == B{0xEE});
}

TEST_CASE("relay UDP datagram framing", "[relay][codec][udp]") {
  B out;
  REQUIRE_FALSE(serialize_udp_frame_header(3, out));
  CHECK(out == B{0x00, 0x03});
  CHECK(serialize_udp_frame_header(65536, out) == errc::message_too_large);
  B f{0x00, 0x03, 'a', 'b', 'c', 'x'};
  auto p = parse_udp_frame(f);
  REQUIRE(p.ok());
  CHECK(p.value == 3);
  CHECK(p.consumed == 5);
  CHECK(parse_udp_frame(B{0x00}).need_more());
  CHECK(parse_udp_frame(B{0x00, 0x03, 'a'}).need_more());
  auto z = parse_udp_frame(B{0x00, 0x00});
  REQUIRE(z.ok());
  CHECK(z.value == 0);
  CHECK(network_name(kNetworkUdp) == "udp");
  CHECK(network_name(0x77) == "tcp");
}

TEST_CASE("UDP-tun frames (RSV = length, FRAG = 0xFF)", "[relay][codec][udptun]") {
  B out;
  REQUIRE_FALSE(socks::serialize_udp_tun_header(Address("127.0.0.1", 53), 2, out));
  CHECK(out == B{0x00, 0x02, 0xFF, 0x01, 127, 0, 0, 1, 0x00, 0x35});
  out.push_back('h');
  out.push_back('i');
  auto p = socks::parse_udp_tun_frame(out);
  REQUIRE(p.ok());
  CHECK(p.consumed == out.size());
  CHECK(p.value.header_len == 10);
  CHECK(p.value.data_len == 2);
  CHECK(p.value.addr == Address("127.0.0.1", 53));
  CHECK(socks::parse_udp_tun_frame(Bytes(out.data(), out.size() - 1)).need_more());
  B big;
  CHECK(socks::serialize_udp_tun_header(Address("1.1.1.1", 1), 70000, big) ==
        errc::message_too_large);
  B dom;
  REQUIRE_FALSE(socks::serialize_udp_tun_header(Address("example.com", 7), 0, dom));
  CHECK(dom[3] == 0x03);
  auto pd = socks::parse_udp_tun_frame(dom);
  REQUIRE(pd.ok());
  CHECK(pd.value.data_len == 0);
  CHECK(socks::parse_udp_tun_frame(B{0x00, 0x01, 0xFF, 0x07, 1, 2}).failed());
}
