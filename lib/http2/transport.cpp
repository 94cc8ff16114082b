// h2 / h2c and grpc tunnel transports, and the listener shared with the http2 proxy.
//
// Wire facts from go-gost/x (listener/http2/h2, dialer/http2/h2, listener/grpc, dialer/grpc,
// internal/util/grpc/proto):
//  - h2/h2c dialer: one HTTP/2 client per node address; each dial is a new request whose body
//    is the tunnel: CONNECT with :authority = `host` (default: the node address), or, when
//    `path` is set, GET with :path = path. Any status but 200 fails. `header` adds fields.
//  - h2/h2c listener: without `path`, a non-CONNECT request gets 405; with `path`, a request
//    whose request-URI differs gets 400; otherwise 200 and the streams are the tunnel.
//  - grpc: bidi-streaming call /GostTunel/Tunnel (or the `path` service/method) of Chunk
//    messages; `insecure` (grpcInsecure, grpc.insecure) runs it over h2c; the client's
//    :authority is `host` (grpc.authority, grpc.host) without its port, default the node host.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <optional>

#include "gost/core/timeout.hpp"
#include "gost/http2/http2.hpp"
#include "http/codec.hpp"
#include "http2/common.hpp"
#include "http2/grpc_codec.hpp"
#include "http2/internal.hpp"

namespace gost::http2 {
namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(15);

bool starts_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(0, p.size()) == p;
}

void debug(const ListenConfig& cfg, std::string_view msg, const Exchange* ex, std::string detail) {
  Logger& log = cfg.logger ? *cfg.logger : Logger::global();
  if (!log.enabled(LogLevel::debug)) return;
  std::string client = ex ? ex->remote_address().to_string() : std::string();
  log.debug(
      msg,
      {{"service", cfg.service}, {"client", std::move(client)}, {"detail", std::move(detail)}});
}

void dispatch_tunnel(const ListenConfig& cfg, ExchangePtr ex, StreamQueue& q) {
  const auto& rq = ex->request_headers();
  const std::string* method = find_header(rq, ":method");
  const std::string* path = find_header(rq, ":path");
  if (cfg.path.empty() && (!method || *method != "CONNECT")) {
    debug(cfg, "h2: method not allowed", ex.get(), method ? *method : std::string());
    ex->respond(405, {}, true);
    return;
  }
  if (!cfg.path.empty() && (!path || *path != cfg.path)) {
    debug(cfg, "h2: bad request path", ex.get(), path ? *path : std::string());
    ex->respond(400, {}, true);
    return;
  }
  if (ex->respond(200, {}, false)) return;
  q.push(std::move(ex));
}

void dispatch_grpc(const ListenConfig& cfg, ExchangePtr ex, StreamQueue& q) {
  const auto& rq = ex->request_headers();
  const std::string* method = find_header(rq, ":method");
  const std::string* path = find_header(rq, ":path");
  const std::string* ct = find_header(rq, "content-type");
  if (!method || *method != "POST" || !ct || !starts_with(*ct, "application/grpc")) {
    debug(cfg, "grpc: not a gRPC request", ex.get(), ct ? *ct : std::string());
    ex->respond(415, {}, true);
    return;
  }
  if (!path || *path != cfg.path) {
    debug(cfg, "grpc: unknown method", ex.get(), path ? *path : std::string());
    // A trailers-only response: grpc-status 12 (UNIMPLEMENTED), as grpc-go answers.
    ex->respond(200,
                {{"content-type", "application/grpc"},
                 {"grpc-status", "12"},
                 {"grpc-message", "unknown method"}},
                true);
    return;
  }
  if (ex->respond(200, {{"content-type", "application/grpc"}}, false)) return;
  ex->set_trailers({{"grpc-status", "0"}});
  q.push(make_grpc_stream(std::move(ex), false));
}

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Prelude {
  StreamPtr conn;                       // with the bytes read so far put back
  std::optional<std::string> settings;  // set: an h2c upgrade, answered with 101
  Headers request;
};

