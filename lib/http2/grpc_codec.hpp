#pragma once
// gRPC framing of GOST's tunnel service (go-gost/x internal/util/grpc/proto/gost.proto):
//
//   message Chunk { bytes data = 1; }
//   service GostTunel { rpc Tunnel (stream Chunk) returns (stream Chunk); }
//
// Each message on the HTTP/2 stream is a gRPC Length-Prefixed-Message:
//   +------------------+-----------------------+---------------------+
//   | Compressed-Flag  | Message-Length        | Message             |
//   | 1 byte (0 here)  | 4 bytes, big endian   | Message-Length bytes|
//   +------------------+-----------------------+---------------------+
// and the message is the protobuf encoding of Chunk: field 1, wire type 2 (key byte 0x0A),
// a varint length, then the bytes. proto3 leaves an empty `data` out (an empty message).
// Unknown fields are skipped as protobuf requires. Pure: no I/O.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gost/core/codec.hpp"

namespace gost::http2::grpc {

// grpc-go's default limit on a received message.
inline constexpr std::size_t kMaxMessage = 4 * 1024 * 1024;

// Appends one framed Chunk{data} to out.
void serialize_chunk(Bytes data, std::vector<std::uint8_t>& out);

// Parses one framed Chunk; value is the [offset, offset+length) of `data` inside the input.
// Compressed messages (flag 1) are errc::unsupported (no grpc-encoding is negotiated);
// messages over max_message are errc::message_too_large; malformed protobuf is bad_request.
struct ChunkRef {
  std::size_t offset = 0;
  std::size_t length = 0;
};
Parsed<ChunkRef> parse_chunk(Bytes in, std::size_t max_message = kMaxMessage);

// The HTTP/2 :path of the tunnel for GOST's `path` key: "" -> "/GostTunel/Tunnel";
// "svc" -> "/svc/Tunnel"; "/a/b/c" -> "/a/b-c" (the rest of the path becomes the method,
// slashes turned into dashes), as grpc-go's ServerDesc(method) in GOST builds it.
std::string tunnel_path(std::string_view path);

}  // namespace gost::http2::grpc
