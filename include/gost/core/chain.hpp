#pragma once
// Node, Hop, Chain and Router: how handlers reach their targets.
//
// A Chain is a list of Hops; each Hop selects one of its Nodes; a Node is a Dialer (transport)
// plus a Connector (proxy protocol). A hop whose bypass matches the target cuts the route
// there (a bypass on the first hop means "direct"). The Router turns a target into a
// connection over a route, with retries and a timeout.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "gost/core/bypass.hpp"
#include "gost/core/metadata.hpp"
#include "gost/core/selector.hpp"
#include "gost/core/stream.hpp"
#include "gost/core/transport.hpp"

namespace gost {

class Node {
 public:
  std::string name;
  std::string addr;  // "host:port" of the node (the forward target for forwarder nodes)
  DialerPtr dialer;
  ConnectorPtr connector;
  BypassPtr bypass;  // the node is skipped for targets it contains
  Metadata metadata;
  int weight = 1;          // for the rand strategy
  bool backup = false;     // used only when no other node is usable
  int max_fails = -1;      // -1: the selector's
  std::chrono::milliseconds fail_timeout{-1};  // -1: the selector's
  FailMarker marker;
};

class Hop {
 public:
  std::string name;
  std::vector<NodePtr> nodes;
  SelectorPtr selector;  // nullptr: round robin with default fail filter
  BypassPtr bypass;
  // nullptr when the hop's bypass contains the target or no node is usable.
  NodePtr select(const SelectOptions& opts) const;

  // Round-robin position of the default selection (selector == nullptr), one per hop.
  mutable std::atomic<std::uint64_t> default_rr{0};
};
using HopPtr = std::shared_ptr<Hop>;

class Chain {
 public:
  std::string name;
  std::vector<HopPtr> hops;
  Metadata metadata;
  // Selects one node per hop, stopping at the first hop that yields none.
  std::vector<NodePtr> route(const SelectOptions& opts) const;
};
using ChainPtr = std::shared_ptr<Chain>;

struct RouterOptions {
  int retries = 0;                          // extra attempts after the first, each on a new route
  std::chrono::milliseconds timeout{15000}; // per attempt (dial + handshakes + connect)
};

// Filled by Router::dial for logs and failure accounting.
struct DialInfo {
  std::string route;  // "direct" or "node-0@127.0.0.1:1080 > node-1@..."
};

// Note for callers inside coroutines: GCC 12 destroys a braced temporary (or a defaulted
// class-type argument) passed to a coroutine twice; pass named variables instead.
class Router {
 public:
  explicit Router(ChainPtr chain = nullptr, RouterOptions opts = {});

  // Connects to target ("tcp", or "udp" for a datagram stream) through the chain or directly.
  // Runs on the calling coroutine's executor.
  asio::awaitable<Result<StreamPtr>> dial(std::string network, Address target, SelectOptions sel,
                                          DialInfo* info);
  asio::awaitable<Result<StreamPtr>> dial(std::string network, Address target);
  // A UDP relay in which each datagram carries its target: a local UDP socket when there is no
  // chain, else the last node's Connector::associate().
  asio::awaitable<Result<PacketConnPtr>> associate(SelectOptions sel, DialInfo* info);
  asio::awaitable<Result<PacketConnPtr>> associate();
  // Listens on addr ("tcp" or "udp") at the end of the chain: through the last node's
  // Connector::bind(), or locally when there is no chain. The listener is already listening and
  // lives on the calling coroutine's executor.
  asio::awaitable<Result<ListenerPtr>> bind(std::string network, Address addr, BindOptions opts);

  const ChainPtr& chain() const noexcept { return chain_; }
  const RouterOptions& options() const noexcept { return opts_; }

 private:
  ChainPtr chain_;
  RouterOptions opts_;
};
using RouterPtr = std::shared_ptr<Router>;

// Dials a TCP address directly (resolving a domain, trying each address), with TCP_NODELAY set.
asio::awaitable<Result<StreamPtr>> dial_tcp(Address addr, std::chrono::milliseconds timeout = {});
// Opens an unconnected UDP socket (dual-stack where possible) as a PacketConn.
Result<PacketConnPtr> open_udp(asio::any_io_executor ex, Address bind_addr = {});
// A datagram stream over a connected UDP socket to addr.
asio::awaitable<Result<StreamPtr>> dial_udp(Address addr, std::chrono::milliseconds timeout = {});

}  // namespace gost
