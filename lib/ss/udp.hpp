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

// Seals and opens the datagrams of one client session (AEAD packets, or SIP022 packets with a
// session id, packet ids and a replay window).
class ClientPacketCodec {
 public:
  explicit ClientPacketCodec(std::shared_ptr<const Keys> keys);
  std::error_code seal(const Address& to, const std::uint8_t* data, std::size_t n,
                       std::vector<std::uint8_t>& out);
  std::error_code open(std::uint8_t* pkt, std::size_t n, Address* from, std::size_t* off,
                       std::size_t* len);

 private:
  std::shared_ptr<const Keys> keys_;
  std::uint64_t session_id_ = 0;
  std::uint64_t packet_id_ = 0;
  std::uint64_t server_session_ = 0;
  PacketWindow window_;
};

// The server side of one client session.
class ServerPacketCodec {
 public:
  explicit ServerPacketCodec(std::shared_ptr<const Keys> keys);
  std::error_code open(std::uint8_t* pkt, std::size_t n, Address* target, std::size_t* off,
                       std::size_t* len);
  std::error_code seal(const Address& from, const std::uint8_t* data, std::size_t n,
                       std::vector<std::uint8_t>& out);

 private:
  std::shared_ptr<const Keys> keys_;
  std::uint64_t session_id_ = 0;
  std::uint64_t packet_id_ = 0;
  std::uint64_t client_session_ = 0;
  bool have_client_ = false;
  std::vector<std::uint8_t> key_;
  PacketWindow window_;
};

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
