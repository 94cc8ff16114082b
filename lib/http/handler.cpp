// The "http" handler: CONNECT tunnels and absolute-URI forwarding with keep-alive, Basic proxy
// authentication, service bypass. Behaviour follows GOST v3 (go-gost/x handler/http):
//   - 400 for a request that is neither CONNECT host:port nor an absolute http:// URI (GOST
//     sends 400 for PRI and non-http schemes too; unlike GOST, an origin-form request is not
//     forwarded to its Host), 407 + Proxy-Authenticate: Basic realm="gost" when an auther is set
//     and the credentials are missing or wrong, 403 when the service bypass contains the target,
//     503 when the target cannot be reached (GOST sends 503 for every dial error, timeouts
//     included), "200 Connection established" with Proxy-Agent for CONNECT.
//   - Plain forwarding: 502 for a broken origin response, 504 when idleTimeout passes before
//     the origin's response head (GOST sends 503 for both).
//   - Every error reply ends the connection ("Connection: close").
// Plain forwarding keeps one upstream connection per client connection and reuses it while
// the target stays the same (GOST's http.Transport dials per request unless `keepalive`).
#include <algorithm>
#include <array>
#include <optional>
#include <asio/error.hpp>

#include "gost/core/bridge.hpp"
#include "gost/core/timeout.hpp"
#include "gost/http/http.hpp"
#include "core/buffer_pool.hpp"
#include "http/codec.hpp"
#include "socks/udptun.hpp"

