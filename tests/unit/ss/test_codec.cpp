// Shadowsocks codec: key derivation vectors (computed independently with Python's hashlib/hmac
// and the `cryptography` AEADs), chunk framing, both editions end to end through the pure
// encoder/decoder, identity headers, replays, tampering and the UDP formats.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "ss/codec.hpp"
#include "ss/crypto.hpp"
#include "ss/udp.hpp"

using namespace gost;
using namespace gost::ss;

namespace {
std::string hex(const std::vector<std::uint8_t>& v) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto b : v) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}
std::vector<std::uint8_t> seq(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i);
  return v;
}

Keys keys(const std::string& method, const std::string& pass,
          const std::map<std::string, std::string>& users = {}) {
  auto k = make_keys(method, pass, users);
  REQUIRE(k.ok());
  return *k;
}

// Encodes all of `data` (in writes of `step` bytes).
std::vector<std::uint8_t> encode_all(Encoder& e, const std::vector<std::uint8_t>& data,
                                     std::size_t step = 1 << 20) {
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> buf(72 * 1024);
  std::size_t off = 0;
  do {
    const std::size_t n = std::min(step, data.size() - off);
    std::size_t consumed = 0;
    std::size_t w = e.encode(data.data() + off, n, buf.data(), buf.size(), &consumed);
    REQUIRE(w > 0);
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w));
    off += consumed;
  } while (off < data.size());
  return out;
}

struct Decoded {
  std::vector<std::uint8_t> plain;
  std::error_code ec;
  bool complete = false;  // every input byte was used
};

// Feeds `wire` to the decoder `feed` bytes at a time, as the stream would.
Decoded decode_all(Decoder& d, const std::vector<std::uint8_t>& wire, std::size_t feed = 1 << 20) {
  Decoded r;
  std::vector<std::uint8_t> buf;
  std::size_t given = 0;
  for (;;) {
    auto st = d.step(buf.data(), buf.size());
    if (st.status == ParseStatus::error) {
      r.ec = st.ec;
      return r;
    }
    if (st.status == ParseStatus::ok) {
      r.plain.insert(r.plain.end(), buf.begin() + static_cast<std::ptrdiff_t>(st.plain_off),
                     buf.begin() + static_cast<std::ptrdiff_t>(st.plain_off + st.plain_len));
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(st.consumed));
      continue;
    }
    if (given == wire.size()) {
      r.complete = buf.empty();
      return r;
    }
    const std::size_t n = std::min(feed, wire.size() - given);
    buf.insert(buf.end(), wire.begin() + static_cast<std::ptrdiff_t>(given),
               wire.begin() + static_cast<std::ptrdiff_t>(given + n));
    given += n;
  }
}

std::vector<std::uint8_t> addr_bytes(const Address& a) {
  std::vector<std::uint8_t> v;
  REQUIRE(!serialize_address(a, v));
  return v;
}

const char* kPsk16 = "AAECAwQFBgcICQoLDA0ODw==";                      // 00..0f
const char* kPsk32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // 00..1f
const char* kUser16a = "EBESExQVFhcYGRobHB0eHw==";                    // 10..1f
const char* kUser16b = "ICEiIyQlJicoKSorLC0uLw==";                    // 20..2f
std::int64_t fixed_clock() { return 1700000000; }
std::int64_t clock_plus_31() { return 1700000031; }
std::int64_t clock_minus_29() { return 1700000000 - 29; }
}  // namespace

TEST_CASE("ss kdf: EVP_BytesToKey(MD5) and HKDF-SHA1 ss-subkey vectors") {
  CHECK(hex(password_key("password", 16)) == "5f4dcc3b5aa765d61d8327deb882cf99");
  CHECK(hex(password_key("password", 32)) ==
        "5f4dcc3b5aa765d61d8327deb882cf992b95990a9151374abd8ff8c5a7a0fe08");
  auto s16 = seq(16), s32 = seq(32);
  CHECK(hex(aead_subkey(password_key("password", 16), s16.data(), 16)) ==
        "ed2a618d9490d1701de885d82aa80616");
  CHECK(hex(aead_subkey(password_key("password", 32), s32.data(), 32)) ==
        "ee187aed3f87574907a39db98606f60a526114831288097cac66054b33a9464f");
}

