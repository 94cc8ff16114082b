// TLS under WebSocket (wss) and under smux (mtls, mwss).
#include "ws/transport.hpp"

namespace gost::ws {

Result<ServerLayer, ConfigError> tls_server_layer(const Metadata&) {
  return config_error("wss: the TLS module is not available in this build");
}

Result<ClientLayer, ConfigError> tls_client_layer(const Metadata&, const Address&) {
  return config_error("wss: the TLS module is not available in this build");
}

void register_wss(Registry& r) {
  r.add_listener("wss", [](const ListenerArgs& a) { return make_ws_listener(a, true); });
  r.add_dialer("wss", [](const DialerArgs& a) { return make_ws_dialer(a, true); });
}

}  // namespace gost::ws
