#include "socks/codec.hpp"

#include <array>
#include <asio/ip/address.hpp>
#include <asio/ip/address_v4.hpp>
#include <asio/ip/address_v6.hpp>
#include <cstring>
#include <optional>

namespace gost::socks {
namespace {

std::error_code bad() { return make_error_code(errc::bad_request); }

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned>(p[0]) << 8) | p[1]);
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

std::string ipv4_string(const std::uint8_t* p) {
  asio::ip::address_v4::bytes_type b{p[0], p[1], p[2], p[3]};
  return asio::ip::address_v4(b).to_string();
}

std::string ipv6_string(const std::uint8_t* p) {
  asio::ip::address_v6::bytes_type b;
  std::memcpy(b.data(), p, 16);
  return asio::ip::address_v6(b).to_string();
}

// The host as an IP literal (kept local so the codec needs nothing but Asio).
std::optional<asio::ip::address> ip_of(const Address& a) {
  std::error_code ec;
  auto ip = asio::ip::make_address(a.host, ec);
  if (ec) return std::nullopt;
  return ip;
}

// IPv4 bytes of an Address (empty host = 0.0.0.0); nullopt for anything that is not IPv4.
std::optional<asio::ip::address_v4::bytes_type> ipv4_bytes(const Address& a) {
  if (a.host.empty()) return asio::ip::address_v4::bytes_type{};
  auto ip = ip_of(a);
  if (!ip) return std::nullopt;
  if (ip->is_v4()) return ip->to_v4().to_bytes();
  if (ip->to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, ip->to_v6()).to_bytes();
  }
  return std::nullopt;
}

// Finds the NUL ending a string that starts at `pos` and may be at most `max` bytes long.
struct CString {
  bool complete = false;
  bool too_long = false;
  std::size_t end = 0;  // index of the NUL
};
CString find_cstring(Bytes in, std::size_t pos, std::size_t max) {
  CString r;
  for (std::size_t i = pos; i < in.size() && i - pos <= max; ++i) {
    if (in[i] == 0) {
      r.complete = true;
      r.end = i;
      return r;
    }
  }
  r.too_long = in.size() - pos > max;
  return r;
}

}  // namespace

// ---------------------------------------------------------------- SOCKS4 / SOCKS4a

// SOCKS4 request (SOCKS4.protocol), SOCKS4a extension (SOCKS4A.protocol):
//
//   +----+----+----+----+----+----+----+----+----+----+....+----+
//   | VN | CD | DSTPORT |      DSTIP        | USERID       |NULL|
//   +----+----+----+----+----+----+----+----+----+----+....+----+
//      1    1      2              4           variable       1
//
//   VN = 4, CD = 1 CONNECT / 2 BIND. SOCKS4a: DSTIP = 0.0.0.x with x != 0, and the
//   NUL-terminated domain name follows the USERID's NUL:
//     ... | USERID | NULL | HOSTNAME | NULL |
Parsed<Socks4Request> parse_socks4_request(Bytes in) {
  using P = Parsed<Socks4Request>;
  if (in.empty()) return P::more();
  if (in[0] != kSocks4Version) return P::fail(bad());
  if (in.size() < 8) return P::more();
  Socks4Request req;
  req.command = in[1];
  if (req.command != kSocks4Connect && req.command != kSocks4Bind) {
    return P::fail(make_error_code(errc::unsupported));
  }
  const std::uint16_t port = be16(&in[2]);
  auto uid = find_cstring(in, 8, kSocks4MaxUserId);
  if (uid.too_long) return P::fail(bad());
  if (!uid.complete) return P::more();
  req.userid.assign(reinterpret_cast<const char*>(in.data() + 8), uid.end - 8);
  std::size_t consumed = uid.end + 1;
  const bool is4a = in[4] == 0 && in[5] == 0 && in[6] == 0 && in[7] != 0;
  if (is4a) {
    auto dom = find_cstring(in, consumed, kSocks4MaxDomain);
    if (dom.too_long) return P::fail(bad());
    if (!dom.complete) return P::more();
    if (dom.end == consumed) return P::fail(bad());  // empty domain name
    req.target = Address(
        std::string(reinterpret_cast<const char*>(in.data() + consumed), dom.end - consumed), port);
    req.socks4a = true;
    consumed = dom.end + 1;
  } else {
    req.target = Address(ipv4_string(&in[4]), port);
  }
  return P::done(consumed, std::move(req));
}

