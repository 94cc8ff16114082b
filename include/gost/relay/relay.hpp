#pragma once
// GOST relay protocol (go-gost/relay): handler "relay" and connector "relay".
//
// Handler: CONNECT over TCP and UDP (UDP datagrams framed LEN(2)|DATA in the stream), forward
// mode when the service has forward targets (HandlerArgs::forwarder: the request's address is
// ignored and a target is chosen from the hop), UDP BIND (the UDP association GOST's connector
// opens with BIND|FUDP: the stream then carries UDP-tun frames), user/password authentication
// through HandlerArgs::auther (the UserAuth feature), service bypass (Forbidden).
// TCP BIND (bind=true; what GOST's rtcp asks for): listens on the requested address, answers
// OK + Addr(bound), then the connection becomes an smux session in which the handler is the
// smux client: one stream per inbound connection, each starting with Response{OK, Addr(peer)}
// (metadata mux.*). The connector has no BIND (the core Connector has no bind interface).
// Metadata: readTimeout (15s, reading the request), bind (false: BIND is
// Forbidden), nodelay (false: the response is held back and sent with the first bytes from the
// target, as GOST does, or alone after 100 ms without any), udp.bufferSize / udpBufferSize (65535),
// hash ("host"), ttl (0: idle timeout of UDP sessions).
//
// Connector: CONNECT for "tcp" and "udp" (features: Network(udp) for udp, UserAuth when
// ConnectorArgs::auth is set, Addr), associate() through BIND|FUDP with Addr 0.0.0.0:0.
// Metadata nodelay (false: the request is held back and sent together with the first write. If
// the first read comes before any write, as with protocols where the server speaks first, the
// request is sent alone after 50 ms instead of hanging as GOST does. true: the request is sent
// at once). Either way the CONNECT response is read on the first read (GOST's nodelay=true
// reads it in connect(), which hangs against a GOST handler with nodelay off until the target
// speaks), so a refused CONNECT shows as an error of the first read. associate() reads its
// response at once. connectTimeout / timeout bounds the exchanges that are waited for.

#include "gost/core/registry.hpp"

namespace gost::relay {

Result<HandlerPtr, ConfigError> make_relay_handler(const HandlerArgs& args);
Result<ConnectorPtr, ConfigError> make_relay_connector(const ConnectorArgs& args);

// Adds handler "relay" and connector "relay".
void register_module(Registry& r);

}  // namespace gost::relay