TEST_CASE("ss methods: names are case-insensitive, unknown ones refused") {
  CHECK(find_method("AES-128-GCM") != nullptr);
  CHECK(find_method("chacha20-ietf-poly1305") != nullptr);
  CHECK(find_method("2022-blake3-aes-256-gcm") != nullptr);
  CHECK(find_method("aes-256-cfb") == nullptr);
  CHECK(find_method("2022-blake3-chacha20-poly1305") == nullptr);
  CHECK(!make_keys("2022-blake3-aes-128-gcm", kPsk32).ok());  // wrong PSK length
  CHECK(!make_keys("2022-blake3-aes-128-gcm", "not base64!").ok());
  CHECK(!make_keys("rc4-md5", "x").ok());
}

TEST_CASE("ss aead: chunk framing matches an independent implementation") {
  struct V {
    const char* method;
    std::size_t salt;
    const char* wire;
  } vs[] = {
      {"aes-128-gcm", 16,
       "000102030405060708090a0b0c0d0e0f5c271a8ed1080f8422cff31fc0a09fd1406afd6e1bd9e43bce4509ac6cd"
       "48c17cf61a79091a6cda9ba816d"},
      {"chacha20-ietf-poly1305", 32,
       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fad41f7137a99b400872e5c3105"
       "ac2861311c81b7ab25e2307bed4e3984e2f4ca4ef0bec7a7952e3ae3b56c"},
  };
  for (const auto& v : vs) {
    INFO(v.method);
    Keys k = keys(v.method, "password");
    Encoder e(&k, Encoder::Role::client);
    e.set_salt(seq(v.salt));
    REQUIRE(!e.set_target(Address("127.0.0.1", 80)));
    std::vector<std::uint8_t> hi = {'h', 'i'};
    CHECK(hex(encode_all(e, hi)) == v.wire);
  }
}

TEST_CASE("ss streams round-trip through encoder and decoder, any feed size") {
  const std::vector<std::uint8_t> data = [] {
    std::vector<std::uint8_t> d(200000);
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>(i * 7 + 3);
    return d;
  }();
  const Address target("example.com", 443);
  for (const char* m : {"aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
                        "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm"}) {
    INFO(m);
    const bool v2022 = std::string(m).rfind("2022", 0) == 0;
    Keys k = keys(
        m, v2022 ? (std::string(m).find("128") != std::string::npos ? kPsk16 : kPsk32) : "secret");
    // client -> server
    Encoder ce(&k, Encoder::Role::client);
    REQUIRE(!ce.set_target(target));
    const Salt req_salt = ce.salt();  // the encoder drops it once the header is out
    auto wire = encode_all(ce, data, 40000);
    CHECK(ce.salt().empty());
    for (std::size_t feed : {std::size_t(1) << 20, std::size_t(1000), std::size_t(7)}) {
      Decoder sd(&k, Decoder::Role::server);
      auto r = decode_all(sd, wire, feed);
      REQUIRE(!r.ec);
      CHECK(r.complete);
      auto want = addr_bytes(target);
      want.insert(want.end(), data.begin(), data.end());
      CHECK(r.plain == want);
    }
    // server -> client (the 2022 response echoes the request salt)
    Decoder sd(&k, Decoder::Role::server);
    REQUIRE(!decode_all(sd, wire).ec);
    Encoder se(&k, Encoder::Role::server);
    se.set_response_info(sd.peer_salt(), sd.session_key());
    auto back = encode_all(se, data, 70000);
    Decoder cd(&k, Decoder::Role::client);
    cd.set_request_salt(req_salt.data(), req_salt.size());
    auto r = decode_all(cd, back, 3000);
    REQUIRE(!r.ec);
    CHECK(r.plain == data);
    if (v2022) {
      Decoder other(&k, Decoder::Role::client);
      Salt wrong = req_salt;
      wrong[0] ^= 1;
      other.set_request_salt(wrong.data(), wrong.size());
      CHECK(decode_all(other, back).ec);
    }
  }
}

TEST_CASE("ss aead: max payload is 0x3FFF per chunk; 2022 allows 0xFFFF") {
  Keys k = keys("aes-128-gcm", "x");
  Encoder e(&k, Encoder::Role::server);
  std::vector<std::uint8_t> data(0x4000, 1);
  auto wire = encode_all(e, data);
  // salt + two chunks (16383 + 1)
  CHECK(wire.size() == 16 + (2 + 16 + 0x3FFF + 16) + (2 + 16 + 1 + 16));
  Keys k2 = keys("2022-blake3-aes-128-gcm", kPsk16);
  Encoder e2(&k2, Encoder::Role::server);
  e2.set_response_info(seq(16), k2.key());
  std::vector<std::uint8_t> big(0xFFFF + 10, 2);
  auto w2 = encode_all(e2, big);
  // salt + header(11+16 + 16) + first payload 0xFFFF + tag + a chunk of 10
  CHECK(w2.size() == 16 + (11 + 16 + 16) + (0xFFFF + 16) + (2 + 16 + 10 + 16));
}