namespace gost::http {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr int kMaxInterim = 16;           // 1xx responses before the final one
constexpr milliseconds kLingerTime = 2s;  // draining a client before closing
constexpr milliseconds kLingerQuiet = 250ms;
constexpr std::size_t kLingerBytes = 256 * 1024;

struct Config {
  std::string service;
  std::string realm;
  std::string agent;
  std::vector<std::pair<std::string, std::string>> headers;  // metadata `header`
  milliseconds read_timeout{};
  milliseconds idle_timeout{};
  bool hash_host = false;
  bool udp = false;
  std::size_t udp_buffer = 65535;
  RouterPtr router;
  AutherPtr auther;
  BypassPtr bypass;
  LoggerPtr logger;
};

// Hop-by-hop fields (RFC 9110 §7.6.1) and the proxy's own.
constexpr std::string_view kHopByHop[] = {
    "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Authenticate",
    "TE",         "Trailer",          "Upgrade"};

// Fields that describe the bytes we pass on verbatim: never dropped, even when a peer lists them
// in Connection.
bool is_framing_field(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
         iequals(name, "Host");
}

void strip_hop_by_hop(Headers& h, bool keep_upgrade) {
  std::vector<std::string> named;
  for (auto& [k, v] : h.items) {
    if (!iequals(k, "Connection")) continue;
    for_each_token(v, [&](std::string_view t) { named.emplace_back(t); });
  }
  for (auto& n : named) {
    if (is_framing_field(n) || (keep_upgrade && iequals(n, "Upgrade"))) continue;
    h.erase(n);
  }
  for (auto name : kHopByHop) {
    if (keep_upgrade && iequals(name, "Upgrade")) continue;
    h.erase(name);
  }
}

// Replaces the first Host field in place (drops any others), or puts one first.
void set_host(Headers& h, const std::string& host) {
  bool seen = false;
  std::erase_if(h.items, [&](auto& kv) {
    if (!iequals(kv.first, "Host")) return false;
    if (seen) return true;
    kv.second = host;
    seen = true;
    return false;
  });
  if (!seen) h.items.insert(h.items.begin(), {"Host", host});
}

std::size_t count_fields(const Headers& h, std::string_view name) {
  return static_cast<std::size_t>(std::count_if(h.items.begin(), h.items.end(),
                                                [&](auto& kv) { return iequals(kv.first, name); }));
}

bool client_wants_close(const RequestHead& r) {
  const auto& h = r.headers;
  if (h.has_token("Connection", "close") || h.has_token("Proxy-Connection", "close")) return true;
  if (r.version_minor == 0) {
    return !h.has_token("Connection", "keep-alive") &&
           !h.has_token("Proxy-Connection", "keep-alive");
  }
  return false;
}

bool is_conn_reset(const std::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

// Reads one message head with `parse`, scanning only new bytes for its end. With `check`, a
// request-line that cannot be valid fails at once instead of when the head is complete.
template <class T>
asio::awaitable<Result<T>> read_head(StreamReader& rd, Parsed<T> (*parse)(Bytes),
                                     RequestLineChecker* check) {
  std::size_t scanned = 0;
  for (;;) {
    const Bytes b(rd.data(), rd.size());
    if (check && !check->feed(b.subspan(scanned))) co_return make_error_code(errc::bad_request);
    if (find_head_end(b, scanned) != kNotFound || b.size() >= kMaxHeadSize) {
      auto p = parse(b);
      if (p.ok()) {
        rd.consume(p.consumed);
        co_return std::move(p.value);
      }
      if (p.failed()) co_return p.ec;
    }
    scanned = b.size();
    if (auto ec = co_await rd.fill()) {
      // A head cut short by the end of the stream is malformed, not a clean close.
      if (ec == asio::error::eof && rd.size() > 0) co_return make_error_code(errc::bad_request);
      co_return ec;
    }
  }
}

// Reads and drops what a client still sends, until it has been quiet for a moment, has closed,
// or sent too much.
asio::awaitable<void> drain(Stream& s) {
  std::array<unsigned char, 4096> buf;
  std::size_t total = 0;
  while (total < kLingerBytes) {
    auto r = co_await with_timeout(s.read_some(asio::buffer(buf)), kLingerQuiet);
    if (!r || r->ec || r->bytes == 0) co_return;
    total += r->bytes;
  }
}

// Where a body copy failed: reading its source or writing its destination.
struct CopyResult {
  std::error_code ec;
  bool read_side = false;
};

// One client connection. Between keep-alive requests, with nothing of the next one buffered, it
// is parked (ConnRecord::park()): no coroutine frame and no buffer is held while the client is
// quiet, only this object and the connections.
class Session final : public ParkedConn {
 public:
  Session(const Config& cfg, StreamPtr conn, ConnRecord& rec)
      : cfg_(cfg), conn_(std::move(conn)), rd_(*conn_, kMaxHeadSize), rec_(rec) {}

  // Serves requests until the connection is done (false), or until the next request has to be
  // waited for (true: park this session). readable: the client is known to be readable (resumed
  // after parking), so the next request is read at once.
  asio::awaitable<bool> run(bool first, bool readable) {
    bool graceful = true;
    for (;; first = false, readable = false) {
      if (!first && !readable && rd_.size() == 0) {
        release_buffers();
        co_return true;
      }
      auto hr = co_await read_request(first);
      if (!hr) {
        graceful = co_await on_bad_head(hr.error(), first);
        break;
      }
      const Next next = co_await serve(std::move(*hr));
      if (next == Next::done) co_return false;  // tunnelled: the bridge closed both sides
      if (next == Next::close) break;
    }
    close_upstream();
    co_await finish(graceful);
    co_return false;
  }

  // ParkedConn
  Stream& client() noexcept override { return *conn_; }
  // Between requests: idleTimeout, else readTimeout. Running out of time, or the client closing,
  // ends the connection normally.
  std::chrono::milliseconds idle_timeout() const noexcept override {
    return cfg_.idle_timeout.count() > 0 ? cfg_.idle_timeout : cfg_.read_timeout;
  }
  asio::awaitable<bool> resume(ConnRecord&) override { return run(false, true); }

 private:
  enum class Next { keep, close, done };

  // ---- reading requests

  // After the first request, nothing is buffered only when the client has just been found
  // readable (run()): the read that follows takes a buffer.
  asio::awaitable<Result<RequestHead>> read_request(bool first) {
    if (!first && rd_.size() == 0) {
      const std::error_code ec = co_await rd_.fill();
      if (ec) co_return is_conn_reset(ec) ? make_error_code(errc::closed) : ec;
    }
    RequestLineChecker check;
    auto r = co_await close_after(*conn_, cfg_.read_timeout,
                                  read_head<RequestHead>(rd_, parse_request_head, &check));
    if (!r) co_return make_error_code(errc::timeout);
    co_return std::move(*r);
  }

  // Records why no request could be read and answers when there is something to say.
  // Returns whether the connection may be closed gracefully.
  asio::awaitable<bool> on_bad_head(std::error_code ec, bool first) {
    if (ec == errc::closed) co_return true;  // keep-alive connection ended between requests
    if (ec == asio::error::eof && !first) co_return true;
    rec_.ec = ec;
    if (ec == errc::message_too_large) {
      co_await reply(431);
      co_return true;
    }
    if (ec == errc::bad_request) {
      co_await reply(400);
      co_return true;
    }
    co_return false;  // timeout, reset, eof: nobody to talk to
  }

  // ---- one request

  asio::awaitable<Next> serve(RequestHead req) {
    if (cfg_.logger && cfg_.logger->enabled(LogLevel::debug)) {
      cfg_.logger->debug("http request", {{"service", cfg_.service},
                                          {"client", rec_.client.to_string()},
                                          {"method", req.method},
                                          {"target", req.target}});
    }
    const bool connect = req.method == "CONNECT";
    std::optional<Address> target;
    std::optional<AbsoluteUri> uri;
    if (connect) {
      target = parse_authority_form(req.target);
    } else if (req.method != "PRI") {
      uri = parse_absolute_uri(req.target);
      if (uri && uri->scheme == "http") target = uri->address;
    }
    // UDP relays name their targets per datagram: the request's own target may be anything
    // (GOST's connector asks for 0.0.0.0:0 for an association).
    const auto* proto = req.headers.find("X-Gost-Protocol");
    const bool udp = proto && iequals(*proto, "udp");
    if ((!target && !(udp && connect)) || count_fields(req.headers, "Host") > 1)
      co_return co_await fail(400, errc::bad_request);
    if (target) rec_.target = target->to_string();

    if (!co_await authenticate(req)) {
      Headers extra;
      extra.add("Proxy-Authenticate", "Basic realm=\"" + cfg_.realm + "\"");
      if (req.headers.has_token("Proxy-Connection", "keep-alive"))
        extra.add("Proxy-Connection", "close");
      co_await reply(407, std::move(extra));
      rec_.ec = make_error_code(req.headers.contains("Proxy-Authorization") ? errc::auth_failed
                                                                            : errc::auth_required);
      co_return Next::close;
    }

    if (cfg_.bypass && target) {
      BypassOptions bo;
      bo.service = cfg_.service;
      bo.host = target->host;
      if (uri) bo.path = uri->origin_form;
      if (cfg_.bypass->contains(udp ? "udp" : "tcp", rec_.target, bo)) {
        co_return co_await fail(403, errc::bypassed);
      }
    }
    if (udp) {
      rec_.network = "udp";
      if (!cfg_.udp) co_return co_await fail(403, errc::forbidden);  // as GOST answers
      co_return co_await udp_relay();
    }
    if (connect) co_return co_await tunnel(std::move(*target));
    co_return co_await forward(std::move(req), std::move(*uri));
  }

  // GOST authenticates the first request of a connection; later ones are checked again only
  // when they carry different credentials.
  asio::awaitable<bool> authenticate(const RequestHead& req) {
    if (!cfg_.auther) co_return true;
    const std::string* pa = req.headers.find("Proxy-Authorization");
    if (accepted_ && (!pa || *pa == *accepted_)) co_return true;
    Credentials c;
    if (pa) {
      if (auto parsed = parse_basic_auth(*pa)) c = std::move(*parsed);
    }
    AuthOptions ao;
    ao.service = cfg_.service;
    ao.client = rec_.client;
    auto id = co_await cfg_.auther->authenticate(c.username, c.password, ao);
    if (!id) co_return false;
    rec_.user = *id;
    accepted_ = pa ? *pa : std::string();
    co_return true;
  }

  asio::awaitable<Result<StreamPtr>> dial(const Address& target) {
    SelectOptions sel;
    sel.network = "tcp";
    sel.addr = target.to_string();
    sel.host = target.host;
    sel.client_id = rec_.user;
    sel.client = rec_.client;
    if (cfg_.hash_host) sel.hash_key = target.host;
    DialInfo info;
    auto r = co_await cfg_.router->dial("tcp", target, sel, &info);
    rec_.route = info.route;
    co_return r;
  }

  // ---- CONNECT

  asio::awaitable<Next> tunnel(Address target) {
    close_upstream();
    auto out = co_await dial(target);
    if (!out) co_return co_await fail(503, out.error());
    if (auto ec = co_await reply(200)) {
      rec_.ec = ec;
      (*out)->close();
      co_return Next::close;
    }
    // Whatever the client sent after the CONNECT head (a TLS ClientHello...) goes first.
    BridgeOptions bo;
    bo.idle_timeout = cfg_.idle_timeout;  // GOST's idleTimeout on tunnels
    // The service runs the relay once this handler has returned (no frame kept while idle).
    rec_.relay(make_prefixed(std::move(conn_), rd_.take_rest()), std::move(*out), bo);
    co_return Next::done;
  }

  // ---- UDP over HTTP (X-Gost-Protocol: udp)

  // GOST answers 200 at once, then relays UDP-tun frames (socks/udptun.hpp) between the stream
  // and a UDP association through the router; the request's own target is not used.
  asio::awaitable<Next> udp_relay() {
    close_upstream();
    rec_.target.clear();
    if (auto ec = co_await reply(200)) {
      rec_.ec = ec;
      co_return Next::close;
    }
    SelectOptions sel;
    sel.network = "udp";
    sel.client_id = rec_.user;
    sel.client = rec_.client;
    DialInfo info;
    auto up = co_await cfg_.router->associate(sel, &info);
    rec_.route = info.route;
    if (!up) {
      rec_.ec = up.error();
      co_return Next::close;
    }
    socks::UdpTunPacketConn client(make_prefixed(std::move(conn_), rd_.take_rest()));
    socks::UdpRelayOptions o;
    o.service = cfg_.service;
    o.bypass = cfg_.bypass;
    o.buffer = cfg_.udp_buffer;
    auto res = co_await socks::relay_packets(client, **up, std::move(o));
    rec_.bytes_up += res.bytes_up;
    rec_.bytes_down += res.bytes_down;
    rec_.target = res.first_target;
    if (res.ec) rec_.ec = res.ec;
    co_return Next::done;
  }

  // ---- absolute-URI forwarding

  asio::awaitable<Next> forward(RequestHead req, AbsoluteUri uri) {
    auto framing = request_framing(req);
    if (!framing) co_return co_await fail(400, framing.error());

    const bool client_close = client_wants_close(req);
    const bool upgrade =
        req.headers.has_token("Connection", "upgrade") && req.headers.contains("Upgrade");
    // We answer 100-continue ourselves (and drop Expect) rather than wait for the origin's,
    // because the body is copied before the response is read.
    const bool expect = req.version_minor == 1 && framing->kind != BodyKind::none &&
                        req.headers.has_token("Expect", "100-continue");

    RequestHead out;
    out.method = req.method;
    out.target = uri.origin_form;
    out.version_minor = 1;
    out.headers = std::move(req.headers);
    strip_hop_by_hop(out.headers, upgrade);
    out.headers.erase("Gost-Target");
    out.headers.erase("X-Gost-Target");
    if (expect) out.headers.erase("Expect");
    if (upgrade) out.headers.add("Connection", "Upgrade");
    set_host(out.headers, uri.authority);
    std::string head;
    serialize(out, head);

    // Send the request; a reused upstream connection that turns out dead is replaced once when
    // nothing of the client's body has been consumed yet.
    Result<ResponseHead> rr = make_error_code(errc::proxy_error);
    bool continued = false;
    for (int attempt = 0;; ++attempt) {
      bool reused = true;
      if (!up_ || up_key_ != rec_.target) {
        close_upstream();
        auto dialed = co_await dial(uri.address);
        if (!dialed) co_return co_await fail(503, dialed.error());
        up_ = std::move(*dialed);
        urd_ = std::make_unique<StreamReader>(*up_, kMaxHeadSize);
        up_key_ = rec_.target;
        reused = false;
      }
      const bool may_retry = reused && attempt == 0 && framing->kind == BodyKind::none;
      if (expect && !continued) {
        continued = true;
        if (auto ec = co_await write_all(
                *conn_, asio::buffer(std::string_view("HTTP/1.1 100 Continue\r\n\r\n")))) {
          rec_.ec = ec;
          co_return Next::close;
        }
      }
      if (auto ec = co_await write_all(*up_, asio::buffer(head))) {
        close_upstream();
        if (may_retry) continue;
        co_return co_await fail(502, ec);
      }
      rec_.bytes_up += head.size();
      auto body = co_await copy_body(rd_, *conn_, *up_, *framing, false, rec_.bytes_up);
      if (body.ec) {
        close_upstream();
        if (body.read_side) {  // the client went away or sent a broken body
          rec_.ec = body.ec;
          co_return Next::close;
        }
        co_return co_await fail(502, body.ec);
      }
      rr = co_await read_response(req.version_minor);
      if (!rr && may_retry && is_conn_reset(rr.error())) {
        close_upstream();
        continue;
      }
      break;
    }
    if (!rr) {
      close_upstream();
      if (rr.error() == errc::closed) co_return Next::close;  // the client is gone
      co_return co_await fail(rr.error() == errc::timeout ? 504 : 502, rr.error());
    }
    ResponseHead resp = std::move(*rr);

    if (resp.status == 101) {
      if (!upgrade) co_return co_await fail(502, errc::proxy_error);
      co_return co_await switch_protocols(std::move(resp));
    }
    auto rf = response_framing(resp, out.method);
    if (!rf) {
      close_upstream();
      co_return co_await fail(502, rf.error());
    }

    // An HTTP/1.0 client cannot read chunked framing: it gets the de-chunked body and a close.
    const bool client10 = req.version_minor == 0;
    const bool dechunk = client10 && rf->kind == BodyKind::chunked;
    const bool origin_close =
        rf->kind == BodyKind::until_close || resp.headers.has_token("Connection", "close") ||
        (resp.version_minor == 0 && !resp.headers.has_token("Connection", "keep-alive"));
    const bool keep = !client_close && rf->kind != BodyKind::until_close && !dechunk;

    strip_hop_by_hop(resp.headers, false);
    if (rf->kind == BodyKind::chunked) {
      resp.headers.erase("Content-Length");  // RFC 9112 §6.3: Transfer-Encoding wins
      if (dechunk) resp.headers.erase("Transfer-Encoding");
    }
    if (!keep)
      resp.headers.add("Connection", "close");
    else if (client10)
      resp.headers.add("Connection", "keep-alive");
    resp.version_minor = client10 ? 0 : 1;
    std::string rh;
    serialize(resp, rh);
    if (auto ec = co_await write_all(*conn_, asio::buffer(rh))) {
      close_upstream();
      rec_.ec = ec;
      co_return Next::close;
    }
    rec_.bytes_down += rh.size();
    auto body = co_await copy_body(*urd_, *up_, *conn_, *rf, dechunk, rec_.bytes_down);
    if (body.ec) {
      // Mid-body there is no way to tell the client but to cut its connection.
      close_upstream();
      rec_.ec = body.ec;
      co_return Next::close;
    }
    // Leftover bytes after a complete response mean the origin is out of step: never reuse it.
    if (origin_close || urd_->size() > 0) close_upstream();
    co_return keep ? Next::keep : Next::close;
  }

  // Reads the final response head, passing 1xx interim responses on (to HTTP/1.1 clients).
  asio::awaitable<Result<ResponseHead>> read_response(int client_minor) {
    for (int i = 0; i < kMaxInterim; ++i) {
      auto r = co_await with_timeout(read_head<ResponseHead>(*urd_, parse_response_head, nullptr),
                                     cfg_.idle_timeout);
      if (!r) co_return make_error_code(errc::timeout);
      if (!*r) co_return r->error();
      ResponseHead& h = **r;
      if (h.status >= 200 || h.status == 101) co_return std::move(h);
      if (client_minor == 0 || h.status == 100) continue;  // 100 was sent already or is ours
      std::string interim;
      serialize(h, interim);
      if (auto ec = co_await write_all(*conn_, asio::buffer(interim))) {
        rec_.ec = ec;
        co_return make_error_code(errc::closed);
      }
      rec_.bytes_down += interim.size();
    }
    co_return make_error_code(errc::proxy_error);
  }

  // 101: the connection now speaks another protocol (WebSocket...): bridge the two sides.
  asio::awaitable<Next> switch_protocols(ResponseHead resp) {
    std::string h;
    serialize(resp, h);
    if (auto ec = co_await write_all(*conn_, asio::buffer(h))) {
      rec_.ec = ec;
      close_upstream();
      co_return Next::close;
    }
    rec_.bytes_down += h.size();
    StreamPtr client = make_prefixed(std::move(conn_), rd_.take_rest());
    auto rest = urd_->take_rest();
    urd_.reset();
    StreamPtr origin = make_prefixed(std::move(up_), std::move(rest));
    BridgeOptions bo;
    bo.idle_timeout = cfg_.idle_timeout;
    auto res = co_await bridge(*client, *origin, bo);
    rec_.bytes_up += res.a_to_b;
    rec_.bytes_down += res.b_to_a;
    if (res.ec) rec_.ec = res.ec;
    co_return Next::done;
  }

  // ---- bodies

  asio::awaitable<CopyResult> copy_body(StreamReader& rd, Stream& src, Stream& dst, BodyFraming f,
                                        bool dechunk, std::uint64_t& count) {
    switch (f.kind) {
      case BodyKind::none:
        co_return CopyResult{};
      case BodyKind::length:
        co_return co_await copy_length(rd, src, dst, f.length, count);
      case BodyKind::chunked:
        co_return co_await copy_chunked(rd, dst, dechunk, count);
      case BodyKind::until_close:
        co_return co_await copy_until_close(rd, src, dst, count);
    }
    co_return CopyResult{};
  }

  // Buffered bytes first, then straight from the stream, never past the body's end.
  asio::awaitable<CopyResult> copy_length(StreamReader& rd, Stream& src, Stream& dst,
                                          std::uint64_t n, std::uint64_t& count) {
    while (n > 0) {
      std::size_t take;
      const unsigned char* p;
      if (rd.size() > 0) {
        take = static_cast<std::size_t>(std::min<std::uint64_t>(rd.size(), n));
        p = rd.data();
        if (auto ec = co_await write_all(dst, asio::buffer(p, take)))
          co_return CopyResult{ec, false};
        rd.consume(take);
      } else {
        const asio::mutable_buffer buf = buffer();
        auto r = co_await src.read_some(asio::buffer(
            buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n))));
        if (r.ec) co_return CopyResult{r.ec, true};
        if (r.bytes == 0) co_return CopyResult{asio::error::eof, true};
        take = r.bytes;
        if (auto ec = co_await write_all(dst, asio::buffer(buf.data(), take)))
          co_return CopyResult{ec, false};
      }
      n -= take;
      count += take;
    }
    co_return CopyResult{};
  }