std::error_code serialize(const Socks4Request& req, std::vector<std::uint8_t>& out) {
  if (req.userid.size() > kSocks4MaxUserId || req.userid.find('\0') != std::string::npos)
    return bad();
  std::array<std::uint8_t, 4> ip{};
  bool domain = false;
  if (auto b = ipv4_bytes(req.target)) {
    std::memcpy(ip.data(), b->data(), 4);
  } else if (ip_of(req.target)) {
    return bad();  // IPv6 cannot be carried by SOCKS4
  } else {
    if (req.target.host.size() > kSocks4MaxDomain ||
        req.target.host.find('\0') != std::string::npos)
      return bad();
    ip = {0, 0, 0, 1};
    domain = true;
  }
  out.push_back(kSocks4Version);
  out.push_back(req.command);
  put16(out, req.target.port);
  out.insert(out.end(), ip.begin(), ip.end());
  out.insert(out.end(), req.userid.begin(), req.userid.end());
  out.push_back(0);
  if (domain) {
    out.insert(out.end(), req.target.host.begin(), req.target.host.end());
    out.push_back(0);
  }
  return {};
}

// SOCKS4 reply:
//
//   +----+----+----+----+----+----+----+----+
//   | VN | CD | DSTPORT |      DSTIP        |
//   +----+----+----+----+----+----+----+----+
//      1    1      2              4
//
//   VN = 0 (the reply version), CD = 90 granted, 91 rejected or failed, 92 / 93 identd failures.
Parsed<Socks4Reply> parse_socks4_reply(Bytes in) {
  using P = Parsed<Socks4Reply>;
  if (in.empty()) return P::more();
  if (in[0] != kSocks4ReplyVersion) return P::fail(bad());
  if (in.size() < 8) return P::more();
  if (in[1] < kSocks4Granted || in[1] > kSocks4IdentMismatch) return P::fail(bad());
  Socks4Reply rep;
  rep.code = in[1];
  rep.addr = Address(ipv4_string(&in[4]), be16(&in[2]));
  return P::done(8, std::move(rep));
}

std::error_code serialize(const Socks4Reply& rep, std::vector<std::uint8_t>& out) {
  auto b = ipv4_bytes(rep.addr);
  if (!b) return bad();
  out.push_back(kSocks4ReplyVersion);
  out.push_back(rep.code);
  put16(out, rep.addr.port);
  out.insert(out.end(), b->begin(), b->end());
  return {};
}

// ---------------------------------------------------------------- SOCKS5 address

// RFC 1928 §5: the address fields shared by requests, replies and UDP headers.
//
//   +------+----------+----------+
//   | ATYP |   ADDR   |   PORT   |
//   +------+----------+----------+
//   |  1   | Variable |    2     |
//   +------+----------+----------+
//
//   ATYP 0x01: ADDR = 4 bytes IPv4; 0x03: ADDR = LEN(1) + LEN bytes of domain name (no NUL);
//   0x04: ADDR = 16 bytes IPv6. PORT in network byte order.
Parsed<Address> parse_socks5_address(Bytes in) {
  using P = Parsed<Address>;
  if (in.empty()) return P::more();
  switch (in[0]) {
    case kAtypIPv4:
      if (in.size() < 1 + 4 + 2) return P::more();
      return P::done(7, Address(ipv4_string(&in[1]), be16(&in[5])));
    case kAtypIPv6:
      if (in.size() < 1 + 16 + 2) return P::more();
      return P::done(19, Address(ipv6_string(&in[1]), be16(&in[17])));
    case kAtypDomain: {
      if (in.size() < 2) return P::more();
      const std::size_t len = in[1];
      if (len == 0) return P::fail(bad());
      if (in.size() < 2 + len + 2) return P::more();
      std::string host(reinterpret_cast<const char*>(&in[2]), len);
      if (host.find('\0') != std::string::npos) return P::fail(bad());
      return P::done(2 + len + 2, Address(std::move(host), be16(&in[2 + len])));
    }
    default:
      return P::fail(make_error_code(errc::unsupported));
  }
}

std::size_t socks5_address_size(const Address& addr) {
  if (addr.host.empty()) return 7;
  if (auto ip = ip_of(addr)) return ip->is_v4() ? 7 : 19;
  if (addr.host.size() > 255) return 0;
  return 4 + addr.host.size();
}

std::error_code serialize_socks5_address(const Address& addr, std::vector<std::uint8_t>& out) {
  if (addr.host.empty()) {
    out.insert(out.end(), {kAtypIPv4, 0, 0, 0, 0});
  } else if (auto ip = ip_of(addr)) {
    if (ip->is_v4()) {
      out.push_back(kAtypIPv4);
      auto b = ip->to_v4().to_bytes();
      out.insert(out.end(), b.begin(), b.end());
    } else {
      out.push_back(kAtypIPv6);
      auto b = ip->to_v6().to_bytes();
      out.insert(out.end(), b.begin(), b.end());
    }
  } else {
    if (addr.host.size() > 255 || addr.host.find('\0') != std::string::npos) return bad();
    out.push_back(kAtypDomain);
    out.push_back(static_cast<std::uint8_t>(addr.host.size()));
    out.insert(out.end(), addr.host.begin(), addr.host.end());
  }
  put16(out, addr.port);
  return {};
}