TEST_CASE("ss: tampered, truncated-key and garbage streams are refused") {
  for (const char* m : {"aes-256-gcm", "2022-blake3-aes-128-gcm"}) {
    INFO(m);
    const bool v2022 = std::string(m).rfind("2022", 0) == 0;
    Keys k = keys(m, v2022 ? kPsk16 : "right");
    Encoder ce(&k, Encoder::Role::client);
    REQUIRE(!ce.set_target(Address("10.0.0.1", 22)));
    auto wire = encode_all(ce, std::vector<std::uint8_t>(5000, 9));
    for (std::size_t pos : {std::size_t(0), std::size_t(20), std::size_t(40), wire.size() - 1}) {
      auto t = wire;
      t[pos] ^= 0x40;
      Decoder d(&k, Decoder::Role::server);
      CHECK(decode_all(d, t).ec);
    }
    Keys wrong = keys(m, v2022 ? "EBESExQVFhcYGRobHB0eHw==" : "wrong");
    Decoder d(&wrong, Decoder::Role::server);
    CHECK(decode_all(d, wire).ec);
    std::vector<std::uint8_t> garbage(3000, 0x41);
    Decoder g(&k, Decoder::Role::server);
    CHECK(decode_all(g, garbage).ec);
  }
}

TEST_CASE("ss: a replayed salt is refused by the server's filter") {
  for (const char* m : {"chacha20-ietf-poly1305", "2022-blake3-aes-256-gcm"}) {
    INFO(m);
    Keys k = keys(m, std::string(m).rfind("2022", 0) == 0 ? kPsk32 : "pw");
    k.filter = std::make_shared<SaltFilter>();
    Encoder ce(&k, Encoder::Role::client);
    REQUIRE(!ce.set_target(Address("1.2.3.4", 5)));
    auto wire = encode_all(ce, std::vector<std::uint8_t>(10, 1));
    Decoder d1(&k, Decoder::Role::server);
    CHECK(!decode_all(d1, wire).ec);
    Decoder d2(&k, Decoder::Role::server);
    CHECK(decode_all(d2, wire).ec == make_error_code(errc::forbidden));
  }
}

TEST_CASE("ss 2022: timestamps outside +-30s are refused") {
  Keys k = keys("2022-blake3-aes-128-gcm", kPsk16);
  Encoder ce(&k, Encoder::Role::client);
  ce.set_clock(fixed_clock);
  REQUIRE(!ce.set_target(Address("1.2.3.4", 5)));
  auto wire = encode_all(ce, std::vector<std::uint8_t>(10, 1));
  Decoder late(&k, Decoder::Role::server);
  late.set_clock(clock_plus_31);
  CHECK(decode_all(late, wire).ec);
  Decoder ok(&k, Decoder::Role::server);
  ok.set_clock(clock_minus_29);
  CHECK(!decode_all(ok, wire).ec);
}

TEST_CASE("ss 2022: a header-only request carries padding and no payload") {
  Keys k = keys("2022-blake3-aes-128-gcm", kPsk16);
  Encoder ce(&k, Encoder::Role::client);
  REQUIRE(!ce.set_target(Address("h.example", 80)));
  auto wire = encode_all(ce, {});
  Decoder d(&k, Decoder::Role::server);
  auto r = decode_all(d, wire);
  REQUIRE(!r.ec);
  CHECK(r.plain == addr_bytes(Address("h.example", 80)));
}

