// mtcp, mtls, mws, mwss: smux sessions over TCP, TLS, WebSocket, WebSocket over
// TLS.
//
// Listener: every accepted connection becomes a server session; its streams are
// what accept() returns. Dialer: one client session per node address, shared by
// the streams dialed through it (Dialer::multiplex() is true). The router only
// calls dial() for the first hop, so the sharing lives here: dial() returns a
// handle to a live cached session instead of a new TCP connection, and
// handshake() opens a stream on it. One session per node for the whole process:
// it lives on the thread that dialed first, and a stream opened from another
// thread is wrapped so that its I/O runs on the session's thread
// (foreign_stream.hpp). A session built over a stream that did not come from
// dial() (a later hop) is owned by its single stream and closed with it.
#include "ws/transport.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gost/core/chain.hpp"
#include "gost/core/registry.hpp"
#include "gost/core/timeout.hpp"
#include "gost/mux/session.hpp"
#include "mux/foreign_stream.hpp"
#include "ws/layered.hpp"

namespace gost::mux {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// What dial() returns: a live session to the node (on any thread). handshake()
// opens a stream.
class SessionHandle final : public Stream {
 public:
  SessionHandle(SessionPtr s, asio::any_io_executor caller)
      : sess(std::move(s)), caller_(std::move(caller)) {}
  asio::any_io_executor get_executor() override { return caller_; }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer) override {
    co_return IoResult{make_error_code(errc::unsupported), 0};
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer) override {
    co_return IoResult{make_error_code(errc::unsupported), 0};
  }
  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }
  void close() noexcept override {}
  SessionPtr sess;

 private:
  asio::any_io_executor caller_;
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
  bool has_ready_callback() noexcept override { return inner_->has_ready_callback(); }
  void async_wait_readable(ReadyHandler h) override { inner_->async_wait_readable(std::move(h)); }
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

// Runs on the session's executor: opens a stream there and wraps it for the
// caller's.
asio::awaitable<Result<StreamPtr>> open_for(SessionPtr sess, asio::any_io_executor caller) {
  auto st = co_await sess->open();
  if (!st) co_return st.error();
  co_return make_foreign_stream(std::move(*st), std::move(caller));
}

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

// The dialer of one node. Its session cache is shared by every runtime thread:
// the first dial creates the session on the dialing thread; a dial that finds a
// session being created waits for that result (bounded by its dial timeout);
// streams opened from another thread are wrapped to run their I/O on the
// session's thread (ForeignStream).
class MuxDialer final : public Dialer {
 public:
  MuxDialer(Layers l, Options o) : layers_(std::move(l)), opts_(o) {}

