#pragma once
// The server side of GOST's reverse (BIND) sessions, shared by SOCKS5 MUX-BIND (0xF2) and relay
// TCP BIND: after the bind reply, the control stream becomes an smux session in which this side
// (the proxy server) is the smux CLIENT. For every connection accepted on the bound port a
// stream is opened, `hello` for the peer's address is written on it (a SOCKS5 reply or a relay
// response naming the peer; nothing in SOCKS5 compatibility mode), and the stream is bridged
// with the connection. Streams the other side opens are closed at once.

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/stream.hpp"
#include "gost/mux/session.hpp"

namespace gost::socks {

using BindHello = std::function<std::vector<std::uint8_t>(const Address& peer)>;

struct MuxBindResult {
  std::uint64_t accepted = 0;  // connections accepted on the bound port
  std::error_code ec;          // why it ended (other than the session or the listener closing)
};

// Serves until the session or the acceptor ends (closes both at the end). acc must be open and
// listening on ctrl's executor.
asio::awaitable<MuxBindResult> serve_mux_bind(StreamPtr ctrl, asio::ip::tcp::acceptor acc,
                                              mux::Options opts, BindHello hello);

// Opens a listening TCP socket on addr (an IP literal; empty = 0.0.0.0) with a normal backlog.
std::error_code listen_tcp(asio::ip::tcp::acceptor& acc, const Address& addr);

}  // namespace gost::socks
