// The http2 proxy: listener, handler, dialer and connector (go-gost/x listener/http2,
// handler/http2, dialer/http2, connector/http2).
//
//  - Listener "http2": HTTP/2 over TLS; every request is handed to the handler.
//  - Handler: CONNECT host:port (or the decoded Gost-Target / X-Gost-Target of GOST 2.x)
//    becomes a tunnel after 200; other methods are forwarded to the origin over HTTP/1.1; Basic
//    Proxy-Authorization checked by the auther (407 with Proxy-Authenticate: Basic realm="gost"); a
//    service bypass gives 403; a failed dial 503.
//  - Dialer "http2": one HTTP/2 client session per node; dial() returns a handle on it.
//  - Connector "http2": CONNECT with :authority = target on that session, 200 or failure.
#include <array>
#include <asio/this_coro.hpp>
#include <cstdio>
#include <cstring>

#include "gost/core/timeout.hpp"
#include "gost/http2/http2.hpp"
#include "http/codec.hpp"
#include "http2/common.hpp"
#include "http2/internal.hpp"

namespace gost::http2 {
namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(15);

std::uint32_t crc32_ieee(std::string_view s) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : s) c = table[(c ^ ch) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string s(in);
  for (auto& c : s) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
  }
  return http::base64_decode(s);
}

}  // namespace

// GOST 2.x's obfuscated target: base64url(crc32be(name) || base64url(name)), unpadded.
std::optional<std::string> decode_server_name(std::string_view s) {
  auto b = base64url_decode(s);
  if (!b || b->size() < 4) return std::nullopt;
  auto v = base64url_decode(std::string_view(*b).substr(4));
  if (!v) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(b->data());
  std::uint32_t want = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                       (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  if (crc32_ieee(*v) != want) return std::nullopt;
  return v;
}

namespace {

// ---- handler --------------------------------------------------------------------------------

struct HandlerConfig {
  std::string service;
  RouterPtr router;
  AutherPtr auther;
  BypassPtr bypass;
  Headers extra;
  std::string realm = "gost";
  bool hash_host = false;
  int probe_code = 0;
  std::vector<std::string> knock;
  std::chrono::milliseconds idle_timeout{};
};

bool hop_by_hop(std::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" ||
         n == "transfer-encoding" || n == "upgrade" || n == "te" || n == "trailer" ||
         n == "proxy-authorization" || n == "proxy-authenticate" || n == "host" ||
         n == "gost-target" || n == "x-gost-target";
}

// An HTTP/2 request as the byte stream a handler reads: first an HTTP/1.1 request head made
// from the HEADERS (CONNECT authority, or the absolute-form URI), then the request body. What
// the handler writes is an HTTP/1.1 response head, sent as the response HEADERS, then the
// body as DATA; shutdown_write() ends the stream. This way the request crosses any wrapper a
// service puts around accepted streams.
class RequestStream final : public Stream {
 public:
  explicit RequestStream(ExchangePtr ex) : ex_(std::move(ex)) {
    const auto& rq = ex_->request_headers();
    const std::string* method = find_header(rq, ":method");
    const std::string* authority = find_header(rq, ":authority");
    const std::string* scheme = find_header(rq, ":scheme");
    const std::string* path = find_header(rq, ":path");
    const std::string m = method ? *method : std::string("GET");
    const std::string a = authority ? *authority : std::string();
    head_ = m + " ";
    if (m == "CONNECT") {
      head_ += a;
    } else {
      head_ += (scheme ? *scheme : std::string("http")) + "://" + a + (path ? *path : "/");
    }
    head_ += " HTTP/1.1\r\nHost: " + a + "\r\n";
    for (const auto& h : rq) {
      if (h.name.empty() || h.name[0] == ':' || h.name == "host") continue;
      head_ += h.name + ": " + h.value + "\r\n";
    }
    head_ += "\r\n";
  }
  ~RequestStream() override { close(); }
  asio::any_io_executor get_executor() override { return ex_->get_executor(); }
  Address local_address() const override { return ex_->local_address(); }
  Address remote_address() const override { return ex_->remote_address(); }

  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    if (off_ < head_.size()) {
      std::size_t n = std::min(b.size(), head_.size() - off_);
      std::memcpy(b.data(), head_.data() + off_, n);
      off_ += n;
      co_return IoResult{{}, n};
    }
    co_return co_await ex_->read_some(b);
  }
  asio::awaitable<std::error_code> wait_readable() override {
    if (off_ < head_.size()) co_return std::error_code{};
    co_return co_await ex_->wait_readable();
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    if (responded_) co_return co_await ex_->write_some(b);
    auto p = static_cast<const std::uint8_t*>(b.data());
    resp_.insert(resp_.end(), p, p + b.size());
    std::size_t end = http::find_head_end(Bytes(resp_));
    if (end == http::kNotFound) {
      if (resp_.size() > http::kMaxHeadSize)
        co_return IoResult{make_error_code(errc::message_too_large), 0};
      co_return IoResult{{}, b.size()};
    }
    auto r = http::parse_response_head(Bytes(resp_.data(), end));
    if (!r.ok()) co_return IoResult{make_error_code(errc::bad_request), 0};
    Headers out;
    for (auto& [k, v] : r.value.headers.items) {
      auto n = lower(k);
      if (hop_by_hop(n) && n != "proxy-authenticate") continue;
      out.push_back({std::move(n), v});
    }
    responded_ = true;
    if (auto ec = ex_->respond(r.value.status, std::move(out), false)) co_return IoResult{ec, 0};
    if (end < resp_.size()) {
      if (auto ec = co_await write_all(*ex_, asio::buffer(resp_.data() + end, resp_.size() - end)))
        co_return IoResult{ec, 0};
    }
    resp_.clear();
    co_return IoResult{{}, b.size()};
  }
  asio::awaitable<std::error_code> shutdown_write() override { return ex_->shutdown_write(); }
  void close() noexcept override { ex_->close(); }

 private:
  ExchangePtr ex_;
  std::string head_;
  std::size_t off_ = 0;
  std::vector<std::uint8_t> resp_;
  bool responded_ = false;
};

std::string response_head(int status, const Headers& extra) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " +
                  std::string(http::reason_phrase(status)) + "\r\n";
  for (const auto& x : extra) h += x.name + ": " + x.value + "\r\n";
  return h + "\r\n";
}

