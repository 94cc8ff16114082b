#pragma once
// Pure smux frame codec, wire-compatible with xtaci/smux v1 and v2.
//
//   0        1        2                 4                                 8
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   |  VER   |  CMD   |  LENGTH (u16 LE) |        STREAM ID (u32 LE)         |
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   |  DATA (LENGTH bytes, PSH only) ...
//
// CMD: 0 SYN (open), 1 FIN (EOF mark), 2 PSH (data), 3 NOP (keepalive), 4 UPD (v2 only).
// UPD carries 8 bytes: consumed (u32 LE, bytes the receiver has read so far) and window
// (u32 LE, the receiver's buffer size). As smux does, a receiver reads a payload only for PSH
// (LENGTH bytes) and UPD (always 8 bytes); SYN/FIN/NOP carry none whatever LENGTH says.

#include <cstdint>
#include <vector>

#include "gost/core/codec.hpp"

namespace gost::mux {

enum class Cmd : std::uint8_t { syn = 0, fin = 1, psh = 2, nop = 3, upd = 4 };

inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kUpdSize = 8;
inline constexpr std::uint32_t kInitialPeerWindow = 262144;

struct Frame {
  std::uint8_t version = 1;
  Cmd cmd = Cmd::nop;
  std::uint32_t sid = 0;
  std::vector<std::uint8_t> data;  // PSH payload, or the 8 UPD bytes
  // UPD fields (decoded from data).
  std::uint32_t consumed = 0;
  std::uint32_t window = 0;
};

// One frame in place: `payload` points into the parsed input (PSH data or the 8 UPD bytes).
struct FrameView {
  std::uint8_t version = 1;
  Cmd cmd = Cmd::nop;
  std::uint32_t sid = 0;
  Bytes payload;
  std::uint32_t consumed = 0;  // UPD
  std::uint32_t window = 0;    // UPD
};

// Parses one frame. Errors (errc::bad_request): a version other than `version`, an unknown
// command.
Parsed<FrameView> parse_frame_view(Bytes in, std::uint8_t version);
// The same, with the payload copied into the frame.
Parsed<Frame> parse_frame(Bytes in, std::uint8_t version);
// Only the header; `consumed` is 8 and value.data is empty.
Parsed<Frame> parse_header(Bytes in, std::uint8_t version);

void serialize_header(std::uint8_t version, Cmd cmd, std::uint16_t length, std::uint32_t sid,
                      std::vector<std::uint8_t>& out);
void serialize_frame(const Frame& f, std::vector<std::uint8_t>& out);
// An UPD frame (v2).
void serialize_upd(std::uint8_t version, std::uint32_t sid, std::uint32_t consumed,
                   std::uint32_t window, std::vector<std::uint8_t>& out);

}  // namespace gost::mux
