#pragma once
// The server side of GOST's reverse (BIND) sessions, shared by SOCKS5 MUX-BIND (0xF2) and relay
// TCP BIND: after the bind reply, the control stream becomes an smux session in which this side
// (the proxy server) is the smux CLIENT. For every connection accepted on the bound port a
// stream is opened, `hello` for the peer's address is written on it (a SOCKS5 reply or a relay
// response naming the peer; nothing in SOCKS5 compatibility mode), and the stream is bridged
// with the connection. Streams the other side opens are closed at once.

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/stream.hpp"
#include "gost/core/transport.hpp"
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

// The client side (the connector that asked for the bind): after the bind reply this side is the
// smux SERVER. Every stream the proxy opens starts with a hello naming the peer that connected to
// the bound port; `read_hello` parses it (a SOCKS5 reply, a relay response) and returns the peer.
// accept() yields those streams (after the hello) with the bound address as local address and
// the peer as remote address; a stream whose hello is bad or does not arrive within
// hello_timeout is closed and skipped. accept() fails with errc::closed once the session ends.
using ReadHello = asio::awaitable<Result<Address>> (*)(StreamReader& reader);
ListenerPtr make_mux_bind_listener(mux::SessionPtr session, Address bound, ReadHello read_hello,
                                   std::chrono::milliseconds hello_timeout);

// Opens a listening TCP socket on addr (an IP literal; empty = 0.0.0.0) with a normal backlog.
std::error_code listen_tcp(asio::ip::tcp::acceptor& acc, const Address& addr);

}  // namespace gost::socks