  asio::awaitable<CopyResult> copy_chunked(StreamReader& rd, Stream& dst, bool dechunk,
                                           std::uint64_t& count) {
    ChunkedScanner sc;
    while (!sc.done()) {
      if (rd.size() == 0) {
        if (auto ec = co_await rd.fill()) co_return CopyResult{ec, true};
      }
      const Bytes in(rd.data(), rd.size());
      Bytes data;
      const std::size_t k = sc.feed(in, dechunk ? &data : nullptr);
      if (sc.failed()) co_return CopyResult{make_error_code(errc::bad_request), true};
      const Bytes out = dechunk ? data : in.first(k);
      if (!out.empty()) {
        if (auto ec = co_await write_all(dst, asio::buffer(out.data(), out.size()))) {
          co_return CopyResult{ec, false};
        }
        count += out.size();
      }
      rd.consume(k);
    }
    co_return CopyResult{};
  }

  asio::awaitable<CopyResult> copy_until_close(StreamReader& rd, Stream& src, Stream& dst,
                                               std::uint64_t& count) {
    if (rd.size() > 0) {
      const std::size_t n = rd.size();
      if (auto ec = co_await write_all(dst, asio::buffer(rd.data(), n)))
        co_return CopyResult{ec, false};
      rd.consume(n);
      count += n;
    }
    const asio::mutable_buffer buf = buffer();
    for (;;) {
      auto r = co_await src.read_some(buf);
      if (r.ec == asio::error::eof) co_return CopyResult{};
      if (r.ec) co_return CopyResult{r.ec, true};
      if (r.bytes == 0) co_return CopyResult{};
      if (auto ec = co_await write_all(dst, asio::buffer(buf.data(), r.bytes)))
        co_return CopyResult{ec, false};
      count += r.bytes;
    }
  }