// Forwards one non-CONNECT request to the origin over HTTP/1.1 (Connection: close) and writes
// the origin's response back (head without hop-by-hop fields, body de-chunked), as GOST's http2
// handler does.
asio::awaitable<std::error_code> forward_request(Stream& client, Stream& up, std::string method,
                                                 std::string path, std::string authority,
                                                 http::Headers headers, ConnRecord& rec) {
  http::RequestHead h;
  h.method = method;
  h.target = path.empty() ? "/" : path;
  h.headers.add("Host", authority);
  for (auto& [k, v] : headers.items) {
    auto n = lower(k);
    if (hop_by_hop(n) || n == "content-length") continue;
    h.headers.add(k, v);
  }
  // HTTP/2 ends the body with END_STREAM; HTTP/1.1 needs a length: chunk it unless the method
  // normally has none.
  const bool no_body = method == "GET" || method == "HEAD" || method == "OPTIONS" ||
                       method == "DELETE" || method == "TRACE";
  const std::string* cl = headers.find("Content-Length");
  if (cl) {
    h.headers.add("Content-Length", *cl);
  } else if (!no_body) {
    h.headers.add("Transfer-Encoding", "chunked");
  }
  h.headers.add("Connection", "close");
  std::string head;
  http::serialize(h, head);
  if (auto ec = co_await write_all(up, asio::buffer(head))) co_return ec;
  const bool chunked = !cl && !no_body;
  std::vector<std::uint8_t> buf(16 * 1024);
  if (cl || chunked) {
    for (;;) {
      auto [ec, n] = co_await client.read_some(asio::buffer(buf));
      if (n) {
        rec.bytes_up += n;
        if (chunked) {
          char pre[24];
          int len = std::snprintf(pre, sizeof pre, "%zx\r\n", n);
          if (auto e = co_await write_all(up, asio::buffer(pre, static_cast<std::size_t>(len))))
            co_return e;
        }
        if (auto e = co_await write_all(up, asio::buffer(buf.data(), n))) co_return e;
        if (chunked)
          if (auto e = co_await write_all(up, asio::buffer(std::string_view("\r\n")))) co_return e;
      }
      if (ec == asio::error::eof) break;
      if (ec) co_return ec;
    }
    if (chunked)
      if (auto e = co_await write_all(up, asio::buffer(std::string_view("0\r\n\r\n")))) co_return e;
  }

  StreamReader rd(up, http::kMaxHeadSize);
  http::ResponseHead resp;
  for (;;) {
    std::size_t end = http::find_head_end(Bytes(rd.data(), rd.size()));
    if (end != http::kNotFound) {
      auto p = http::parse_response_head(Bytes(rd.data(), end));
      if (!p.ok()) co_return make_error_code(errc::bad_request);
      rd.consume(end);
      if (p.value.status >= 100 && p.value.status < 200) continue;  // interim: skip
      resp = std::move(p.value);
      break;
    }
    if (auto ec = co_await rd.fill()) co_return ec;
  }
  auto framing = http::response_framing(resp, method);
  if (!framing) co_return framing.error();
  Headers out;
  for (auto& [k, v] : resp.headers.items) {
    auto n = lower(k);
    if (hop_by_hop(n)) continue;
    out.push_back({std::move(n), v});
  }
  const std::string rhead = response_head(resp.status, out);
  if (auto ec = co_await write_all(client, asio::buffer(rhead))) co_return ec;
  const bool empty = framing->kind == http::BodyKind::none ||
                     (framing->kind == http::BodyKind::length && framing->length == 0);
  if (empty) co_return co_await client.shutdown_write();
  std::uint64_t left = framing->length;
  http::ChunkedScanner scanner;
  std::vector<std::uint8_t> pending = rd.take_rest();
  for (;;) {
    Bytes in(pending);
    std::size_t off = 0;
    while (off < in.size()) {
      Bytes part = in.subspan(off);
      Bytes data;
      std::size_t used = part.size();
      if (framing->kind == http::BodyKind::chunked) {
        used = scanner.feed(part, &data);
        if (scanner.failed()) co_return make_error_code(errc::bad_request);
      } else if (framing->kind == http::BodyKind::length) {
        used = static_cast<std::size_t>(std::min<std::uint64_t>(left, part.size()));
        data = part.first(used);
        left -= used;
      } else {
        data = part;
      }
      off += used;
      if (!data.empty()) {
        rec.bytes_down += data.size();
        if (auto e = co_await write_all(client, asio::buffer(data.data(), data.size())))
          co_return e;
      }
      if ((framing->kind == http::BodyKind::chunked && scanner.done()) ||
          (framing->kind == http::BodyKind::length && left == 0))
        co_return co_await client.shutdown_write();
      if (used == 0 && data.empty()) break;
    }
    pending.resize(16 * 1024);
    auto [ec, n] = co_await up.read_some(asio::buffer(pending));
    pending.resize(n);
    if (ec == asio::error::eof && framing->kind == http::BodyKind::until_close)
      co_return co_await client.shutdown_write();
    if (ec) co_return ec;
  }
}

