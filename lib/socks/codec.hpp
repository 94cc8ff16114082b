#pragma once
// SOCKS4/4a (SOCKS4.protocol, SOCKS4A.protocol), SOCKS5 (RFC 1928) and username/password
// authentication (RFC 1929) wire codecs. Pure: no I/O. Conventions in gost/core/codec.hpp:
// parse_*() -> Parsed<T> (need_more / ok(consumed, value) / error), serialize() appends the wire
// form and returns an error (leaving `out` untouched) when the value cannot be encoded.

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/codec.hpp"

namespace gost::socks {

// ---------------------------------------------------------------- SOCKS4 / SOCKS4a

inline constexpr std::uint8_t kSocks4Version = 0x04;
inline constexpr std::uint8_t kSocks4ReplyVersion = 0x00;

enum Socks4Command : std::uint8_t { kSocks4Connect = 0x01, kSocks4Bind = 0x02 };
enum Socks4Code : std::uint8_t {
  kSocks4Granted = 90,        // request granted
  kSocks4Rejected = 91,       // request rejected or failed
  kSocks4NoIdentd = 92,       // cannot connect to identd on the client
  kSocks4IdentMismatch = 93,  // identd reports a different user id
};

// Longest USERID and SOCKS4a domain name accepted (the protocol has no limit; we need one).
inline constexpr std::size_t kSocks4MaxUserId = 255;
inline constexpr std::size_t kSocks4MaxDomain = 255;

struct Socks4Request {
  std::uint8_t command = kSocks4Connect;
  // IPv4 literal for SOCKS4; a domain name (socks4a = true) for SOCKS4a.
  Address target;
  std::string userid;
  // True when the request used the SOCKS4a form (DSTIP 0.0.0.x, x != 0, then a domain).
  bool socks4a = false;
};

struct Socks4Reply {
  std::uint8_t code = kSocks4Granted;
  Address addr;  // IPv4 literal (or empty = 0.0.0.0:0)
};

Parsed<Socks4Request> parse_socks4_request(Bytes in);
// A domain target is sent in the SOCKS4a form. Errors: bad_request (IPv6, bad/oversized fields).
std::error_code serialize(const Socks4Request& req, std::vector<std::uint8_t>& out);

Parsed<Socks4Reply> parse_socks4_reply(Bytes in);
std::error_code serialize(const Socks4Reply& rep, std::vector<std::uint8_t>& out);

// ---------------------------------------------------------------- SOCKS5

inline constexpr std::uint8_t kSocks5Version = 0x05;

enum Socks5Method : std::uint8_t {
  kMethodNoAuth = 0x00,
  kMethodGssapi = 0x01,
  kMethodUserPass = 0x02,
  kMethodTls = 0x80,      // GOST: TLS right after the method reply
  kMethodTlsAuth = 0x82,  // GOST: TLS, then RFC 1929 inside it
  kMethodNoAcceptable = 0xFF,
};

enum Socks5Command : std::uint8_t {
  kCmdConnect = 0x01,
  kCmdBind = 0x02,
  kCmdUdpAssociate = 0x03,
};

enum Socks5Atyp : std::uint8_t { kAtypIPv4 = 0x01, kAtypDomain = 0x03, kAtypIPv6 = 0x04 };

enum Socks5Reply : std::uint8_t {
  kRepSucceeded = 0x00,
  kRepGeneralFailure = 0x01,
  kRepNotAllowed = 0x02,
  kRepNetworkUnreachable = 0x03,
  kRepHostUnreachable = 0x04,
  kRepConnectionRefused = 0x05,
  kRepTtlExpired = 0x06,
  kRepCommandNotSupported = 0x07,
  kRepAddressNotSupported = 0x08,
};

// SOCKS5 address (ATYP + ADDR + PORT) as used by requests, replies and UDP headers.
// An IP literal host is encoded as ATYP 1 / 4, anything else as a domain (ATYP 3, 1..255 bytes);
// an empty host is encoded as 0.0.0.0.
Parsed<Address> parse_socks5_address(Bytes in);
std::error_code serialize_socks5_address(const Address& addr, std::vector<std::uint8_t>& out);
// Size of the encoded address (0 when it cannot be encoded).
std::size_t socks5_address_size(const Address& addr);

struct MethodRequest {
  std::vector<std::uint8_t> methods;
};
struct MethodReply {
  std::uint8_t method = kMethodNoAuth;
};

Parsed<MethodRequest> parse_method_request(Bytes in);
std::error_code serialize(const MethodRequest& req, std::vector<std::uint8_t>& out);
Parsed<MethodReply> parse_method_reply(Bytes in);
std::error_code serialize(const MethodReply& rep, std::vector<std::uint8_t>& out);

// RFC 1929
inline constexpr std::uint8_t kUserPassVersion = 0x01;
inline constexpr std::uint8_t kUserPassSuccess = 0x00;
inline constexpr std::uint8_t kUserPassFailure = 0x01;

struct UserPassRequest {
  std::string username;
  std::string password;
};
struct UserPassReply {
  std::uint8_t status = kUserPassSuccess;
};

Parsed<UserPassRequest> parse_userpass_request(Bytes in);
std::error_code serialize(const UserPassRequest& req, std::vector<std::uint8_t>& out);
Parsed<UserPassReply> parse_userpass_reply(Bytes in);
std::error_code serialize(const UserPassReply& rep, std::vector<std::uint8_t>& out);

struct Request {
  std::uint8_t command = kCmdConnect;
  Address addr;
};
struct Reply {
  std::uint8_t reply = kRepSucceeded;
  Address addr;  // BND.ADDR / BND.PORT
};

// Any CMD byte is returned (the handler answers 0x07 to the ones it does not serve); an unknown
// ATYP gives errc::unsupported (answer 0x08).
Parsed<Request> parse_request(Bytes in);
std::error_code serialize(const Request& req, std::vector<std::uint8_t>& out);
Parsed<Reply> parse_reply(Bytes in);
std::error_code serialize(const Reply& rep, std::vector<std::uint8_t>& out);

// The header in front of every SOCKS5 UDP datagram (RFC 1928 §7). `consumed` of a parse is the
// header length: the datagram's data follows it.
struct UdpHeader {
  std::uint16_t rsv = 0;
  std::uint8_t frag = 0;
  Address addr;
};

// Longest possible header: RSV(2) FRAG(1) ATYP(1) LEN(1) domain(255) PORT(2).
inline constexpr std::size_t kMaxUdpHeader = 262;

Parsed<UdpHeader> parse_udp_header(Bytes in);
std::error_code serialize(const UdpHeader& h, std::vector<std::uint8_t>& out);

}  // namespace gost::socks