TEST_CASE("ss 2022: several users through identity headers") {
  std::map<std::string, std::string> users = {{"alice", kUser16a}, {"bob", kUser16b}};
  Keys server = keys("2022-blake3-aes-128-gcm", kPsk16, users);
  for (auto [name, upsk] : {std::pair{"alice", kUser16a}, std::pair{"bob", kUser16b}}) {
    Keys client = keys("2022-blake3-aes-128-gcm", std::string(kPsk16) + ":" + upsk);
    Encoder ce(&client, Encoder::Role::client);
    REQUIRE(!ce.set_target(Address("9.9.9.9", 53)));
    const Salt req_salt = ce.salt();
    auto wire = encode_all(ce, std::vector<std::uint8_t>(100, 5));
    CHECK(wire.size() > 16 + 16);
    Decoder sd(&server, Decoder::Role::server);
    auto r = decode_all(sd, wire);
    INFO(r.ec.message());
    REQUIRE(!r.ec);
    CHECK(sd.user() == name);
    // The response is sealed with the user's PSK.
    Encoder se(&server, Encoder::Role::server);
    se.set_response_info(sd.peer_salt(), sd.session_key());
    auto back = encode_all(se, std::vector<std::uint8_t>(50, 6));
    Decoder cd(&client, Decoder::Role::client);
    cd.set_request_salt(req_salt.data(), req_salt.size());
    auto rb = decode_all(cd, back);
    REQUIRE(!rb.ec);
    CHECK(rb.plain == std::vector<std::uint8_t>(50, 6));
  }
  // An unknown user, and a client without an identity header.
  Keys stranger = keys("2022-blake3-aes-128-gcm", std::string(kPsk16) + ":" + kPsk16);
  Encoder ce(&stranger, Encoder::Role::client);
  REQUIRE(!ce.set_target(Address("9.9.9.9", 53)));
  Decoder sd(&server, Decoder::Role::server);
  CHECK(decode_all(sd, encode_all(ce, {1, 2, 3})).ec);
  Keys single = keys("2022-blake3-aes-128-gcm", kUser16a);
  Encoder ce2(&single, Encoder::Role::client);
  REQUIRE(!ce2.set_target(Address("9.9.9.9", 53)));
  Decoder sd2(&server, Decoder::Role::server);
  CHECK(decode_all(sd2, encode_all(ce2, {1, 2, 3})).ec);
}

TEST_CASE("ss none/dummy: the target then the data in clear") {
  for (const char* m : {"none", "DUMMY"}) {
    Keys k = keys(m, "");
    Encoder ce(&k, Encoder::Role::client);
    REQUIRE(!ce.set_target(Address("1.2.3.4", 80)));
    auto wire = encode_all(ce, {'a', 'b'});
    CHECK(hex(wire) == "010102030400506162");
    Decoder d(&k, Decoder::Role::server);
    auto r = decode_all(d, wire, 3);
    REQUIRE(!r.ec);
    CHECK(r.plain == wire);
    std::vector<std::uint8_t> pkt;
    std::vector<std::uint8_t> data = {'x'};
    REQUIRE(!seal_packet(k, Address("1.2.3.4", 80), data.data(), 1, pkt));
    CHECK(hex(pkt) ==
          "010102030400"
          "5078");
    Address a;
    std::size_t off = 0, len = 0;
    REQUIRE(!open_packet(k, pkt.data(), pkt.size(), &a, &off, &len));
    CHECK(a == Address("1.2.3.4", 80));
    CHECK(len == 1);
  }
}

TEST_CASE("ss udp: AEAD packets and UDP-tun frames") {
  Keys k = keys("aes-128-gcm", "pw");
  std::vector<std::uint8_t> pkt;
  const std::vector<std::uint8_t> data = {'p', 'i', 'n', 'g'};
  REQUIRE(!seal_packet(k, Address("8.8.8.8", 53), data.data(), data.size(), pkt));
  CHECK(pkt.size() == 16 + 7 + 4 + 16);
  auto copy = pkt;
  Address a;
  std::size_t off = 0, len = 0;
  REQUIRE(!open_packet(k, copy.data(), copy.size(), &a, &off, &len));
  CHECK(a == Address("8.8.8.8", 53));
  CHECK(std::vector<std::uint8_t>(copy.begin() + static_cast<std::ptrdiff_t>(off),
                                  copy.begin() + static_cast<std::ptrdiff_t>(off + len)) == data);
  copy = pkt;
  copy[20] ^= 1;
  CHECK(open_packet(k, copy.data(), copy.size(), &a, &off, &len));
  CHECK(open_packet(k, pkt.data(), 10, &a, &off, &len));

  std::vector<std::uint8_t> f;
  REQUIRE(!serialize_tun_header(Address("1.2.3.4", 7), data.size(), f));
  f.insert(f.end(), data.begin(), data.end());
  CHECK(hex(f) == "0004ff01010203040007" + hex(data));
  auto p = parse_tun_frame(Bytes(f));
  REQUIRE(p.ok());
  CHECK(p.consumed == f.size());
  CHECK(p.value.addr == Address("1.2.3.4", 7));
  CHECK(p.value.data_len == 4);
  CHECK(parse_tun_frame(Bytes(f.data(), f.size() - 1)).need_more());
  f[2] = 0;
  CHECK(parse_tun_frame(Bytes(f)).failed());
}