std::string http1_reply(int status, std::string_view reason) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

// A cleartext connection starts with the HTTP/2 preface (prior knowledge) or with an HTTP/1.1
// request; as Go's h2c handler in GOST's h2c listener does, a request asking for
// "Upgrade: h2c" is switched to HTTP/2 (RFC 7540 3.2). Other HTTP/1.1 requests get 405 (400 in
// path mode; 505 for what would be a tunnel) and the connection closes.
asio::awaitable<std::optional<Prelude>> read_prelude(StreamPtr conn, std::string path) {
  StreamReader rd(*conn, http::kMaxHeadSize);
  for (;;) {
    std::string_view got(reinterpret_cast<const char*>(rd.data()), rd.size());
    const std::size_t n = std::min(got.size(), kPreface.size());
    if (got.substr(0, n) == kPreface.substr(0, n)) {
      if (got.size() >= kPreface.size()) break;  // prior knowledge
    } else {
      std::size_t end = http::find_head_end(Bytes(rd.data(), rd.size()));
      if (end != http::kNotFound) {
        auto p = http::parse_request_head(Bytes(rd.data(), end));
        if (!p.ok()) {
          const std::string bad = http1_reply(400, "Bad Request");
          co_await write_all(*conn, asio::buffer(bad));
          co_return std::nullopt;
        }
        auto& req = p.value;
        rd.consume(end);
        const std::string* up = req.headers.find("Upgrade");
        const std::string* hs = req.headers.find("HTTP2-Settings");
        const std::string* cl = req.headers.find("Content-Length");
        const bool body = req.headers.contains("Transfer-Encoding") || (cl && *cl != "0");
        std::optional<std::string> settings;
        if (up && http::iequals(*up, "h2c") && hs && !body &&
            req.headers.has_token("Connection", "upgrade") &&
            req.headers.has_token("Connection", "http2-settings")) {
          std::string b64 = *hs;
          for (auto& c : b64) {
            if (c == '-')
              c = '+';
            else if (c == '_')
              c = '/';
          }
          settings = http::base64_decode(b64);
        }
        if (!settings) {
          const bool tunnel = path.empty() ? req.method == "CONNECT" : req.target == path;
          std::string reply = tunnel         ? http1_reply(505, "HTTP Version Not Supported")
                              : path.empty() ? http1_reply(405, "Method Not Allowed")
                                             : http1_reply(400, "Bad Request");
          co_await write_all(*conn, asio::buffer(reply));
          co_return std::nullopt;
        }
        Prelude pr;
        const std::string* host = req.headers.find("Host");
        pr.request = {{":method", req.method},
                      {":scheme", "http"},
                      {":authority", host ? *host : std::string()},
                      {":path", req.target}};
        for (auto& [k, v] : req.headers.items) {
          auto name = lower(k);
          if (name == "connection" || name == "upgrade" || name == "http2-settings" ||
              name == "host" || name == "keep-alive" || name == "proxy-connection" ||
              name == "transfer-encoding" || name == "te")
            continue;
          pr.request.push_back({std::move(name), v});
        }
        static constexpr std::string_view k101 =
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
        if (co_await write_all(*conn, asio::buffer(k101))) co_return std::nullopt;
        pr.settings = std::move(settings);
        auto rest = rd.take_rest();
        pr.conn = make_prefixed(std::move(conn), std::move(rest));
        co_return pr;
      }
    }
    if (co_await rd.fill()) co_return std::nullopt;
  }
  Prelude pr;
  auto rest = rd.take_rest();
  pr.conn = make_prefixed(std::move(conn), std::move(rest));
  co_return pr;
}

