// mtcp, mtls, mws, mwss: smux sessions over TCP, TLS, WebSocket, WebSocket over TLS.
//
// Listener: every accepted connection becomes a server session; its streams are what accept()
// returns. Dialer: one client session per node address, shared by the streams dialed through
// it (Dialer::multiplex() is true). The router only calls dial() for the first hop, so the
// sharing lives here: dial() returns a handle to a live cached session instead of a new TCP
// connection, and handshake() opens a stream on it. Sessions are bound to one executor, so the
// cache is keyed by (address, executor): each runtime thread has its own session per node.
// A session built over a stream that did not come from dial() (a later hop) or that lost a race
// to the cache is owned by its single stream and closed with it.
#include "ws/transport.hpp"

#include <asio/this_coro.hpp>
#include <mutex>
#include <optional>
#include <vector>

#include "gost/core/chain.hpp"
#include "gost/core/registry.hpp"
#include "gost/core/timeout.hpp"
#include "gost/mux/session.hpp"
#include "ws/layered.hpp"

namespace gost::mux {
namespace {

// What dial() returns when a live session to the node exists.
class SessionHandle final : public Stream {
 public:
  explicit SessionHandle(SessionPtr s) : sess(std::move(s)) {}
  asio::any_io_executor get_executor() override { return sess->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer) override {
    co_return IoResult{make_error_code(errc::unsupported), 0};
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer) override {
    co_return IoResult{make_error_code(errc::unsupported), 0};
  }
  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }
  void close() noexcept override {}
  Address local_address() const override { return sess->local_address(); }
  Address remote_address() const override { return sess->remote_address(); }
  SessionPtr sess;
};

// A stream that owns its session (closed together).
class OwningStream final : public Stream {
 public:
  OwningStream(SessionPtr s, StreamPtr inner) : sess_(std::move(s)), inner_(std::move(inner)) {}
  ~OwningStream() override { close(); }
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    return inner_->read_some(b);
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    return inner_->write_some(b);
  }
  asio::awaitable<std::error_code> shutdown_write() override { return inner_->shutdown_write(); }
  asio::awaitable<std::error_code> wait_readable() override { return inner_->wait_readable(); }
  void close() noexcept override {
    inner_->close();
    sess_->close();
  }
  Address local_address() const override { return inner_->local_address(); }
  Address remote_address() const override { return inner_->remote_address(); }

 private:
  SessionPtr sess_;
  StreamPtr inner_;
};

struct Layers {
  ws::ClientLayer tls_client;
  ws::ServerLayer tls_server;
  std::optional<ws::Options> ws;
};

class MuxConnServer final : public ws::ConnServer {
 public:
  MuxConnServer(Layers l, Options o) : layers_(std::move(l)), opts_(o) {}
  asio::awaitable<void> serve(StreamPtr conn, ws::StreamQueuePtr q) override {
    StreamPtr s = std::move(conn);
    if (layers_.ws) {
      auto r = co_await ws::server_layers(std::move(s), layers_.tls_server, *layers_.ws);
      if (!r) co_return;
      s = std::move(*r);
    } else if (layers_.tls_server) {
      auto r = co_await with_timeout_tls(std::move(s));
      if (!r) co_return;
      s = std::move(*r);
    }
    auto sess = Session::server(std::move(s), opts_);
    for (;;) {
      auto st = co_await sess->accept();
      if (!st) break;
      if (!q->push(std::move(*st))) break;
    }
    sess->close();
  }

 private:
  asio::awaitable<Result<StreamPtr>> with_timeout_tls(StreamPtr s) {
    auto r = co_await gost::with_timeout(layers_.tls_server(std::move(s)),
                                         std::chrono::milliseconds(30000));
    if (!r) co_return make_error_code(errc::timeout);
    co_return std::move(*r);
  }
  Layers layers_;
  Options opts_;
};

class MuxDialer final : public Dialer {
 public:
  MuxDialer(Layers l, Options o) : layers_(std::move(l)), opts_(o) {}