  bool multiplex() const noexcept override { return true; }

  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) override {
    auto ex = co_await asio::this_coro::executor;
    const auto key = addr.to_string();
    const auto limit = opts.timeout.count() > 0 ? opts.timeout : kDefaultWait;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      SessionPtr live;
      std::shared_ptr<Pending> p;
      std::shared_ptr<asio::steady_timer> wake;
      bool creator = false;
      {
        std::lock_guard<std::mutex> g(mu_);
        auto &e = cache_[key];
        if (auto s = e.sess.lock(); s && !s->is_closed()) {
          live = std::move(s);
        } else if (e.pending) {
          p = e.pending;
          wake = std::make_shared<asio::steady_timer>(ex, deadline);
          p->waiters.push_back(Waiter{ex, wake});
        } else {
          p = e.pending = std::make_shared<Pending>();
          creator = true;
        }
      }
      if (live) co_return StreamPtr(std::make_unique<SessionHandle>(std::move(live), ex));
      if (creator) {
        CreatorGuard guard{this, key, p};
        auto r = co_await create(addr, opts.timeout);
        guard.finish(r ? *r : nullptr, r ? std::error_code{} : r.error());
        if (!r) co_return r.error();
        co_return StreamPtr(std::make_unique<SessionHandle>(std::move(*r), ex));
      }
      // Another coroutine (perhaps on another thread) is creating the session:
      // its finish() posts a cancel of `wake` to this executor. Registered
      // under the lock and awaited without suspending in between, so the
      // wake-up cannot be missed.
      auto [ec] = co_await wake->async_wait(use_tuple);
      SessionPtr got;
      std::error_code err;
      bool done = false;
      {
        std::lock_guard<std::mutex> g(mu_);
        done = p->done;
        if (done) {
          got = p->sess;
          err = p->ec;
        } else {
          std::erase_if(p->waiters, [&](const Waiter &w) { return w.timer == wake; });
        }
      }
      if (!done) {
        // Expired: the dial timeout; cancelled: the caller gave up.
        if (ec) co_return make_error_code(asio::error::operation_aborted);
        co_return make_error_code(errc::timeout);
      }
      if (got && !got->is_closed())
        co_return StreamPtr(std::make_unique<SessionHandle>(std::move(got), ex));
      // The creator was cancelled (not a verdict on the node), or its session
      // died at once: try again while there is time.
      if (err && err != asio::error::operation_aborted) co_return err;
      if (std::chrono::steady_clock::now() >= deadline) co_return make_error_code(errc::timeout);
    }
  }

  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, Address addr) override {
    if (auto *h = dynamic_cast<SessionHandle *>(s.get())) {
      auto sess = std::move(h->sess);
      s.reset();
      auto ex = co_await asio::this_coro::executor;
      if (same_context(sess->get_executor(), ex)) co_return co_await sess->open();
      auto home = sess->get_executor();
      co_return co_await run_on(home, detail::life_of(home), ex, detail::life_of(ex),
                                open_for(std::move(sess), ex));
    }
    // A later hop: the session runs over s and belongs to the single stream it
    // carries.
    auto c = co_await add_layers(std::move(s), addr);
    if (!c) co_return c.error();
    auto sess = Session::client(std::move(*c), opts_);
    auto st = co_await sess->open();
    if (!st) {
      sess->close();
      co_return st.error();
    }
    co_return StreamPtr(std::make_unique<OwningStream>(sess, std::move(*st)));
  }

 private:
  static constexpr std::chrono::milliseconds kDefaultWait{30000};

  struct Waiter {
    asio::any_io_executor ex;
    std::shared_ptr<asio::steady_timer> timer;
  };
  // A session being created; done once the creator finished (or gave up).
  struct Pending {
    bool done = false;
    SessionPtr sess;
    std::error_code ec;
    std::vector<Waiter> waiters;
  };
  // Weak: a session lives as long as its own coroutines (until it closes) and
  // its streams; the dialer may outlive the io_contexts the sessions belong to.
  struct Entry {
    std::weak_ptr<Session> sess;
    std::shared_ptr<Pending> pending;
  };

  // Publishes the creator's result and wakes the waiters; a creator whose
  // coroutine is destroyed before finishing (its io_context torn down) gives up
  // through the destructor.
  struct CreatorGuard {
    MuxDialer *d;
    std::string key;
    std::shared_ptr<Pending> p;
    bool finished = false;
    ~CreatorGuard() {
      if (!finished) finish(nullptr, make_error_code(asio::error::operation_aborted));
    }
    void finish(SessionPtr s, std::error_code ec) {
      finished = true;
      std::vector<Waiter> ws;
      {
        std::lock_guard<std::mutex> g(d->mu_);
        p->done = true;
        p->sess = s;
        p->ec = ec;
        ws.swap(p->waiters);
        auto &e = d->cache_[key];
        if (e.pending == p) e.pending.reset();
        if (s) e.sess = s;
      }
      for (auto &w : ws) asio::post(w.ex, [t = std::move(w.timer)] { t->cancel(); });
    }
  };

  asio::awaitable<Result<StreamPtr>> add_layers(StreamPtr s, Address addr) {
    if (layers_.ws)
      co_return co_await ws::client_layers(std::move(s), addr, layers_.tls_client, *layers_.ws);
    if (layers_.tls_client) co_return co_await layers_.tls_client(std::move(s), addr);
    co_return std::move(s);
  }

  asio::awaitable<Result<SessionPtr>> connect(Address addr, std::chrono::milliseconds timeout) {
    auto c = co_await dial_tcp(addr, timeout);
    if (!c) co_return c.error();
    auto l = co_await add_layers(std::move(*c), addr);
    if (!l) co_return l.error();
    co_return Session::client(std::move(*l), opts_);
  }

  // A new session to the node, on the calling executor, within timeout (0:
  // none).
  asio::awaitable<Result<SessionPtr>> create(Address addr, std::chrono::milliseconds timeout) {
    auto r = co_await with_timeout(connect(addr, timeout), timeout);
    if (!r) co_return make_error_code(errc::timeout);
    co_return std::move(*r);
  }

  Layers layers_;
  Options opts_;
  std::mutex mu_;
  std::map<std::string, Entry> cache_;
};

Result<Layers, ConfigError> layers_for(const Metadata &md, const Address &node, bool tls,
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

Result<ListenerPtr, ConfigError> make_listener(const ListenerArgs &a, bool tls, bool websocket) {
  auto mo = options_from(a.metadata);
  if (!mo) return mo.error();
  auto l = layers_for(a.metadata, a.addr, tls, websocket, true);
  if (!l) return l.error();
  auto inner = ws::make_tcp_listener(a);
  if (!inner) return inner.error();
  return ListenerPtr(std::make_unique<ws::LayeredListener>(
      std::move(*inner), std::make_shared<MuxConnServer>(std::move(*l), *mo)));
}

Result<DialerPtr, ConfigError> make_dialer(const DialerArgs &a, bool tls, bool websocket) {
  auto mo = options_from(a.metadata);
  if (!mo) return mo.error();
  auto l = layers_for(a.metadata, a.node_addr, tls, websocket, false);
  if (!l) return l.error();
  return DialerPtr(std::make_shared<MuxDialer>(std::move(*l), *mo));
}

}  // namespace

void register_module(Registry &r) {
  struct Kind {
    const char *name;
    bool tls;
    bool ws;
  };
  static constexpr Kind kinds[] = {
      {"mtcp", false, false}, {"mtls", true, false}, {"mws", false, true}, {"mwss", true, true}};
  for (const auto &k : kinds) {
    const bool tls = k.tls, websocket = k.ws;
    r.add_listener(k.name, [tls, websocket](const ListenerArgs &a) {
      return make_listener(a, tls, websocket);
    });
    r.add_dialer(k.name,
                 [tls, websocket](const DialerArgs &a) { return make_dialer(a, tls, websocket); });
  }
}

}  // namespace gost::mux
