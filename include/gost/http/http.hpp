#pragma once
// HTTP/1.x proxy: handler "http" and connector "http".
//
// Handler: CONNECT tunnels and absolute-URI forwarding with keep-alive (several requests on one
// client connection, to one or several origins), Basic proxy authentication (407 with a
// realm), service bypass (403). Metadata: authBasicRealm ("gost"), proxyAgent ("gost/3.0"),
// header (map of extra response headers), readTimeout (15s, reading a request head),
// idleTimeout (60s, between keep-alive requests), hash ("host").
// Connector: CONNECT with Proxy-Authorization when auth is set; metadata header, connectTimeout.

#include "gost/core/registry.hpp"

namespace gost::http {

Result<HandlerPtr, ConfigError> make_http_handler(const HandlerArgs& args);
Result<ConnectorPtr, ConfigError> make_http_connector(const ConnectorArgs& args);

void register_module(Registry& r);

}  // namespace gost::http