  bool multiplex() const noexcept override { return true; }

  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) override {
    auto ex = co_await asio::this_coro::executor;
    if (auto s = find(addr.to_string(), ex))
      co_return StreamPtr(std::make_unique<SessionHandle>(std::move(s)));
    auto c = co_await dial_tcp(addr, opts.timeout);
    if (!c) co_return c.error();
    co_return StreamPtr(std::make_unique<FreshConn>(std::move(*c)));
  }

  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, Address addr) override {
    if (auto* h = dynamic_cast<SessionHandle*>(s.get())) {
      auto sess = h->sess;
      s.reset();
      co_return co_await sess->open();
    }
    bool fresh = false;
    if (auto* f = dynamic_cast<FreshConn*>(s.get())) {
      fresh = true;
      s = std::move(f->inner);
    }
    if (layers_.ws) {
      auto r = co_await ws::client_layers(std::move(s), addr, layers_.tls_client, *layers_.ws);
      if (!r) co_return r.error();
      s = std::move(*r);
    } else if (layers_.tls_client) {
      auto r = co_await layers_.tls_client(std::move(s), addr);
      if (!r) co_return r.error();
      s = std::move(*r);
    }
    auto ex = s->get_executor();
    auto sess = Session::client(std::move(s), opts_);
    auto st = co_await sess->open();
    if (!st) {
      sess->close();
      co_return st.error();
    }
    if (fresh && store(addr.to_string(), ex, sess)) co_return std::move(*st);
    co_return StreamPtr(std::make_unique<OwningStream>(sess, std::move(*st)));
  }

 private:
  // A new transport connection from dial(), marked so handshake() caches its session.
  class FreshConn final : public Stream {
   public:
    explicit FreshConn(StreamPtr s) : inner(std::move(s)) {}
    asio::any_io_executor get_executor() override { return inner->get_executor(); }
    asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
      return inner->read_some(b);
    }
    asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
      return inner->write_some(b);
    }
    asio::awaitable<std::error_code> shutdown_write() override { return inner->shutdown_write(); }
    void close() noexcept override {
      if (inner) inner->close();
    }
    StreamPtr inner;
  };

  // Weak: a session lives as long as its own coroutines (until it closes) and its streams; the
  // dialer may outlive the io_contexts the sessions belong to.
  struct Entry {
    std::string key;
    asio::any_io_executor ex;
    std::weak_ptr<Session> sess;
  };
  static bool dead(const Entry& e) {
    auto s = e.sess.lock();
    return !s || s->is_closed();
  }

  SessionPtr find(const std::string& key, const asio::any_io_executor& ex) {
    std::lock_guard<std::mutex> g(mu_);
    std::erase_if(cache_, dead);
    for (auto& e : cache_) {
      if (e.key == key && e.ex == ex) return e.sess.lock();
    }
    return nullptr;
  }

  // False when another live session got there first.
  bool store(const std::string& key, const asio::any_io_executor& ex, const SessionPtr& s) {
    std::lock_guard<std::mutex> g(mu_);
    std::erase_if(cache_, dead);
    for (auto& e : cache_) {
      if (e.key == key && e.ex == ex) return false;
    }
    cache_.push_back(Entry{key, ex, s});
    return true;
  }

  Layers layers_;
  Options opts_;
  std::mutex mu_;
  std::vector<Entry> cache_;
};

Result<Layers, ConfigError> layers_for(const Metadata& md, const Address& node, bool tls,
                                       bool websocket, bool server) {
  Layers l;
  if (tls) {
    if (server) {
      auto t = ws::tls_server_layer(md);
      if (!t) return t.error();
      l.tls_server = std::move(*t);
    } else {
      auto t = ws::tls_client_layer(md, node);
      if (!t) return t.error();
      l.tls_client = std::move(*t);
    }
  }
  if (websocket) {
    auto o = ws::options_from(md);
    if (!o) return o.error();
    l.ws = std::move(*o);
  }
  return l;
}

Result<ListenerPtr, ConfigError> make_listener(const ListenerArgs& a, bool tls, bool websocket) {
  auto mo = options_from(a.metadata);
  if (!mo) return mo.error();
  auto l = layers_for(a.metadata, a.addr, tls, websocket, true);
  if (!l) return l.error();
  auto inner = ws::make_tcp_listener(a);
  if (!inner) return inner.error();
  return ListenerPtr(std::make_unique<ws::LayeredListener>(
      std::move(*inner), std::make_shared<MuxConnServer>(std::move(*l), *mo)));
}

Result<DialerPtr, ConfigError> make_dialer(const DialerArgs& a, bool tls, bool websocket) {
  auto mo = options_from(a.metadata);
  if (!mo) return mo.error();
  auto l = layers_for(a.metadata, a.node_addr, tls, websocket, false);
  if (!l) return l.error();
  return DialerPtr(std::make_shared<MuxDialer>(std::move(*l), *mo));
}

}  // namespace

void register_module(Registry& r) {
  struct Kind {
    const char* name;
    bool tls;
    bool ws;
  };
  static constexpr Kind kinds[] = {
      {"mtcp", false, false}, {"mtls", true, false}, {"mws", false, true}, {"mwss", true, true}};
  for (const auto& k : kinds) {
    const bool tls = k.tls, websocket = k.ws;
    r.add_listener(k.name, [tls, websocket](const ListenerArgs& a) {
      return make_listener(a, tls, websocket);
    });
    r.add_dialer(k.name,
                 [tls, websocket](const DialerArgs& a) { return make_dialer(a, tls, websocket); });
  }
}

}  // namespace gost::mux