// Holds the queue weakly: the queue's timer belongs to the listener's io_context, which may be
// gone (at shutdown) before this connection's coroutine frame is destroyed on another one.
asio::awaitable<void> serve_conn(StreamPtr conn, std::shared_ptr<const ListenConfig> cfg,
                                 std::weak_ptr<StreamQueue> wq) {
  if (cfg->tls) {
    auto t = co_await with_timeout(cfg->tls->handshake(std::move(conn)), kHandshakeTimeout);
    if (!t || !*t) {
      debug(*cfg, "tls handshake failed", nullptr, t ? t->error().message() : "timeout");
      co_return;
    }
    conn = std::move(**t);
  }
  Result<SessionPtr> s = errc::closed;
  if (!cfg->tls && cfg->kind == ListenKind::tunnel) {
    std::string path = cfg->path;
    auto pre = co_await with_timeout(read_prelude(std::move(conn), path), kHandshakeTimeout);
    if (!pre || !*pre) co_return;
    auto& p = **pre;
    s = p.settings ? Session::server_upgrade(std::move(p.conn), cfg->opts, std::move(*p.settings),
                                             std::move(p.request))
                   : Session::server(std::move(p.conn), cfg->opts);
  } else {
    s = Session::server(std::move(conn), cfg->opts);
  }
  if (!s) co_return;
  auto session = std::move(*s);
  const std::string peer = session->remote_address().to_string();
  for (;;) {
    auto r = co_await session->accept();
    if (!r) {
      if (auto ec = session->error(); ec && ec != errc::closed && ec != asio::error::eof)
        debug(*cfg, "http2 session ended", nullptr, peer + ": " + ec.message());
      break;
    }
    auto q = wq.lock();
    if (!q || q->closed()) {
      session->close();
      break;
    }
    switch (cfg->kind) {
      case ListenKind::tunnel:
        dispatch_tunnel(*cfg, std::move(*r), *q);
        break;
      case ListenKind::grpc:
        dispatch_grpc(*cfg, std::move(*r), *q);
        break;
      case ListenKind::proxy:
        q->push(make_request_stream(std::move(*r)));
        break;
    }
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<Listener> inner,
                                  std::shared_ptr<const ListenConfig> cfg, StreamQueuePtr q) {
  for (;;) {
    auto r = co_await inner->accept();
    if (!r) {
      if (q->closed() || r.error() == errc::closed || r.error() == asio::error::operation_aborted ||
          r.error() == asio::error::bad_descriptor)
        break;
      asio::steady_timer t(inner->get_executor(), std::chrono::milliseconds(20));
      co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      continue;
    }
    auto conn = std::move(*r);
    auto ex = conn->get_executor();
    asio::co_spawn(ex, serve_conn(std::move(conn), cfg, std::weak_ptr<StreamQueue>(q)),
                   asio::detached);
  }
  q->close();
}

class H2Listener final : public Listener {
 public:
  H2Listener(ListenerPtr inner, std::shared_ptr<const ListenConfig> cfg)
      : inner_(std::move(inner)), cfg_(std::move(cfg)) {}
  ~H2Listener() override { close(); }
  std::error_code listen() override {
    if (auto ec = inner_->listen()) return ec;
    queue_ = std::make_shared<StreamQueue>(inner_->get_executor(), cfg_->backlog);
    asio::co_spawn(inner_->get_executor(), accept_loop(inner_, cfg_, queue_), asio::detached);
    return {};
  }
  asio::awaitable<Result<StreamPtr>> accept() override {
    if (!queue_) co_return errc::closed;
    co_return co_await queue_->pop();
  }
  Address address() const override { return inner_->address(); }
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  void close() noexcept override {
    if (queue_) queue_->close();
    inner_->close();
  }

 private:
  std::shared_ptr<Listener> inner_;
  std::shared_ptr<const ListenConfig> cfg_;
  StreamQueuePtr queue_;
};

// ---- dialers --------------------------------------------------------------------------------

struct TunnelDialConfig {
  bool grpc = false;
  std::shared_ptr<TlsClient> tls;  // nullptr: cleartext (h2c, grpc insecure)
  std::string host;                // :authority (empty: the node address / host)
  std::string path;
  Headers headers;
  Options opts;
};

class TunnelDialer final : public Dialer {
 public:
  explicit TunnelDialer(TunnelDialConfig cfg) : cfg_(std::move(cfg)) {}

  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) override {
    auto ex = co_await asio::this_coro::executor;
    const std::string key = addr.to_string();
    for (int attempt = 0; attempt < 2; ++attempt) {
      SessionPtr s = cache_.find(key, ex);
      const bool cached = s != nullptr;
      if (!s) {
        auto conn = co_await dial_tcp(addr, opts.timeout);
        if (!conn) co_return conn.error();
        auto sr = co_await start_session(std::move(*conn), addr, false);
        if (!sr) co_return sr.error();
        s = std::move(*sr);
        cache_.put(key, ex, s);
      }
      auto r = co_await open_tunnel(s, addr);
      if (r) co_return StreamPtr(std::make_unique<DialedStream>(std::move(*r)));
      if (r.error() == errc::unsupported) s->shutdown();  // stream ids used up
      // A cached session may have died in the meantime: try once more on a new one.
      if (!cached || r.error() == errc::proxy_error) co_return r.error();
    }
    co_return errc::closed;
  }

  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, Address addr) override {
    if (auto* d = dynamic_cast<DialedStream*>(s.get()); d && d->take_fresh())
      co_return std::move(s);
    // Mid-chain: a session of its own over the stream the previous node gave, ended with it.
    auto sr = co_await start_session(std::move(s), addr, true);
    if (!sr) co_return sr.error();
    auto r = co_await open_tunnel(*sr, addr);
    if (!r) co_return r.error();
    co_return StreamPtr(std::make_unique<DialedStream>(std::move(*r)));
  }

  bool multiplex() const noexcept override { return true; }

 private:
  asio::awaitable<Result<SessionPtr>> start_session(StreamPtr conn, Address addr, bool own) {
    if (cfg_.tls) {
      auto t = co_await with_timeout(cfg_.tls->handshake(std::move(conn), server_name(addr)),
                                     kHandshakeTimeout);
      if (!t) co_return errc::timeout;
      if (!*t) co_return t->error();
      conn = std::move(**t);
    }
    Options o = cfg_.opts;
    o.close_when_idle = own;
    co_return Session::client(std::move(conn), o);
  }

  std::string server_name(const Address& addr) const {
    if (!cfg_.host.empty()) {
      auto a = Address::parse(cfg_.host, std::uint16_t{0});
      if (a) return a->host;
      return cfg_.host;
    }
    return addr.host;
  }

  asio::awaitable<Result<StreamPtr>> open_tunnel(SessionPtr s, Address addr) {
    const std::string scheme = cfg_.tls ? "https" : "http";
    Headers h;
    if (cfg_.grpc) {
      std::string authority = cfg_.host.empty() ? addr.host : cfg_.host;
      if (auto a = Address::parse(authority, std::uint16_t{0}); a && !a->host.empty())
        authority = a->host;
      h = {{":method", "POST"},
           {":scheme", scheme},
           {":path", cfg_.path},
           {":authority", authority},
           {"content-type", "application/grpc"},
           {"user-agent", "grpc-go/1.64.0"},
           {"te", "trailers"}};
    } else {
      const std::string authority = cfg_.host.empty() ? addr.to_string() : cfg_.host;
      if (cfg_.path.empty()) {
        h = {{":method", "CONNECT"}, {":authority", authority}};
      } else {
        h = {{":method", "GET"},
             {":scheme", scheme},
             {":authority", authority},
             {":path", cfg_.path}};
      }
    }
    for (const auto& x : cfg_.headers) h.push_back(x);
    if (cfg_.grpc) {
      // A gRPC server may answer only with its first message: do not wait for the headers.
      auto r = s->open(std::move(h), false);
      if (!r) co_return r.error();
      co_return make_grpc_stream(std::move(*r), true);
    }
    auto r = co_await s->request(std::move(h), false);
    if (!r) co_return r.error();
    if ((*r)->status() != 200) {
      (*r)->close();
      co_return errc::proxy_error;
    }
    co_return StreamPtr(std::move(*r));
  }

  TunnelDialConfig cfg_;
  SessionCache cache_;
};

