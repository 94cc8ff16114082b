// TLS under WebSocket (wss) and under smux (mtls, mwss), from the tls module when it is built.
#include "ws/transport.hpp"

#if defined(GOST_WS_HAVE_TLS)
#include "gost/tls/tls.hpp"
#endif

namespace gost::ws {

#if defined(GOST_WS_HAVE_TLS)
namespace {
asio::awaitable<Result<StreamPtr>> tls_server(StreamPtr s,
                                              std::shared_ptr<tls::ServerContext> ctx) {
  co_return co_await tls::server_handshake(std::move(s), std::move(ctx));
}
asio::awaitable<Result<StreamPtr>> tls_client(StreamPtr s, std::shared_ptr<tls::ClientContext> ctx,
                                              std::string host) {
  co_return co_await tls::client_handshake(std::move(s), std::move(ctx), std::move(host));
}
}  // namespace

Result<ServerLayer, ConfigError> tls_server_layer(const Metadata& md) {
  auto ctx = tls::make_server_context(tls::server_options_from(md));
  if (!ctx) return config_error("tls: cannot build the server context: " + ctx.error().message());
  auto c = std::move(*ctx);
  return ServerLayer([c](StreamPtr s) { return tls_server(std::move(s), c); });
}

Result<ClientLayer, ConfigError> tls_client_layer(const Metadata& md, const Address&) {
  auto ctx = tls::make_client_context(tls::client_options_from(md));
  if (!ctx) return config_error("tls: cannot build the client context: " + ctx.error().message());
  auto c = std::move(*ctx);
  return ClientLayer(
      [c](StreamPtr s, Address addr) { return tls_client(std::move(s), c, addr.host); });
}
#else
Result<ServerLayer, ConfigError> tls_server_layer(const Metadata&) {
  return config_error(
      "TLS transports (wss, mtls, mwss) need the tls module, which this build lacks");
}

Result<ClientLayer, ConfigError> tls_client_layer(const Metadata&, const Address&) {
  return config_error(
      "TLS transports (wss, mtls, mwss) need the tls module, which this build lacks");
}
#endif

void register_wss(Registry& r) {
  r.add_listener("wss", [](const ListenerArgs& a) { return make_ws_listener(a, true); });
  r.add_dialer("wss", [](const DialerArgs& a) { return make_ws_dialer(a, true); });
}

}  // namespace gost::ws