  // The body copy buffer: from the thread's pool while a body is being copied, given back
  // between requests (release_buffers()).
  asio::mutable_buffer buffer() {
    if (!buf_) buf_.emplace();
    return asio::buffer(buf_->data(), buf_->size());
  }
  // Between requests a keep-alive connection holds no buffer: the copy buffer goes back to the
  // pool, and the readers of both sides give back their storage when nothing is left in them.
  void release_buffers() noexcept {
    buf_.reset();
    rd_.release_if_empty();
    if (urd_) urd_->release_if_empty();
  }

  // ---- replies and the end

  // The proxy's own response (no body): metadata `header` fields, Proxy-Agent, then `extra`.
  // Anything but 200 also says Connection: close, and the connection ends after it.
  // (No defaulted class-type parameter: GCC 12 destroys such arguments of coroutines twice.)
  asio::awaitable<std::error_code> reply(int status) {
    Headers none;
    co_return co_await reply(status, std::move(none));
  }
  asio::awaitable<std::error_code> reply(int status, Headers extra) {
    if (!conn_) co_return make_error_code(errc::closed);
    ResponseHead r;
    r.status = status;
    r.reason = status == 200 ? "Connection established" : std::string(reason_phrase(status));
    for (auto& [k, v] : cfg_.headers) r.headers.add(k, v);
    if (!r.headers.contains("Proxy-Agent")) r.headers.add("Proxy-Agent", cfg_.agent);
    for (auto& kv : extra.items) r.headers.items.push_back(std::move(kv));
    if (status != 200) {
      r.headers.add("Content-Length", "0");
      r.headers.add("Connection", "close");
    }
    std::string out;
    serialize(r, out);
    auto ec = co_await write_all(*conn_, asio::buffer(out));
    if (!ec) rec_.bytes_down += out.size();
    co_return ec;
  }

