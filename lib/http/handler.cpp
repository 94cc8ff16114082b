// The "http" handler: CONNECT tunnels and absolute-URI forwarding with keep-alive.
#include "gost/core/bridge.hpp"
#include "gost/core/timeout.hpp"
#include "gost/http/http.hpp"
#include "http/codec.hpp"

namespace gost::http {
namespace {

using std::chrono::milliseconds;

const char* reason_of(int code) {
  switch (code) {
    case 200: return "Connection established";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 407: return "Proxy Authentication Required";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own.
constexpr std::string_view kHopByHop[] = {"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization",
                                          "Proxy-Authenticate", "TE", "Trailer", "Upgrade"};

void strip_hop_by_hop(Headers& h, bool keep_upgrade) {
  // Headers named by Connection go too.
  std::vector<std::string> named;
  if (auto* c = h.find("Connection")) {
    std::string_view s = *c;
    while (!s.empty()) {
      auto comma = s.find(',');
      auto part = s.substr(0, comma);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (!part.empty()) named.emplace_back(part);
      if (comma == std::string_view::npos) break;
      s.remove_prefix(comma + 1);
    }
  }
  for (auto& n : named) {
    if (keep_upgrade && (n == "upgrade" || n == "Upgrade")) continue;
    h.erase(n);
  }
  for (auto name : kHopByHop) {
    if (keep_upgrade && (name == "Upgrade" || name == "Connection")) continue;
    h.erase(name);
  }
}

asio::awaitable<std::error_code> copy_length(StreamReader& src, Stream& dst, std::uint64_t n, std::uint64_t& count) {
  while (n > 0) {
    if (src.size() == 0) {
      if (auto ec = co_await src.fill()) co_return ec;
    }
    auto take = static_cast<std::size_t>(std::min<std::uint64_t>(src.size(), n));
    if (auto ec = co_await write_all(dst, asio::buffer(src.data(), take))) co_return ec;
    src.consume(take);
    n -= take;
    count += take;
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> copy_chunked(StreamReader& src, Stream& dst, std::uint64_t& count) {
  ChunkedScanner sc;
  while (!sc.done()) {
    if (src.size() == 0) {
      if (auto ec = co_await src.fill()) co_return ec;
    }
    auto k = sc.feed(Bytes(src.data(), src.size()));
    if (sc.failed()) co_return make_error_code(errc::bad_request);
    if (auto ec = co_await write_all(dst, asio::buffer(src.data(), k))) co_return ec;
    src.consume(k);
    count += k;
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> copy_until_close(StreamReader& src, Stream& dst, std::uint64_t& count) {
  for (;;) {
    if (src.size() == 0) {
      auto ec = co_await src.fill();
      if (ec == asio::error::eof) co_return std::error_code{};
      if (ec) co_return ec;
    }
    if (auto ec = co_await write_all(dst, asio::buffer(src.data(), src.size()))) co_return ec;
    count += src.size();
    src.consume(src.size());
  }
}

asio::awaitable<std::error_code> copy_body(StreamReader& src, Stream& dst, BodyFraming f, std::uint64_t& count) {
  switch (f.kind) {
    case BodyKind::none: co_return std::error_code{};
    case BodyKind::length: co_return co_await copy_length(src, dst, f.length, count);
    case BodyKind::chunked: co_return co_await copy_chunked(src, dst, count);
    case BodyKind::until_close: co_return co_await copy_until_close(src, dst, count);
  }
  co_return std::error_code{};
}

template <class T, class F>
asio::awaitable<Result<T>> read_head(StreamReader& rd, F parse) {
  for (;;) {
    auto p = parse(Bytes(rd.data(), rd.size()));
    if (p.failed()) co_return p.ec;
    if (p.ok()) {
      rd.consume(p.consumed);
      co_return std::move(p.value);
    }
    if (auto ec = co_await rd.fill()) {
      // A head cut short by the end of the stream is malformed, not a clean close.
      if (ec == asio::error::eof && rd.size() > 0) co_return make_error_code(errc::bad_request);
      co_return ec;
    }
  }
}

asio::awaitable<Result<RequestHead>> read_request(StreamReader& rd) {
  co_return co_await read_head<RequestHead>(rd, [](Bytes b) { return parse_request_head(b); });
}
asio::awaitable<Result<ResponseHead>> read_response(StreamReader& rd) {
  co_return co_await read_head<ResponseHead>(rd, [](Bytes b) { return parse_response_head(b); });
}

class HttpHandler final : public Handler {
 public:
  explicit HttpHandler(const HandlerArgs& a)
      : router_(a.router), auther_(a.auther), bypass_(a.bypass), service_(a.service),
        realm_(a.metadata.get_string("authBasicRealm", "gost")),
        agent_(a.metadata.get_string("proxyAgent", "gost/3.0")), headers_(a.metadata.get_string_map("header")),
        read_timeout_(a.metadata.get_duration("readTimeout", std::chrono::seconds(15))),
        idle_timeout_(a.metadata.get_duration("idleTimeout", std::chrono::seconds(60))),
        hash_host_(a.metadata.get_string("hash") == "host") {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    if (rec.protocol.empty()) rec.protocol = "http";
    co_await serve(std::move(conn), rec);
  }

 private:
  asio::awaitable<std::error_code> reply(Stream& s, int code, std::vector<std::pair<std::string, std::string>> extra = {}) {
    ResponseHead r;
    r.status = code;
    r.reason = reason_of(code);
    r.headers.add("Proxy-Agent", agent_);
    for (auto& [k, v] : extra) r.headers.add(k, v);
    for (auto& [k, v] : headers_) r.headers.set(k, v);
    if (code != 200) {
      r.headers.add("Content-Length", "0");
      r.headers.add("Connection", "close");
    }
    std::string out;
    serialize(r, out);
    co_return co_await write_all(s, asio::buffer(out));
  }

  int status_for(const std::error_code& ec) const {
    if (ec == errc::timeout) return 504;
    if (ec == errc::forbidden || ec == errc::bypassed) return 403;
    return 503;
  }

  asio::awaitable<Result<StreamPtr>> dial(const Address& target, ConnRecord& rec) {
    SelectOptions sel;
    sel.network = "tcp";
    sel.addr = target.to_string();
    sel.host = target.host;
    sel.client_id = rec.user;
    sel.client = rec.client;
    if (hash_host_) sel.hash_key = target.host;
    DialInfo info;
    auto r = co_await router_->dial("tcp", target, sel, &info);
    rec.route = info.route;
    co_return r;
  }

  asio::awaitable<void> serve(StreamPtr conn, ConnRecord& rec) {
    StreamReader rd(*conn, kMaxHeadSize);
    StreamPtr up;
    std::unique_ptr<StreamReader> urd;
    std::string up_target;
    for (bool first = true;; first = false) {
      auto hr = co_await with_timeout(read_request(rd), first ? read_timeout_ : idle_timeout_);
      if (!hr) {
        if (first) rec.ec = make_error_code(errc::timeout);
        break;
      }
      if (!*hr) {
        auto ec = hr->error();
        if (ec == errc::message_too_large) {
          co_await reply(*conn, 431);
          rec.ec = ec;
        } else if (ec == errc::bad_request) {
          co_await reply(*conn, 400);
          rec.ec = ec;
        } else if (first || ec != asio::error::eof) {
          rec.ec = ec;
        }
        break;
      }
      RequestHead req = std::move(**hr);

      if (auther_) {
        std::optional<std::string> id;
        if (auto* pa = req.headers.find("Proxy-Authorization")) {
          if (auto c = parse_basic_auth(*pa)) {
            id = co_await auther_->authenticate(c->username, c->password, AuthOptions{service_, rec.client});
          }
        }
        if (!id) {
          // (a named vector: GCC 12 cannot keep a braced list alive across co_await)
          std::vector<std::pair<std::string, std::string>> challenge;
          challenge.emplace_back("Proxy-Authenticate", "Basic realm=\"" + realm_ + "\"");
          co_await reply(*conn, 407, std::move(challenge));
          rec.ec = make_error_code(errc::auth_failed);
          break;
        }
        rec.user = *id;
      }

      if (req.method == "CONNECT") {
        auto target = Address::parse(req.target, 443);
        if (!target || target->host.empty()) {
          co_await reply(*conn, 400);
          rec.ec = make_error_code(errc::bad_request);
          break;
        }
        rec.target = target->to_string();
        if (bypass_ && bypass_->contains("tcp", rec.target)) {
          co_await reply(*conn, 403);
          rec.ec = make_error_code(errc::bypassed);
          break;
        }
        if (up) up->close();
        auto out = co_await dial(*target, rec);
        if (!out) {
          co_await reply(*conn, status_for(out.error()));
          rec.ec = out.error();
          break;
        }
        if (auto ec = co_await reply(*conn, 200)) {
          rec.ec = ec;
          break;
        }
        StreamPtr client = make_prefixed(std::move(conn), rd.take_rest());
        auto res = co_await bridge(*client, **out);
        rec.bytes_up += res.a_to_b;
        rec.bytes_down += res.b_to_a;
        if (res.ec) rec.ec = res.ec;
        co_return;
      }

      if (auto* proto = req.headers.find("X-Gost-Protocol"); proto && *proto == "udp") {
        co_await reply(*conn, 501);  // UDP over HTTP is not part of this build's http handler
        rec.ec = make_error_code(errc::unsupported);
        break;
      }
      auto uri = parse_absolute_uri(req.target);
      if (!uri || uri->scheme != "http") {
        co_await reply(*conn, 400);
        rec.ec = make_error_code(errc::bad_request);
        break;
      }
      auto framing = request_framing(req);
      if (!framing) {
        co_await reply(*conn, 400);
        rec.ec = framing.error();
        break;
      }
      const auto target = uri->authority;
      rec.target = target.to_string();
      if (bypass_ && bypass_->contains("tcp", rec.target)) {
        co_await reply(*conn, 403);
        rec.ec = make_error_code(errc::bypassed);
        break;
      }
      if (!up || up_target != rec.target) {
        if (up) up->close();
        urd.reset();
        auto out = co_await dial(target, rec);
        if (!out) {
          co_await reply(*conn, status_for(out.error()));
          rec.ec = out.error();
          break;
        }
        up = std::move(*out);
        urd = std::make_unique<StreamReader>(*up, kMaxHeadSize);
        up_target = rec.target;
      }

      const bool client_close = req.headers.has_token("Connection", "close") ||
                                req.headers.has_token("Proxy-Connection", "close") ||
                                (req.version_minor == 0 && !req.headers.has_token("Proxy-Connection", "keep-alive") &&
                                 !req.headers.has_token("Connection", "keep-alive"));
      const bool upgrade = req.headers.has_token("Connection", "upgrade") && req.headers.find("Upgrade");
      const bool expect100 = req.headers.find("Expect") && req.headers.has_token("Expect", "100-continue");

      RequestHead out = req;
      out.target = uri->origin_form;
      out.version_minor = 1;
      strip_hop_by_hop(out.headers, upgrade);
      if (expect100) out.headers.erase("Expect");
      if (!out.headers.find("Host")) {
        out.headers.add("Host", uri->has_port ? target.to_string() : target.host);
      }
      std::string head;
      serialize(out, head);
      if (expect100) {
        if (auto ec = co_await write_all(*conn, asio::buffer(kContinue))) {
          rec.ec = ec;
          break;
        }
      }
      if (auto ec = co_await write_all(*up, asio::buffer(head))) {
        co_await reply(*conn, 502);
        rec.ec = ec;
        break;
      }
      rec.bytes_up += head.size();
      if (auto ec = co_await copy_body(rd, *up, *framing, rec.bytes_up)) {
        rec.ec = ec;
        break;
      }

      // The response: 1xx interim heads pass through; 101 turns the connection into a tunnel.
      Result<ResponseHead> rr = make_error_code(errc::proxy_error);
      for (int i = 0; i < 16; ++i) {
        rr = co_await read_response(*urd);
        if (!rr || rr->status >= 200 || rr->status == 101) break;
        std::string interim;
        serialize(*rr, interim);
        co_await write_all(*conn, asio::buffer(interim));
      }
      if (!rr) {
        co_await reply(*conn, 502);
        rec.ec = rr.error();
        break;
      }
      ResponseHead resp = std::move(*rr);
      if (resp.status == 101) {
        std::string h;
        serialize(resp, h);
        if (auto ec = co_await write_all(*conn, asio::buffer(h))) {
          rec.ec = ec;
          break;
        }
        StreamPtr client = make_prefixed(std::move(conn), rd.take_rest());
        StreamPtr origin = make_prefixed(std::move(up), urd->take_rest());
        urd.reset();
        auto res = co_await bridge(*client, *origin);
        rec.bytes_up += res.a_to_b;
        rec.bytes_down += res.b_to_a + h.size();
        co_return;
      }
      auto rf = response_framing(resp, req.method);
      if (!rf) {
        co_await reply(*conn, 502);
        rec.ec = rf.error();
        break;
      }
      const bool close_after = client_close || rf->kind == BodyKind::until_close ||
                               resp.headers.has_token("Connection", "close") || resp.version_minor == 0;
      strip_hop_by_hop(resp.headers, false);
      resp.headers.add("Connection", close_after ? "close" : "keep-alive");
      for (auto& [k, v] : headers_) resp.headers.set(k, v);
      std::string rh;
      serialize(resp, rh);
      if (auto ec = co_await write_all(*conn, asio::buffer(rh))) {
        rec.ec = ec;
        break;
      }
      rec.bytes_down += rh.size();
      if (auto ec = co_await copy_body(*urd, *conn, *rf, rec.bytes_down)) {
        rec.ec = ec;
        break;
      }
      if (close_after) {
        co_await conn->shutdown_write();
        break;
      }
      if (resp.headers.has_token("Connection", "close")) {
        up->close();
        up.reset();
        urd.reset();
      }
    }
    urd.reset();
    if (up) up->close();
    if (conn) conn->close();
  }

  RouterPtr router_;
  AutherPtr auther_;
  BypassPtr bypass_;
  std::string service_;
  std::string realm_;
  std::string agent_;
  std::map<std::string, std::string> headers_;
  milliseconds read_timeout_;
  milliseconds idle_timeout_;
  bool hash_host_;
};

}  // namespace

Result<HandlerPtr, ConfigError> make_http_handler(const HandlerArgs& args) {
  if (!args.router) return config_error("http handler: no router");
  return HandlerPtr(std::make_shared<HttpHandler>(args));
}

void register_module(Registry& r) {
  r.add_handler("http", make_http_handler);
  r.add_connector("http", make_http_connector);
}

}  // namespace gost::http