Headers headers_from(const Metadata& md, std::string_view key) {
  Headers h;
  for (auto& [k, v] : md.get_string_map(key)) {
    auto name = lower(k);
    if (name.empty() || name[0] == ':' || name == "connection" || name == "host" ||
        name == "transfer-encoding" || name == "upgrade" || name == "keep-alive" ||
        name == "proxy-connection")
      continue;
    h.push_back({std::move(name), v});
  }
  return h;
}

bool grpc_insecure(const Metadata& md) {
  return md.get_bool("grpc.insecure", md.get_bool("grpcInsecure", md.get_bool("insecure")));
}

std::string first_string(const Metadata& md, std::initializer_list<std::string_view> keys) {
  for (auto k : keys)
    if (auto v = md.get(k)) return *v;
  return {};
}

}  // namespace

Result<ListenerPtr, ConfigError> make_listener(const ListenerArgs& args, ListenKind kind,
                                               bool tls) {
  auto cfg = std::make_shared<ListenConfig>();
  cfg->kind = kind;
  cfg->logger = args.logger;
  cfg->service = args.service;
  const auto& md = args.metadata;
  cfg->opts = session_options(md);
  auto backlog = md.get_int(kind == ListenKind::grpc ? "grpc.backlog" : "backlog", 0);
  if (backlog <= 0) backlog = md.get_int("backlog", 128);
  if (backlog <= 0) backlog = 128;
  cfg->backlog = static_cast<std::size_t>(backlog);
  if (kind == ListenKind::tunnel) cfg->path = md.get_string("path");
  if (kind == ListenKind::grpc)
    cfg->path = grpc::tunnel_path(first_string(md, {"grpc.path", "path"}));
  if (tls) {
    auto t = make_tls_server(md);
    if (!t) return t.error();
    cfg->tls = std::move(*t);
  }
  auto inner = make_tcp_listener(args);
  if (!inner) return inner.error();
  return ListenerPtr(std::make_unique<H2Listener>(std::move(*inner), std::move(cfg)));
}