class Http2Handler final : public Handler {
 public:
  explicit Http2Handler(HandlerConfig cfg) : cfg_(std::move(cfg)) {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.protocol = "http2";
    Headers none;  // named: GCC 12 destroys a braced temporary passed to a coroutine twice
    // The http2 listener presents each request as an HTTP/1.1 head followed by the body.
    StreamReader rd(*conn, http::kMaxHeadSize);
    std::size_t end = http::kNotFound;
    for (;;) {
      end = http::find_head_end(Bytes(rd.data(), rd.size()));
      if (end != http::kNotFound) break;
      if (auto ec = co_await rd.fill()) {
        rec.ec = ec;
        rec.error = "http2: no request";
        co_return;
      }
    }
    auto parsed = http::parse_request_head(Bytes(rd.data(), end));
    if (!parsed.ok()) {
      co_await reply(*conn, 400, none);
      rec.ec = make_error_code(errc::bad_request);
      co_return;
    }
    rd.consume(end);
    auto req = std::move(parsed.value);
    const bool connect = req.method == "CONNECT";
    std::string host;
    std::string path = "/";
    std::uint16_t def_port = 80;
    if (connect) {
      host = req.target;
    } else if (auto uri = http::parse_absolute_uri(req.target)) {
      host = uri->authority;
      path = uri->origin_form;
      if (uri->scheme == "https") def_port = 443;
    } else if (const auto* hh = req.headers.find("Host")) {
      host = *hh;
      path = req.target;
    }
    for (auto name : {"Gost-Target", "X-Gost-Target"}) {
      if (const auto* v = req.headers.find(name))
        if (auto d = decode_server_name(*v)) host = *d;
    }
    auto target = Address::parse(host, def_port);
    if (host.empty() || !target || target->host.empty()) {
      co_await reply(*conn, 400, none);
      rec.ec = make_error_code(errc::bad_request);
      co_return;
    }
    rec.target = target->to_string();

    if (cfg_.auther) {
      Credentials c;
      if (const auto* pa = req.headers.find("Proxy-Authorization"))
        if (auto pc = http::parse_basic_auth(*pa)) c = std::move(*pc);
      AuthOptions ao;
      ao.service = cfg_.service;
      ao.client = rec.client;
      auto id = co_await cfg_.auther->authenticate(c.username, c.password, ao);
      if (!id) {
        bool knocked = false;
        for (const auto& k : cfg_.knock)
          if (http::iequals(k, target->host)) knocked = true;
        if (cfg_.probe_code > 0 && !knocked) {
          co_await reply(*conn, cfg_.probe_code, none);
        } else {
          Headers challenge{{"proxy-authenticate", "Basic realm=\"" + cfg_.realm + "\""}};
          co_await reply(*conn, 407, challenge);
        }
        rec.ec = make_error_code(c.username.empty() && c.password.empty() ? errc::auth_required
                                                                          : errc::auth_failed);
        co_return;
      }
      rec.user = *id;
    }
    if (cfg_.bypass) {
      BypassOptions bo;
      bo.service = cfg_.service;
      bo.host = target->host;
      if (cfg_.bypass->contains("tcp", rec.target, bo)) {
        co_await reply(*conn, 403, none);
        rec.ec = make_error_code(errc::bypassed);
        co_return;
      }
    }
    SelectOptions sel;
    sel.network = "tcp";
    sel.addr = rec.target;
    sel.host = target->host;
    sel.client_id = rec.user;
    sel.client = rec.client;
    if (cfg_.hash_host) sel.hash_key = target->host;
    DialInfo info;
    auto up = co_await cfg_.router->dial("tcp", *target, sel, &info);
    rec.route = info.route;
    if (!up) {
      co_await reply(*conn, 503, none);
      rec.ec = up.error();
      co_return;
    }
    StreamPtr client = make_prefixed(std::move(conn), rd.take_rest());
    if (!connect) {
      // Named arguments: GCC 12 destroys a temporary passed to a coroutine twice.
      std::string m = req.method;
      std::string a = host;
      auto ec = co_await forward_request(*client, **up, m, path, a, req.headers, rec);
      if (ec) rec.ec = ec;
      (*up)->close();
      co_return;
    }
    const std::string ok_head = response_head(200, cfg_.extra);
    if (auto ec = co_await write_all(*client, asio::buffer(ok_head))) {
      rec.ec = ec;
      co_return;
    }
    BridgeOptions bo;
    bo.idle_timeout = cfg_.idle_timeout;
    rec.relay(std::move(client), std::move(*up), bo);
  }

