#pragma once
// Remote port forwarding (GOST's rtcp / rudp): the listener binds a port at the far end of its
// chain (Router::bind: SOCKS5 MUX-BIND or UDP-tun, relay BIND, or a local port when there is no
// chain) and yields what arrives there; the handler forwards it to the service's target.
//
//   gost -L rtcp://:2222/127.0.0.1:22 -F relay://server:8420     (server: -L relay://:8420?bind=true)
//
// The listener keeps the bind up: when binding fails, or the bound listener ends (the proxy
// went away), it binds again after 1 s, doubling up to 5 s, as GOST does.
// Listener metadata (rudp): ttl (5s), readBufferSize (8192), readQueueSize (1024), backlog (128).

#include "gost/core/registry.hpp"

namespace gost::rforward {

// network "tcp" (rtcp) or "udp" (rudp). Needs args.router.
Result<ListenerPtr, ConfigError> make_remote_listener(const ListenerArgs& args, std::string network);

void register_module(Registry& r);

}  // namespace gost::rforward
