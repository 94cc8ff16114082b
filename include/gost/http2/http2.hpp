#pragma once
// HTTP/2 transports and proxy (GOST v3's h2, h2c, http2 and grpc), built on gost::http2::Session.
//
// Listeners:
//  - "h2c" / "h2": HTTP/2 tunnel (cleartext with prior knowledge or an HTTP/1.1 "Upgrade: h2c"
//    request / TLS with ALPN h2). Without
//    `path` every CONNECT request is a tunnel (other methods get 405); with `path` only requests
//    for that request-URI are (others get 400). Keys: path, backlog, http2.* (see below).
//  - "http2": HTTP/2 proxy over TLS; each request goes to the "http2" handler as a stream that
//    reads as an HTTP/1.1 request head (CONNECT authority, or the absolute URI) plus the body,
//    and takes an HTTP/1.1 response head (sent as HEADERS) plus the body.
//  - "grpc": GOST's gRPC tunnel service (bidi /GostTunel/Tunnel of Chunk{bytes data=1}); keys
//    path / grpc.path (custom service/method), insecure / grpcInsecure / grpc.insecure (h2c
//    instead of TLS), backlog / grpc.backlog.
// Dialers ("h2c", "h2", "grpc", "http2") keep one HTTP/2 session per node address and thread;
// each dial opens a new stream on it. h2/h2c keys: host (:authority), path (GET path instead of
// CONNECT), header (extra fields). grpc keys: host / grpc.authority / grpc.host, path /
// grpc.path, insecure. "http2" yields the session for the "http2" connector.
// Handler "http2": HTTP/2 proxy: CONNECT tunnels, other methods forwarded to the origin over
// HTTP/1.1; Basic proxy auth (407), service bypass (403), 503 when the target is unreachable;
// GOST 2.x Gost-Target / X-Gost-Target; keys header / http.header (extra fields of the 200),
// authBasicRealm, hash=host, readTimeout (idle tunnels), probeResist=code:<status> with knock
// (the web/host/file kinds answer 503).
// Connector "http2": HTTP/2 CONNECT (with Proxy-Authorization when auth is set) on the
// "http2" dialer's session; keys header, timeout.
// Session tuning (gost only): http2.maxConcurrentStreams, http2.streamWindow,
// http2.connectionWindow. Client sessions send a PING after 30s of silence and close when it
// goes unanswered for 30s more (grpc: only with keepalive / grpc.keepalive, using
// keepalive.time / keepalive.timeout).

#include "gost/core/registry.hpp"

namespace gost::http2 {

Result<ListenerPtr, ConfigError> make_h2c_listener(const ListenerArgs& args);
Result<ListenerPtr, ConfigError> make_h2_listener(const ListenerArgs& args);
Result<ListenerPtr, ConfigError> make_http2_listener(const ListenerArgs& args);
Result<ListenerPtr, ConfigError> make_grpc_listener(const ListenerArgs& args);

Result<DialerPtr, ConfigError> make_h2c_dialer(const DialerArgs& args);
Result<DialerPtr, ConfigError> make_h2_dialer(const DialerArgs& args);
Result<DialerPtr, ConfigError> make_http2_dialer(const DialerArgs& args);
Result<DialerPtr, ConfigError> make_grpc_dialer(const DialerArgs& args);

Result<HandlerPtr, ConfigError> make_http2_handler(const HandlerArgs& args);
Result<ConnectorPtr, ConfigError> make_http2_connector(const ConnectorArgs& args);

// Adds the listeners and dialers h2, h2c, http2, grpc, handler http2 and connector http2.
void register_module(Registry& r);

}  // namespace gost::http2