 private:
  // An answer without a body: head, then the end of the stream.
  static asio::awaitable<void> reply(Stream& s, int status, Headers extra) {
    const std::string head = response_head(status, extra);
    auto ec = co_await write_all(s, asio::buffer(head));
    if (!ec) co_await s.shutdown_write();
  }

  HandlerConfig cfg_;
};

}  // namespace

StreamPtr make_request_stream(ExchangePtr ex) {
  return std::make_unique<RequestStream>(std::move(ex));
}

namespace {

// ---- dialer ---------------------------------------------------------------------------------

// What the http2 dialer gives the http2 connector: a handle on a client session.
class SessionHandle final : public Stream {
 public:
  explicit SessionHandle(SessionPtr s) : s_(std::move(s)) {}
  asio::any_io_executor get_executor() override { return s_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer) override {
    co_return IoResult{make_error_code(errc::unsupported), 0};
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer) override {
    co_return IoResult{make_error_code(errc::unsupported), 0};
  }
  asio::awaitable<std::error_code> shutdown_write() override {
    co_return make_error_code(errc::unsupported);
  }
  void close() noexcept override {}
  Address local_address() const override { return s_->local_address(); }
  Address remote_address() const override { return s_->remote_address(); }
  const SessionPtr& session() const noexcept { return s_; }
  bool take_fresh() noexcept {
    bool f = fresh_;
    fresh_ = false;
    return f;
  }

