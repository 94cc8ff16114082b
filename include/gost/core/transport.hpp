#pragma once
// Listener, Dialer and Connector: GOST's transport interfaces.
//
// A Listener accepts Streams for a Service. A Dialer opens the transport to a chain node
// (tcp, tls, ws, ...); its handshake() adds layers over an existing stream. A Connector speaks a
// proxy protocol (http, socks5, relay, ...) over a stream to ask the node to reach the next
// address.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "gost/core/address.hpp"
#include "gost/core/error.hpp"
#include "gost/core/stream.hpp"

namespace gost {

class Listener {
 public:
  virtual ~Listener() = default;
  // Binds and starts listening. Called once by the service before accept().
  virtual std::error_code listen() = 0;
  // Accepts the next connection. Runs on get_executor(); the returned stream may be bound to
  // another executor (connections are spread over the runtime's threads): the caller serves it
  // on stream->get_executor(). After close() it completes with an error.
  virtual asio::awaitable<Result<StreamPtr>> accept() = 0;
  // The bound address (the real port after binding port 0).
  virtual Address address() const = 0;
  virtual asio::any_io_executor get_executor() = 0;
  // Stops listening and wakes a pending accept(). Thread-safe.
  virtual void close() noexcept = 0;

  // Per-thread accept (optional). Before listen(), a service may offer up to n accept threads;
  // a listener that can spread accepting over them (TCP with SO_REUSEPORT) opens one acceptor
  // per thread. After listen(), accept_shards() says how many accept loops the caller must run:
  // loop i calls accept_shard(i) on shard_executor(i), and the accepted stream stays on that
  // executor. A listener that ignores the offer keeps the single accept() loop.
  virtual void offer_accept_threads(std::size_t /*n*/) {}
  virtual std::size_t accept_shards() const noexcept { return 1; }
  virtual asio::awaitable<Result<StreamPtr>> accept_shard(std::size_t /*i*/) { return accept(); }
  virtual asio::any_io_executor shard_executor(std::size_t /*i*/) { return get_executor(); }
};
using ListenerPtr = std::unique_ptr<Listener>;

struct DialOptions {
  std::chrono::milliseconds timeout{};  // 0 = none
};

class Dialer {
 public:
  virtual ~Dialer() = default;
  // Opens the transport to a node at addr ("host:port", a domain is resolved), on the calling
  // coroutine's executor.
  virtual asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) = 0;
  // Adds this transport's layers (TLS, WebSocket, ...) over s, which reaches the node at addr.
  // Takes ownership of s; on error s is closed.
  virtual asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, Address addr);
  // True when one connection carries many streams (mux transports share a session per node).
  virtual bool multiplex() const noexcept { return false; }
};
using DialerPtr = std::shared_ptr<Dialer>;

// Options of a remote bind (GOST's BindOptions), used by rtcp/rudp remote port forwarding.
struct BindOptions {
  bool mux = false;        // TCP: ask for a multiplexed bind (SOCKS5 MUX-BIND 0xF2); rtcp sets it
  std::size_t backlog = 128;             // UDP: peers waiting for accept()
  std::size_t udp_queue = 1024;          // UDP: datagrams queued per peer
  std::size_t udp_buffer = 8192;         // UDP: largest datagram read
  std::chrono::milliseconds udp_ttl{5000};  // UDP: a peer's idle time before its stream ends
};

class Connector {
 public:
  virtual ~Connector() = default;
  // Protocol-level setup on a fresh transport stream before any connect (e.g. negotiation).
  virtual asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s);
  // Asks the proxy on conn to connect to target. network is "tcp" or "udp"; for "udp" the
  // result is a datagram stream (is_datagram()) to the fixed target. Takes ownership of conn.
  virtual asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                                     Address target) = 0;
  // A UDP relay through the proxy on conn in which each datagram carries its own target
  // (SOCKS5 UDP ASSOCIATE, ...). Default: errc::unsupported.
  virtual asio::awaitable<Result<PacketConnPtr>> associate(StreamPtr conn);
  // Asks the proxy on conn to listen on addr ("tcp" or "udp") and to hand every connection (or,
  // for "udp", every peer's datagrams) that arrives there back over conn: remote port
  // forwarding. The listener is already listening; its address() is the address bound on the
  // proxy and its accept() yields the connections (datagram streams for "udp"). Takes ownership
  // of conn. Default: errc::unsupported.
  virtual asio::awaitable<Result<ListenerPtr>> bind(StreamPtr conn, std::string network,
                                                    Address addr, BindOptions opts);
};
using ConnectorPtr = std::shared_ptr<Connector>;

}  // namespace gost
