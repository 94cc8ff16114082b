#pragma once
// GOST's UDP-over-stream framing ("UDP-tun"), shared by the SOCKS5 0xF3 command, the relay
// protocol's UDP association and UDP over HTTP (X-Gost-Protocol: udp).
//
//   +-----+------+------+----------+----------+----------+
//   | RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
//   +-----+------+------+----------+----------+----------+
//   |  2  |  1   |  1   | Variable |    2     | RSV bytes|
//   +-----+------+------+----------+----------+----------+
//
// The SOCKS5 UDP header (RFC 1928 §7) whose RSV carries the length of DATA (big-endian) and
// FRAG = 0xFF. Each frame names the datagram's target (client -> server) or its source
// (server -> client). GOST reads RSV = 0 as "the rest of this read is the datagram", which has
// no meaning on a stream; gost reads it as an empty datagram.

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "gost/core/bypass.hpp"
#include "gost/core/codec.hpp"
#include "gost/core/stream.hpp"

namespace gost::socks {

// GOST's SOCKS5 commands beyond RFC 1928.
inline constexpr std::uint8_t kCmdMuxBind = 0xF2;
inline constexpr std::uint8_t kCmdUdpTun = 0xF3;
inline constexpr std::uint8_t kUdpTunFrag = 0xFF;

struct UdpTunFrame {
  Address addr;
  std::size_t header_len = 0;  // DATA starts here
  std::size_t data_len = 0;    // RSV
};

// ok when the whole frame (header and DATA) is in `in`; consumed = header_len + data_len.
Parsed<UdpTunFrame> parse_udp_tun_frame(Bytes in);
// Appends the header of a frame carrying data_len bytes for addr. Errors: message_too_large
// (data_len > 65535), bad_request (an address that cannot be encoded).
std::error_code serialize_udp_tun_header(const Address& addr, std::size_t data_len,
                                         std::vector<std::uint8_t>& out);

// A PacketConn over a stream of UDP-tun frames. The same class serves both ends: the client
// sends frames naming targets and receives frames naming sources, the server the reverse.
// recv_from truncates a datagram longer than the buffer. Owns the stream; close() closes it.
// One recv_from and one send_to may be pending at the same time.
class UdpTunPacketConn final : public PacketConn {
 public:
  explicit UdpTunPacketConn(StreamPtr s);
  ~UdpTunPacketConn() override;
  asio::any_io_executor get_executor() override { return s_->get_executor(); }
  asio::awaitable<PacketResult> recv_from(asio::mutable_buffer buf) override;
  asio::awaitable<std::error_code> send_to(asio::const_buffer buf, Address to) override;
  void close() noexcept override { s_->close(); }
  Address local_address() const override { return s_->local_address(); }

 private:
  StreamPtr s_;
  StreamReader reader_;
  std::vector<std::uint8_t> wbuf_;
};

// A datagram stream (is_datagram()) to one fixed target over a PacketConn: "udp" connects of
// connectors whose UDP relay carries a target per datagram. Datagrams from other sources are
// passed up as well (GOST does the same).
class PacketTargetStream final : public Stream {
 public:
  PacketTargetStream(PacketConnPtr pc, Address target)
      : pc_(std::move(pc)), target_(std::move(target)) {}
  asio::any_io_executor get_executor() override { return pc_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override;
  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }
  void close() noexcept override { pc_->close(); }
  Address local_address() const override { return pc_->local_address(); }
  Address remote_address() const override { return target_; }
  bool is_datagram() const noexcept override { return true; }

 private:
  PacketConnPtr pc_;
  Address target_;
};

struct UdpRelayOptions {
  std::string service;
  BypassPtr bypass;                 // targets it contains are dropped
  std::size_t buffer = 65535;       // largest datagram relayed
  std::chrono::milliseconds ttl{};  // idle timeout (0 = none)
};

struct UdpRelayResult {
  std::uint64_t bytes_up = 0;    // client -> targets
  std::uint64_t bytes_down = 0;  // targets -> client
  std::string first_target;
  std::error_code ec;  // first error other than the end of either side
};

// Relays datagrams between `client` (each one names its target) and `upstream` (a PacketConn
// reaching the targets) until either side ends, fails, or nothing moved for opts.ttl. Closes
// both at the end.
asio::awaitable<UdpRelayResult> relay_packets(PacketConn& client, PacketConn& upstream,
                                              UdpRelayOptions opts);

}  // namespace gost::socks