  asio::awaitable<Next> fail(int status, std::error_code ec) {
    rec_.ec = ec;
    co_await reply(status);
    co_return Next::close;
  }

  void close_upstream() {
    urd_.reset();
    if (up_) up_->close();
    up_.reset();
    up_key_.clear();
  }

  // Half-closes and reads what the client still sends (bounded) before closing, so that a
  // client that pipelined more requests gets our last response instead of a reset.
  asio::awaitable<void> finish(bool graceful) {
    if (!conn_) co_return;
    if (graceful) {
      co_await conn_->shutdown_write();
      co_await with_timeout(drain(*conn_), kLingerTime);
    }
    conn_->close();
  }

  const Config& cfg_;
  StreamPtr conn_;
  StreamReader rd_;
  ConnRecord& rec_;
  StreamPtr up_;  // upstream of plain forwarding, kept across requests
  std::unique_ptr<StreamReader> urd_;
  std::string up_key_;                   // the target up_ reaches
  std::optional<std::string> accepted_;  // the Proxy-Authorization value that was accepted
  std::optional<core::PooledBuffer> buf_;  // body copies; none held between requests
};

class HttpHandler final : public Handler {
 public:
  explicit HttpHandler(Config cfg) : cfg_(std::move(cfg)) {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    if (rec.protocol.empty()) rec.protocol = "http";
    auto s = std::make_unique<Session>(cfg_, std::move(conn), rec);
    const bool park = co_await s->run(true, false);
    if (park) rec.park(std::move(s));
  }

