#pragma once
// Internal helpers shared by the SOCKS handlers and connectors.

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "gost/core/chain.hpp"
#include "gost/core/handler.hpp"
#include "gost/core/registry.hpp"
#include "gost/core/stream.hpp"
#include "gost/mux/session.hpp"
#include "socks/codec.hpp"

namespace gost::socks::detail {

inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Largest handshake message buffered: SOCKS5 request 262 bytes, RFC 1929 request 513 bytes,
// SOCKS4a request 8 + 256 + 256 bytes. Bytes read past a message are kept for what follows.
inline constexpr std::size_t kHandshakeBuffer = 1024;

// Reads and parses one message; the parsed bytes are consumed from r.
template <class T>
asio::awaitable<Result<T>> read_message(StreamReader* r, Parsed<T> (*parse)(Bytes)) {
  for (;;) {
    auto p = parse(Bytes(r->data(), r->size()));
    if (p.ok()) {
      r->consume(p.consumed);
      co_return std::move(p.value);
    }
    if (p.failed()) co_return p.ec;
    if (auto ec = co_await r->fill()) co_return ec;
  }
}

// Writes all of bytes to s.
asio::awaitable<std::error_code> write_bytes(Stream* s, std::vector<std::uint8_t> bytes);

// The IP of a, with IPv4-mapped IPv6 addresses turned into IPv4; nullopt if a is not an IP.
std::optional<asio::ip::address> plain_ip(const Address& a);
asio::ip::address plain_ip(const asio::ip::address& ip);
// a with its host normalised by plain_ip(); an address that is not an IP becomes 0.0.0.0:0.
Address reply_address(const Address& a);

// SOCKS5 REP for an error from dialing a target.
std::uint8_t socks5_reply_code(const std::error_code& ec);

// Selection options for reaching target on behalf of the client in rec.
SelectOptions select_options(const ConnRecord& rec, const std::string& network,
                             const Address& target, bool hash_host);

// Handler settings read from metadata.
struct HandlerConfig {
  std::chrono::milliseconds read_timeout{15000};
  std::chrono::milliseconds bind_timeout{60000};
  bool enable_bind = false;
  bool enable_udp = false;
  std::size_t udp_buffer = 65535;
  std::uint16_t udp_bind_min = 0;
  std::uint16_t udp_bind_max = 0;
  std::chrono::milliseconds udp_ttl{0};
  std::string public_addr;
  bool hash_host = false;
  bool compat = false;  // comp: MUX-BIND streams carry no SOCKS5 reply (v2 behaviour)
  mux::Options mux;     // mux.*: the MUX-BIND session
};
Result<HandlerConfig, ConfigError> parse_handler_config(const HandlerArgs& args,
                                                        const std::string& name);

// Opens a listening TCP socket on ip:port for BIND.
std::error_code open_bind_acceptor(asio::ip::tcp::acceptor& acc, const asio::ip::address& ip,
                                   std::uint16_t port);

// Waits for the one inbound connection of a BIND, at most `timeout`. Meanwhile the control
// stream is read: bytes the client sends early are appended to *early (at most 64 KiB), and its
// EOF or an error ends the wait with that error. errc::timeout when nobody connected in time.
asio::awaitable<Result<asio::ip::tcp::socket>> accept_bind_peer(Stream* ctrl,
                                                                asio::ip::tcp::acceptor* acc,
                                                                std::chrono::milliseconds timeout,
                                                                std::vector<unsigned char>* early);

// Address of a TCP endpoint (IPv4-mapped turned into IPv4).
Address endpoint_address(const asio::ip::tcp::endpoint& ep);

}  // namespace gost::socks::detail
