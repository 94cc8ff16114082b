#include "ws/transport.hpp"

#include "gost/core/chain.hpp"
#include "gost/core/timeout.hpp"
#include "ws/layered.hpp"

namespace gost::ws {
namespace {

class WsConnServer final : public ConnServer {
 public:
  WsConnServer(ServerLayer tls, Options o) : tls_(std::move(tls)), opts_(std::move(o)) {}
  asio::awaitable<void> serve(StreamPtr conn, StreamQueuePtr q) override {
    auto r = co_await server_layers(std::move(conn), tls_, opts_);
    if (r) q->push(std::move(*r));
  }

 private:
  ServerLayer tls_;
  Options opts_;
};

class WsDialer final : public Dialer {
 public:
  WsDialer(ClientLayer tls, Options o) : tls_(std::move(tls)), opts_(std::move(o)) {}
  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) override {
    co_return co_await dial_tcp(std::move(addr), opts.timeout);
  }
  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, Address addr) override {
    co_return co_await client_layers(std::move(s), std::move(addr), tls_, opts_);
  }

 private:
  ClientLayer tls_;
  Options opts_;
};

}  // namespace

asio::awaitable<Result<StreamPtr>> server_layers(StreamPtr s, ServerLayer tls, Options o) {
  if (tls) {
    // The TLS handshake shares the WebSocket handshake's time limit.
    auto t = co_await with_timeout(tls(std::move(s)), o.handshake_timeout.count() > 0
                                                          ? o.handshake_timeout
                                                          : std::chrono::milliseconds(30000));
    if (!t) co_return make_error_code(errc::timeout);
    if (!*t) co_return t->error();
    s = std::move(**t);
  } else if (o.handshake_timeout.count() <= 0) {
    // A client that never sends its request must not hold the connection forever.
    o.handshake_timeout = std::chrono::milliseconds(30000);
  }
  co_return co_await server_handshake(std::move(s), std::move(o));
}

asio::awaitable<Result<StreamPtr>> client_layers(StreamPtr s, Address addr, ClientLayer tls,
                                                 Options o) {
  if (tls) {
    auto t = co_await tls(std::move(s), addr);
    if (!t) co_return t.error();
    s = std::move(*t);
  }
  co_return co_await client_handshake(std::move(s), std::move(o), addr.to_string());
}

Result<ListenerPtr, ConfigError> make_ws_listener(const ListenerArgs& a, bool tls) {
  auto o = options_from(a.metadata);
  if (!o) return o.error();
  ServerLayer layer;
  if (tls) {
    auto l = tls_server_layer(a.metadata);
    if (!l) return l.error();
    layer = std::move(*l);
  }
  auto inner = make_tcp_listener(a);
  if (!inner) return inner.error();
  return ListenerPtr(std::make_unique<LayeredListener>(
      std::move(*inner), std::make_shared<WsConnServer>(std::move(layer), std::move(*o))));
}

Result<DialerPtr, ConfigError> make_ws_dialer(const DialerArgs& a, bool tls) {
  auto o = options_from(a.metadata);
  if (!o) return o.error();
  ClientLayer layer;
  if (tls) {
    auto l = tls_client_layer(a.metadata, a.node_addr);
    if (!l) return l.error();
    layer = std::move(*l);
  }
  return DialerPtr(std::make_shared<WsDialer>(std::move(layer), std::move(*o)));
}

}  // namespace gost::ws