TEST_CASE("ss 2022 udp: sessions, identity headers, replays and the time window") {
  std::map<std::string, std::string> users = {{"alice", kUser16a}, {"bob", kUser16b}};
  auto server = std::make_shared<Keys>(keys("2022-blake3-aes-128-gcm", kPsk16, users));
  auto client =
      std::make_shared<Keys>(keys("2022-blake3-aes-128-gcm", std::string(kPsk16) + ":" + kUser16b));
  ClientPacketCodec cc(client);
  ServerPacketCodec sc(server);
  const std::vector<std::uint8_t> data = {'q', 'u', 'e', 'r', 'y'};
  for (int i = 0; i < 3; ++i) {
    std::vector<std::uint8_t> pkt;
    REQUIRE(!cc.seal(Address("8.8.4.4", 53), data.data(), data.size(), pkt));
    auto copy = pkt;
    Address target;
    std::size_t off = 0, len = 0;
    REQUIRE(!sc.open(copy.data(), copy.size(), &target, &off, &len));
    CHECK(target == Address("8.8.4.4", 53));
    CHECK(std::vector<std::uint8_t>(copy.begin() + static_cast<std::ptrdiff_t>(off),
                                    copy.begin() + static_cast<std::ptrdiff_t>(off + len)) == data);
    copy = pkt;  // the same packet again is a replay
    CHECK(sc.open(copy.data(), copy.size(), &target, &off, &len));
    copy = pkt;
    copy[copy.size() - 1] ^= 1;
    ServerPacketCodec fresh(server);
    CHECK(fresh.open(copy.data(), copy.size(), &target, &off, &len));
    // The response goes back with the user's key and the client's session id.
    std::vector<std::uint8_t> resp;
    REQUIRE(!sc.seal(Address("8.8.4.4", 53), data.data(), data.size(), resp));
    Address from;
    REQUIRE(!cc.open(resp.data(), resp.size(), &from, &off, &len));
    CHECK(from == Address("8.8.4.4", 53));
    CHECK(len == data.size());
  }
  // A response for another client session is dropped.
  ClientPacketCodec other(client);
  std::vector<std::uint8_t> resp;
  REQUIRE(!sc.seal(Address("1.1.1.1", 53), data.data(), data.size(), resp));
  Address from;
  std::size_t off = 0, len = 0;
  CHECK(other.open(resp.data(), resp.size(), &from, &off, &len));
  // Old timestamps are refused.
  std::vector<std::uint8_t> old;
  REQUIRE(!seal_2022_request(*client, 7, 0, Address("1.1.1.1", 53), data.data(), data.size(), old,
                             unix_now() - 40));
  Packet2022 info;
  CHECK(open_2022_packet(*server, true, old.data(), old.size(), &info, &off, &len, unix_now()) ==
        make_error_code(errc::timeout));
}

TEST_CASE("ss 2022 udp: packet id window") {
  PacketWindow w;
  CHECK(w.check_and_add(5));
  CHECK(!w.check_and_add(5));
  CHECK(w.check_and_add(3));
  CHECK(w.check_and_add(100));
  CHECK(!w.check_and_add(3));  // too old
  CHECK(w.check_and_add(99));
  CHECK(!w.check_and_add(99));
}

TEST_CASE("ss salt filter: remembers two generations, then forgets (bounded memory)") {
  SaltFilter f(4);
  auto salt = [](int i) {
    std::vector<std::uint8_t> s(16, 0);
    s[0] = static_cast<std::uint8_t>(i);
    s[15] = 0xAA;
    return s;
  };
  for (int i = 0; i < 4; ++i) CHECK(f.check_and_add(salt(i).data(), 16));
  for (int i = 0; i < 4; ++i) CHECK(!f.check_and_add(salt(i).data(), 16));
  for (int i = 4; i < 8; ++i) CHECK(f.check_and_add(salt(i).data(), 16));   // rotates once
  CHECK(!f.check_and_add(salt(1).data(), 16));                              // still remembered
  for (int i = 8; i < 12; ++i) CHECK(f.check_and_add(salt(i).data(), 16));  // rotates again
  CHECK(f.check_and_add(salt(0).data(), 16));                               // forgotten
  auto s32 = seq(32);
  CHECK(f.check_and_add(s32.data(), 32));
  CHECK(!f.check_and_add(s32.data(), 32));
}