// ---------------------------------------------------------------- method selection

// RFC 1928 §3, client -> server:
//
//   +----+----------+----------+
//   |VER | NMETHODS | METHODS  |
//   +----+----------+----------+
//   | 1  |    1     | 1 to 255 |
//   +----+----------+----------+
Parsed<MethodRequest> parse_method_request(Bytes in) {
  using P = Parsed<MethodRequest>;
  if (in.empty()) return P::more();
  if (in[0] != kSocks5Version) return P::fail(bad());
  if (in.size() < 2) return P::more();
  const std::size_t n = in[1];
  if (n == 0) return P::fail(bad());
  if (in.size() < 2 + n) return P::more();
  MethodRequest req;
  req.methods.assign(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(n));
  return P::done(2 + n, std::move(req));
}

std::error_code serialize(const MethodRequest& req, std::vector<std::uint8_t>& out) {
  if (req.methods.empty() || req.methods.size() > 255) return bad();
  out.push_back(kSocks5Version);
  out.push_back(static_cast<std::uint8_t>(req.methods.size()));
  out.insert(out.end(), req.methods.begin(), req.methods.end());
  return {};
}

// RFC 1928 §3, server -> client:
//
//   +----+--------+
//   |VER | METHOD |
//   +----+--------+
//   | 1  |   1    |
//   +----+--------+
//
//   METHOD 0x00 no authentication, 0x01 GSSAPI, 0x02 username/password, 0xFF none acceptable.
Parsed<MethodReply> parse_method_reply(Bytes in) {
  using P = Parsed<MethodReply>;
  if (in.empty()) return P::more();
  if (in[0] != kSocks5Version) return P::fail(bad());
  if (in.size() < 2) return P::more();
  return P::done(2, MethodReply{in[1]});
}

std::error_code serialize(const MethodReply& rep, std::vector<std::uint8_t>& out) {
  out.push_back(kSocks5Version);
  out.push_back(rep.method);
  return {};
}

// ---------------------------------------------------------------- RFC 1929

// RFC 1929 §2, client -> server:
//
//   +----+------+----------+------+----------+
//   |VER | ULEN |  UNAME   | PLEN |  PASSWD  |
//   +----+------+----------+------+----------+
//   | 1  |  1   | 1 to 255 |  1   | 1 to 255 |
//   +----+------+----------+------+----------+
//
//   VER = 0x01. Zero-length fields are accepted: clients send them for empty user names or
//   passwords.
Parsed<UserPassRequest> parse_userpass_request(Bytes in) {
  using P = Parsed<UserPassRequest>;
  if (in.empty()) return P::more();
  if (in[0] != kUserPassVersion) return P::fail(bad());
  if (in.size() < 2) return P::more();
  const std::size_t ulen = in[1];
  if (in.size() < 2 + ulen + 1) return P::more();
  const std::size_t plen = in[2 + ulen];
  const std::size_t total = 3 + ulen + plen;
  if (in.size() < total) return P::more();
  UserPassRequest req;
  req.username.assign(reinterpret_cast<const char*>(&in[2]), ulen);
  req.password.assign(reinterpret_cast<const char*>(&in[3 + ulen]), plen);
  return P::done(total, std::move(req));
}

std::error_code serialize(const UserPassRequest& req, std::vector<std::uint8_t>& out) {
  if (req.username.size() > 255 || req.password.size() > 255) return bad();
  out.push_back(kUserPassVersion);
  out.push_back(static_cast<std::uint8_t>(req.username.size()));
  out.insert(out.end(), req.username.begin(), req.username.end());
  out.push_back(static_cast<std::uint8_t>(req.password.size()));
  out.insert(out.end(), req.password.begin(), req.password.end());
  return {};
}

// RFC 1929 §2, server -> client:
//
//   +----+--------+
//   |VER | STATUS |
//   +----+--------+
//   | 1  |   1    |
//   +----+--------+
//
//   STATUS 0x00 success; anything else is a failure and the server closes the connection.
//   VER is 0x01; some servers answer 0x05, which is accepted too.
Parsed<UserPassReply> parse_userpass_reply(Bytes in) {
  using P = Parsed<UserPassReply>;
  if (in.empty()) return P::more();
  if (in[0] != kUserPassVersion && in[0] != kSocks5Version) return P::fail(bad());
  if (in.size() < 2) return P::more();
  return P::done(2, UserPassReply{in[1]});
}

