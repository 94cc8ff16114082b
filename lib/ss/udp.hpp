#pragma once
// UDP for "ssu": AEAD packets over a datagram transport, and GOST UDP-tun frames over an ss
// stream.

#include <cstdint>
#include <memory>
#include <vector>

#include "gost/core/stream.hpp"
#include "ss/codec.hpp"

namespace gost::ss {

inline constexpr std::size_t kMaxDatagram = 65535;

// Reads UDP-tun frames from a stream.
class TunReader {
 public:
  explicit TunReader(Stream* s) : s_(s) {}
  // The next frame: its data is at *data for f->data_len bytes, valid until the next call.
  asio::awaitable<std::error_code> next(TunFrame* f, const std::uint8_t** data);

 private:
  Stream* s_;
  std::vector<std::uint8_t> buf_;
  std::size_t start_ = 0;
};

// Writes one frame (header and data in one write).
asio::awaitable<std::error_code> write_tun_frame(Stream* s, Address to, const std::uint8_t* data,
                                                 std::size_t n);

// A connected datagram stream to `target` through an ss server: packets over a datagram
// transport.
StreamPtr make_packet_stream(StreamPtr transport, std::shared_ptr<const Keys> keys, Address target);
// The same over an ss stream carrying UDP-tun frames.
StreamPtr make_tun_stream(StreamPtr ss_stream, Address target);
// PacketConns (every datagram with its own target) over the same two carriers.
PacketConnPtr make_packet_conn(StreamPtr transport, std::shared_ptr<const Keys> keys);
PacketConnPtr make_tun_packet_conn(StreamPtr ss_stream);

}  // namespace gost::ss
