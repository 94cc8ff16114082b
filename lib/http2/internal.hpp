#pragma once
// Internal: the listener shared by h2/h2c (tunnel), http2 (proxy) and grpc.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gost/core/registry.hpp"
#include "http2/common.hpp"

namespace gost::http2 {

enum class ListenKind {
  tunnel,  // h2/h2c: CONNECT (or GET `path`) answered 200, the stream is the connection
  proxy,   // http2: every request goes to the http2 handler as an Exchange
  grpc,    // grpc: GostTunel/Tunnel calls, unframed
};

struct ListenConfig {
  ListenKind kind = ListenKind::tunnel;
  std::string path;  // tunnel: required request-URI (empty: CONNECT only); grpc: :path
  std::shared_ptr<TlsServer> tls;
  Options opts;
  std::size_t backlog = 128;
  LoggerPtr logger;  // may be null
  std::string service;
};

// GOST 2.x's Gost-Target header: base64url(crc32be(name) || base64url(name)); nullopt if bad.
std::optional<std::string> decode_server_name(std::string_view s);

// The http2 listener's streams: the request as an HTTP/1.1 head then its body; the handler's
// HTTP/1.1 response head becomes the response HEADERS.
StreamPtr make_request_stream(ExchangePtr ex);

Result<ListenerPtr, ConfigError> make_listener(const ListenerArgs& args, ListenKind kind, bool tls);

}  // namespace gost::http2