 private:
  SessionPtr s_;
  bool fresh_ = true;
};

class Http2Dialer final : public Dialer {
 public:
  Http2Dialer(std::shared_ptr<TlsClient> tls, Options opts) : tls_(std::move(tls)), opts_(opts) {}

  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) override {
    auto ex = co_await asio::this_coro::executor;
    const std::string key = addr.to_string();
    if (auto s = cache_.find(key, ex)) co_return StreamPtr(std::make_unique<SessionHandle>(s));
    auto conn = co_await dial_tcp(addr, opts.timeout);
    if (!conn) co_return conn.error();
    auto s = co_await start(std::move(*conn), addr, false);
    if (!s) co_return s.error();
    cache_.put(key, ex, *s);
    co_return StreamPtr(std::make_unique<SessionHandle>(*s));
  }

  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, Address addr) override {
    if (auto* h = dynamic_cast<SessionHandle*>(s.get()); h && h->take_fresh())
      co_return std::move(s);
    auto r = co_await start(std::move(s), addr, true);
    if (!r) co_return r.error();
    co_return StreamPtr(std::make_unique<SessionHandle>(*r));
  }

  bool multiplex() const noexcept override { return true; }

 private:
  asio::awaitable<Result<SessionPtr>> start(StreamPtr conn, Address addr, bool own) {
    if (tls_) {
      auto t =
          co_await with_timeout(tls_->handshake(std::move(conn), addr.host), kHandshakeTimeout);
      if (!t) co_return errc::timeout;
      if (!*t) co_return t->error();
      conn = std::move(**t);
    }
    Options o = opts_;
    o.close_when_idle = own;
    co_return Session::client(std::move(conn), o);
  }

  std::shared_ptr<TlsClient> tls_;
  Options opts_;
  SessionCache cache_;
};

// ---- connector ------------------------------------------------------------------------------

