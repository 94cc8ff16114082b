#pragma once
// GOST relay protocol (go-gost/relay v0.5.0, big-endian) wire codec. Pure: no I/O.
// Conventions in gost/core/codec.hpp.
//
// Request:   +-----+-----------+--------+----------+
//            | VER | CMD/FLAGS | FEALEN | FEATURES |
//            |  1  |     1     |   2    |  FEALEN  |
// Response:  +-----+-----------+--------+----------+
//            | VER |  STATUS   | FEALEN | FEATURES |
//            |  1  |     1     |   2    |  FEALEN  |
// VER = 0x01. CMD low nibble: CONNECT 1, BIND 2, ASSOCIATE 3; flag FUDP 0x80.
// Feature:   | TYPE(1) | LEN(2) | DATA(LEN) |
//   0x01 UserAuth  ULEN(1) UNAME PLEN(1) PASSWD
//   0x02 Addr      ATYP(1) (1 IPv4, 3 domain with a 1-byte length, 4 IPv6) ADDR PORT(2)
//   0x03 Tunnel    ID(16) (tunnel id in requests, connector id in responses)
//   0x04 Network   uint16 (0 tcp, 1 udp, 2 ip, 0x10 unix, 0x11 serial)
// As in go-gost/relay: an unknown feature type is an error; a feature shorter than its
// minimum is an error; bytes past a feature's fields (within LEN) are ignored.
//
// UDP CONNECT payload: every datagram is framed as | LEN(2) | DATA | both ways.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/codec.hpp"

namespace gost::relay {

inline constexpr std::uint8_t kVersion1 = 0x01;

enum Cmd : std::uint8_t {
  kCmdConnect = 0x01,
  kCmdBind = 0x02,
  kCmdAssociate = 0x03,
  kCmdMask = 0x0F,
  kFlagUdp = 0x80,  // FUDP (deprecated by the Network feature, still sent)
};

enum Status : std::uint8_t {
  kStatusOK = 0x00,
  kStatusBadRequest = 0x01,
  kStatusUnauthorized = 0x02,
  kStatusForbidden = 0x03,
  kStatusTimeout = 0x04,
  kStatusServiceUnavailable = 0x05,
  kStatusHostUnreachable = 0x06,
  kStatusNetworkUnreachable = 0x07,
  kStatusInternalServerError = 0x08,
};

enum FeatureType : std::uint8_t {
  kFeatureUserAuth = 0x01,
  kFeatureAddr = 0x02,
  kFeatureTunnel = 0x03,
  kFeatureNetwork = 0x04,
};

enum NetworkId : std::uint16_t {
  kNetworkTcp = 0x00,
  kNetworkUdp = 0x01,
  kNetworkIp = 0x02,
  kNetworkUnix = 0x10,
  kNetworkSerial = 0x11,
};

enum AddrType : std::uint8_t { kAddrIPv4 = 1, kAddrDomain = 3, kAddrIPv6 = 4 };

struct UserAuthFeature {
  std::string username;
  std::string password;
  friend bool operator==(const UserAuthFeature&, const UserAuthFeature&) = default;
};
// An IP literal host is sent as ATYP 1 / 4, anything else as a domain; an empty host as
// 0.0.0.0 (GOST writes IPv4 zero for a bad address).
struct AddrFeature {
  Address addr;
  friend bool operator==(const AddrFeature&, const AddrFeature&) = default;
};
struct TunnelFeature {
  std::array<std::uint8_t, 16> id{};
  friend bool operator==(const TunnelFeature&, const TunnelFeature&) = default;
};
struct NetworkFeature {
  std::uint16_t network = kNetworkTcp;
  friend bool operator==(const NetworkFeature&, const NetworkFeature&) = default;
};

using Feature = std::variant<UserAuthFeature, AddrFeature, TunnelFeature, NetworkFeature>;

// Features in wire order (GOST's order matters for bit-exact output).
struct Features {
  std::vector<Feature> list;

  const UserAuthFeature* user_auth() const;
  const AddrFeature* addr() const;
  const TunnelFeature* tunnel() const;
  const NetworkFeature* network() const;
};

struct Request {
  std::uint8_t version = kVersion1;
  std::uint8_t cmd = kCmdConnect;  // command and flags
  Features features;
};

struct Response {
  std::uint8_t version = kVersion1;
  std::uint8_t status = kStatusOK;
  Features features;
};

// Largest request or response: 4 + 65535.
inline constexpr std::size_t kMaxMessage = 4 + 0xFFFF;

// Errors: bad_request (VER != 1, a bad or unknown feature).
Parsed<Request> parse_request(Bytes in);
Parsed<Response> parse_response(Bytes in);
// Errors (out untouched): bad_request (user name, password or domain over 255 bytes),
// message_too_large (features over 65535 bytes).
std::error_code serialize(const Request& req, std::vector<std::uint8_t>& out);
std::error_code serialize(const Response& resp, std::vector<std::uint8_t>& out);

// The features block alone (FEALEN bytes), for tests and the fuzzer.
Parsed<Features> parse_features(Bytes in);

// "tcp" / "udp" / "ip" / "unix" / "serial"; unknown ids read as "tcp" (as in GOST).
std::string network_name(std::uint16_t id);

// UDP CONNECT framing: | LEN(2) | DATA |. ok when the whole datagram is in `in`;
// value = DATA length, the data starts at offset 2.
Parsed<std::size_t> parse_udp_frame(Bytes in);
// Errors: message_too_large (over 65535 bytes).
std::error_code serialize_udp_frame_header(std::size_t len, std::vector<std::uint8_t>& out);

}  // namespace gost::relay