 private:
  Config cfg_;
};

std::string first_string(const Metadata& md, std::initializer_list<std::string_view> keys,
                         std::string def) {
  for (auto k : keys) {
    if (auto v = md.get(k); v && !v->empty()) return *v;
  }
  return def;
}

}  // namespace

Result<HandlerPtr, ConfigError> make_http_handler(const HandlerArgs& args) {
  if (!args.router) return config_error("http handler: no router");
  const Metadata& md = args.metadata;
  Config c;
  c.service = args.service;
  c.realm = first_string(md, {"authBasicRealm"}, "gost");
  c.agent = first_string(md, {"http.proxyAgent", "proxyAgent"}, "gost/3.0");
  auto hdrs = md.get_string_map(md.contains("http.header") ? "http.header" : "header");
  for (auto& [k, v] : hdrs) {
    if (k.empty() || k.find_first_of(":\r\n ") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos) {
      return config_error("http handler: bad header \"" + k + "\" in metadata header");
    }
    c.headers.emplace_back(k, v);
  }
  c.read_timeout = md.get_duration("readTimeout", 15s);
  if (c.read_timeout.count() <= 0) c.read_timeout = 15s;
  c.idle_timeout = md.get_duration("idleTimeout", 0ms);
  if (c.idle_timeout.count() < 0) c.idle_timeout = 0ms;
  c.hash_host = md.get_string("hash") == "host";
  c.udp = md.get_bool("udp", false);
  if (auto bs = md.get_int("udp.bufferSize", md.get_int("udpBufferSize", 0)); bs > 0)
    c.udp_buffer = static_cast<std::size_t>(std::clamp<std::int64_t>(bs, 512, 65535));
  c.router = args.router;
  c.auther = args.auther;
  c.bypass = args.bypass;
  c.logger = args.logger;
  return HandlerPtr(std::make_shared<HttpHandler>(std::move(c)));
}

}  // namespace gost::http
