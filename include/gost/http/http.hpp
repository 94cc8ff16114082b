#pragma once
// HTTP/1.x proxy: handler "http" and connector "http" (GOST v3's http handler and connector).
//
// Handler: CONNECT tunnels and absolute-URI (http://) forwarding with keep-alive (several
// requests on one client connection, to one or several origins; 101 upgrades become tunnels),
// Basic proxy authentication (407 with a realm) when HandlerArgs::auther is set, service bypass
// (403), 503 when the target cannot be reached. Metadata: authBasicRealm ("gost"), proxyAgent
// or http.proxyAgent ("gost/3.0"), header or http.header (map of extra fields for the proxy's
// own responses), readTimeout (15s, reading a request head), idleTimeout (waiting for the next
// keep-alive request, for an origin's response head, and idle tunnels; default: readTimeout
// between requests, no limit otherwise), hash ("host"), udp (false: requests with
// X-Gost-Protocol: udp get 403; true: 200, then GOST's UDP-tun frames in the stream, relayed
// through a UDP association of the router), udp.bufferSize (65535).
//
// Connector: CONNECT host:port with Proxy-Connection: keep-alive and Proxy-Authorization when
// ConnectorArgs::auth is set; metadata header (extra request fields), timeout or connectTimeout
// (bounds the exchange). 407 -> errc::auth_failed, other non-200 -> errc::proxy_error.
// Network "udp" and associate(): the CONNECT carries X-Gost-Protocol: udp, then UDP-tun frames.

#include "gost/core/registry.hpp"

namespace gost::http {

Result<HandlerPtr, ConfigError> make_http_handler(const HandlerArgs& args);
Result<ConnectorPtr, ConfigError> make_http_connector(const ConnectorArgs& args);

// Adds handler "http" and connector "http".
void register_module(Registry& r);

}  // namespace gost::http