class Http2Connector final : public Connector {
 public:
  Http2Connector(std::optional<Credentials> auth, Headers extra, std::chrono::milliseconds timeout)
      : auth_(std::move(auth)), extra_(std::move(extra)), timeout_(timeout) {}

  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                             Address target) override {
    if (network != "tcp") co_return errc::unsupported;
    auto* h = dynamic_cast<SessionHandle*>(conn.get());
    if (!h) co_return errc::unsupported;  // "http2: wrong connection type"
    SessionPtr s = h->session();
    Headers hd{{":method", "CONNECT"}, {":authority", target.to_string()}};
    if (auth_) hd.push_back({"proxy-authorization", http::basic_auth_value(*auth_)});
    for (const auto& x : extra_) hd.push_back(x);
    auto r = co_await with_timeout(s->request(std::move(hd), false), timeout_);
    if (!r) co_return errc::timeout;
    if (!*r) co_return r->error();
    auto ex = std::move(**r);
    const int status = ex->status();
    if (status != 200) {
      ex->close();
      co_return status == 407 ? errc::auth_failed : errc::proxy_error;
    }
    co_return StreamPtr(std::move(ex));
  }

 private:
  std::optional<Credentials> auth_;
  Headers extra_;
  std::chrono::milliseconds timeout_;
};

Headers extra_headers(const Metadata& md, std::initializer_list<std::string_view> keys) {
  Headers h;
  for (auto key : keys) {
    if (!md.contains(key)) continue;
    for (auto& [k, v] : md.get_string_map(key)) {
      auto name = lower(k);
      if (name.empty() || name[0] == ':' || name == "connection" || name == "host" ||
          name == "transfer-encoding" || name == "upgrade" || name == "keep-alive" ||
          name == "proxy-connection")
        continue;
      h.push_back({std::move(name), v});
    }
    break;
  }
  return h;
}

}  // namespace

Result<ListenerPtr, ConfigError> make_http2_listener(const ListenerArgs& args) {
  return make_listener(args, ListenKind::proxy, true);
}

Result<HandlerPtr, ConfigError> make_http2_handler(const HandlerArgs& args) {
  if (!args.router) return config_error("http2 handler: no router");
  HandlerConfig c;
  const auto& md = args.metadata;
  c.service = args.service;
  c.router = args.router;
  c.auther = args.auther;
  c.bypass = args.bypass;
  c.extra = extra_headers(md, {"http.header", "header"});
  c.realm = md.get_string("authBasicRealm", "gost");
  if (c.realm.empty()) c.realm = "gost";
  c.hash_host = md.get_string("hash") == "host";
  auto pr = md.get_string("probeResist", md.get_string("probe_resist"));
  if (auto colon = pr.find(':'); colon != std::string::npos) {
    auto type = pr.substr(0, colon);
    auto value = pr.substr(colon + 1);
    if (type == "code") {
      int code = 0;
      for (char ch : value) code = (ch >= '0' && ch <= '9') ? code * 10 + (ch - '0') : -1000000;
      c.probe_code = (code >= 100 && code <= 999) ? code : 503;
    } else {
      // web/host/file probe resistance are not implemented: answer 503 like GOST's default.
      c.probe_code = 503;
    }
  }
  for (auto& k : md.get_strings("knock")) c.knock.push_back(k);
  c.idle_timeout = md.get_duration("readTimeout", md.get_duration("read.timeout"));
  return HandlerPtr(std::make_shared<Http2Handler>(std::move(c)));
}

Result<DialerPtr, ConfigError> make_http2_dialer(const DialerArgs& args) {
  auto t = make_tls_client(args.metadata);
  if (!t) return t.error();
  auto o = session_options(args.metadata);
  client_keepalive(args.metadata, o, false);
  return DialerPtr(std::make_shared<Http2Dialer>(std::move(*t), o));
}

Result<ConnectorPtr, ConfigError> make_http2_connector(const ConnectorArgs& args) {
  const auto& md = args.metadata;
  auto timeout = md.get_duration("timeout", md.get_duration("connectTimeout"));
  return ConnectorPtr(
      std::make_shared<Http2Connector>(args.auth, extra_headers(md, {"header"}), timeout));
}

}  // namespace gost::http2