Result<ListenerPtr, ConfigError> make_h2c_listener(const ListenerArgs& args) {
  return make_listener(args, ListenKind::tunnel, false);
}
Result<ListenerPtr, ConfigError> make_h2_listener(const ListenerArgs& args) {
  return make_listener(args, ListenKind::tunnel, true);
}
Result<ListenerPtr, ConfigError> make_grpc_listener(const ListenerArgs& args) {
  return make_listener(args, ListenKind::grpc, !grpc_insecure(args.metadata));
}

namespace {
Result<DialerPtr, ConfigError> make_tunnel_dialer(const DialerArgs& args, bool grpc, bool tls) {
  TunnelDialConfig cfg;
  const auto& md = args.metadata;
  cfg.grpc = grpc;
  cfg.opts = session_options(md);
  client_keepalive(md, cfg.opts, grpc);
  if (grpc) {
    cfg.host = first_string(md, {"grpc.authority", "grpc.host", "host"});
    cfg.path = grpc::tunnel_path(first_string(md, {"grpc.path", "path"}));
  } else {
    cfg.host = md.get_string("host");
    cfg.path = md.get_string("path");
    cfg.headers = headers_from(md, "header");
  }
  if (tls) {
    auto t = make_tls_client(md);
    if (!t) return t.error();
    cfg.tls = std::move(*t);
  }
  return DialerPtr(std::make_shared<TunnelDialer>(std::move(cfg)));
}
}  // namespace

Result<DialerPtr, ConfigError> make_h2c_dialer(const DialerArgs& args) {
  return make_tunnel_dialer(args, false, false);
}
Result<DialerPtr, ConfigError> make_h2_dialer(const DialerArgs& args) {
  return make_tunnel_dialer(args, false, true);
}
Result<DialerPtr, ConfigError> make_grpc_dialer(const DialerArgs& args) {
  return make_tunnel_dialer(args, true, !grpc_insecure(args.metadata));
}

}  // namespace gost::http2