std::error_code serialize(const UserPassReply& rep, std::vector<std::uint8_t>& out) {
  out.push_back(kUserPassVersion);
  out.push_back(rep.status);
  return {};
}

// ---------------------------------------------------------------- requests and replies

// RFC 1928 §4, request:
//
//   +----+-----+-------+------+----------+----------+
//   |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
//   +----+-----+-------+------+----------+----------+
//   | 1  |  1  | X'00' |  1   | Variable |    2     |
//   +----+-----+-------+------+----------+----------+
//
//   CMD 0x01 CONNECT, 0x02 BIND, 0x03 UDP ASSOCIATE. RSV is not checked (RFC: "reserved").
Parsed<Request> parse_request(Bytes in) {
  using P = Parsed<Request>;
  if (in.empty()) return P::more();
  if (in[0] != kSocks5Version) return P::fail(bad());
  if (in.size() < 4) return P::more();
  auto a = parse_socks5_address(in.subspan(3));
  if (!a.ok()) return a.failed() ? P::fail(a.ec) : P::more();
  return P::done(3 + a.consumed, Request{in[1], std::move(a.value)});
}

std::error_code serialize(const Request& req, std::vector<std::uint8_t>& out) {
  std::vector<std::uint8_t> tmp{kSocks5Version, req.command, 0x00};
  if (auto ec = serialize_socks5_address(req.addr, tmp)) return ec;
  out.insert(out.end(), tmp.begin(), tmp.end());
  return {};
}

// RFC 1928 §6, reply:
//
//   +----+-----+-------+------+----------+----------+
//   |VER | REP |  RSV  | ATYP | BND.ADDR | BND.PORT |
//   +----+-----+-------+------+----------+----------+
//   | 1  |  1  | X'00' |  1   | Variable |    2     |
//   +----+-----+-------+------+----------+----------+
//
//   REP 0x00 succeeded, 0x01 general failure, 0x02 not allowed by ruleset, 0x03 network
//   unreachable, 0x04 host unreachable, 0x05 connection refused, 0x06 TTL expired, 0x07 command
//   not supported, 0x08 address type not supported.
Parsed<Reply> parse_reply(Bytes in) {
  using P = Parsed<Reply>;
  if (in.empty()) return P::more();
  if (in[0] != kSocks5Version) return P::fail(bad());
  if (in.size() < 4) return P::more();
  auto a = parse_socks5_address(in.subspan(3));
  if (!a.ok()) return a.failed() ? P::fail(a.ec) : P::more();
  return P::done(3 + a.consumed, Reply{in[1], std::move(a.value)});
}

std::error_code serialize(const Reply& rep, std::vector<std::uint8_t>& out) {
  std::vector<std::uint8_t> tmp{kSocks5Version, rep.reply, 0x00};
  if (auto ec = serialize_socks5_address(rep.addr, tmp)) return ec;
  out.insert(out.end(), tmp.begin(), tmp.end());
  return {};
}

// ---------------------------------------------------------------- UDP

// RFC 1928 §7, each UDP datagram to / from the relay:
//
//   +----+------+------+----------+----------+----------+
//   |RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
//   +----+------+------+----------+----------+----------+
//   | 2  |  1   |  1   | Variable |    2     | Variable |
//   +----+------+------+----------+----------+----------+
//
//   RSV = X'0000', FRAG = current fragment number (0 = standalone datagram). RSV is returned,
//   not checked; callers drop FRAG != 0 (fragmentation is optional and not implemented).
Parsed<UdpHeader> parse_udp_header(Bytes in) {
  using P = Parsed<UdpHeader>;
  if (in.size() < 4) return P::more();
  auto a = parse_socks5_address(in.subspan(3));
  if (!a.ok()) return a.failed() ? P::fail(a.ec) : P::more();
  UdpHeader h;
  h.rsv = be16(&in[0]);
  h.frag = in[2];
  h.addr = std::move(a.value);
  return P::done(3 + a.consumed, std::move(h));
}

std::error_code serialize(const UdpHeader& h, std::vector<std::uint8_t>& out) {
  std::vector<std::uint8_t> tmp;
  put16(tmp, h.rsv);
  tmp.push_back(h.frag);
  if (auto ec = serialize_socks5_address(h.addr, tmp)) return ec;
  out.insert(out.end(), tmp.begin(), tmp.end());
  return {};
}

}  // namespace gost::socks
