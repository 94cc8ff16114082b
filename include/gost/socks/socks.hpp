#pragma once
// SOCKS4/4a and SOCKS5 handlers and connectors.
//
// Handlers ("socks4" = "socks4a", "socks5" = "socks") serve one accepted stream each; the stream
// may already have been peeked at (a make_prefixed stream from the "auto" handler).
//   SOCKS5 handler metadata: readTimeout (15s, bounds the whole handshake), bind (false),
//     udp (false), udp.bufferSize / udpBufferSize (65535, clamped to 512..65535: the largest
//     datagram relayed), udp.bindRange.min / udp.bindRange.max (relay port range, 0 = any),
//     ttl (0 = none: idle timeout of a UDP association), bindTimeout (60s: how long BIND waits
//     for the inbound connection), publicAddr (IP advertised as the UDP relay address),
//     hash ("host": the target host is the hash selector's key), notls (false: GOST's TLS methods
//     0x80 / 0x82 are picked when a client offers them, with a TLS server context from the tls.*
//     metadata keys, a generated self-signed certificate by default).
//   SOCKS4 handler metadata: readTimeout, bind, bindTimeout, hash.
// Connectors ("socks5" = "socks", "socks4", "socks4a"):
//   SOCKS5 connector: offers NO AUTH, plus USERNAME/PASSWORD when args.auth is set; metadata
//     connectTimeout or timeout (0 = none), udp.bufferSize, relay ("udp": standard UDP
//     ASSOCIATE; otherwise UDP goes through GOST's UDP-over-TCP command 0xF3, as in GOST),
//     notls (false: also offers TLS 0x80, and TLS-auth 0x82 with credentials; the certificate
//     is not verified unless secure=true). Call handshake() (method negotiation) before
//     connect() / associate(); the Router does.
//   SOCKS4 connector: metadata disable4a, connectTimeout.

#include "gost/core/registry.hpp"

namespace gost::socks {

// SOCKS5 server (RFC 1928 + RFC 1929): CONNECT, BIND (metadata bind), UDP ASSOCIATE (udp),
// GOST's 0xF3 UDP over TCP (port 0: association, needs udp; else a UDP bind, needs bind) and
// 0xF2 MUX-BIND (needs bind; metadata comp, mux.*).
Result<HandlerPtr, ConfigError> make_socks5_handler(const HandlerArgs& args);
// SOCKS4 and SOCKS4a server: CONNECT, BIND (metadata bind).
Result<HandlerPtr, ConfigError> make_socks4_handler(const HandlerArgs& args);

// SOCKS5 client: CONNECT; "udp" connect and associate() use 0xF3 (or UDP ASSOCIATE, relay=udp).
Result<ConnectorPtr, ConfigError> make_socks5_connector(const ConnectorArgs& args);
// SOCKS4 client. With socks4a (and no disable4a) domain targets are sent to the proxy; otherwise
// they are resolved locally to IPv4 first.
Result<ConnectorPtr, ConfigError> make_socks4_connector(const ConnectorArgs& args, bool socks4a);

// Registers the handlers and connectors above under their GOST names.
void register_module(Registry& r);

}  // namespace gost::socks
