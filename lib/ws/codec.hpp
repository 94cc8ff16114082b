#pragma once
// Pure WebSocket codec (RFC 6455): frame headers, masking, the HTTP/1.1 Upgrade heads.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-------+-+-------------+-------------------------------+
//  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//  | |1|2|3|       |K|             |                               |
//  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//  |     Extended payload length continued, if payload len == 127  |
//  + - - - - - - - - - - - - - - - +-------------------------------+
//  |                               |Masking-key, if MASK set to 1  |
//  +-------------------------------+-------------------------------+
//  | Masking-key (continued)       |          Payload Data         |
//  +-------------------------------- - - - - - - - - - - - - - - - +

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gost/core/codec.hpp"

namespace gost::ws {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

inline bool is_control(Opcode op) { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

struct FrameHeader {
  bool fin = true;
  Opcode opcode = Opcode::binary;
  bool masked = false;
  std::array<std::uint8_t, 4> mask{};
  std::uint64_t length = 0;  // payload length
};

// Parses a frame header; `consumed` is the header size (2..14). Errors (errc::bad_request):
// RSV bits set (no extension is ever negotiated), reserved opcodes, control frames that are
// fragmented or longer than 125 bytes, a 64-bit length with the top bit set.
Parsed<FrameHeader> parse_frame_header(Bytes in);
// Appends the header (minimal length encoding).
void serialize_frame_header(const FrameHeader& h, std::vector<std::uint8_t>& out);
// XORs data with the key; `offset` is the position of data[0] within the payload.
void apply_mask(std::span<std::uint8_t> data, const std::array<std::uint8_t, 4>& key,
                std::uint64_t offset);

// Reassembly rules for a sequence of frame headers (fragmentation, interleaved control
// frames): feed every header in order; returns errc::bad_request for a continuation without a
// started message or a new data frame inside a fragmented one.
class MessageState {
 public:
  std::error_code on_frame(const FrameHeader& h);
  bool in_message() const noexcept { return in_message_; }

 private:
  bool in_message_ = false;
};

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
std::string accept_key(std::string_view key);
std::string base64_encode(std::span<const std::uint8_t> data);

// An HTTP/1.1 head (request or response): the start line split in three, and the headers.
struct HttpHead {
  std::string a, b, c;  // request: method, target, version; response: version, status, reason
  std::vector<std::pair<std::string, std::string>> headers;
  // First value of a header (case-insensitive name), trimmed.
  std::optional<std::string> get(std::string_view name) const;
  // True when a comma-separated header contains token (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const;
};

inline constexpr std::size_t kMaxHeadSize = 16 * 1024;

// Parses a head that ends with an empty line. need_more until "\r\n\r\n" is seen; errors on
// a head longer than kMaxHeadSize (errc::message_too_large) or malformed lines.
Parsed<HttpHead> parse_http_head(Bytes in);

}  // namespace gost::ws
