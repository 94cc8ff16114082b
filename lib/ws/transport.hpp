#pragma once
// Internal: ws/wss listener and dialer factories, with an optional TLS layer underneath (the
// mux module reuses the layers for mws/mwss).

#include <asio/awaitable.hpp>
#include <functional>

#include "gost/core/registry.hpp"
#include "gost/ws/ws.hpp"

namespace gost::ws {

// A layer added over an accepted connection (server) or a dialed one (client), e.g. TLS.
using ServerLayer = std::function<asio::awaitable<Result<StreamPtr>>(StreamPtr)>;
using ClientLayer = std::function<asio::awaitable<Result<StreamPtr>>(StreamPtr, Address)>;

// The TLS layers built from the node's/service's metadata (tls module); errors name the key.
Result<ServerLayer, ConfigError> tls_server_layer(const Metadata& md);
Result<ClientLayer, ConfigError> tls_client_layer(const Metadata& md, const Address& node);

Result<ListenerPtr, ConfigError> make_ws_listener(const ListenerArgs& a, bool tls);
void register_wss(Registry& r);
Result<DialerPtr, ConfigError> make_ws_dialer(const DialerArgs& a, bool tls);

// Runs `layer` (if any) then the WebSocket server handshake.
asio::awaitable<Result<StreamPtr>> server_layers(StreamPtr s, ServerLayer tls, Options o);
// Runs `layer` (if any) then the WebSocket client handshake to addr.
asio::awaitable<Result<StreamPtr>> client_layers(StreamPtr s, Address addr, ClientLayer tls,
                                                 Options o);

}  // namespace gost::ws
