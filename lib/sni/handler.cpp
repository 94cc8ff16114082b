// The sni handler (go-gost/x handler/sni): route a connection by the SNI of its TLS
// ClientHello, or by the Host of its HTTP request, through the service's chain.
#include <chrono>

#include "gost/core/bridge.hpp"
#include "gost/core/timeout.hpp"
#include "gost/sni/sni.hpp"
#include "sni/codec.hpp"

namespace gost::sni {
namespace {

struct Sniffed {
  std::string host;                  // "host:port" to dial
  std::vector<std::uint8_t> prefix;  // bytes to send first
};

// Splits "host[:port]" (IPv6 in brackets) and adds def_port when no port is given, as GOST's
// net.SplitHostPort / JoinHostPort fallback does.
Result<Address> target_of(const std::string& name, std::uint16_t def_port) {
  if (name.empty()) return make_error_code(errc::bad_request);
  auto a = Address::parse(name);
  if (a && !a->host.empty()) return a;
  std::string h = name;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return make_error_code(errc::bad_request);
  return Address(h, def_port);
}

asio::awaitable<Result<Sniffed>> sniff(Stream& s) {
  StreamReader rd(s, 64 * 1024);
  if (auto ec = co_await rd.need(kRecordHeaderSize)) co_return ec;
  Bytes head(rd.data(), rd.size());
  Sniffed out;
  if (looks_like_tls(head)) {
    Parsed<ClientHello> p;
    for (;;) {
      p = parse_client_hello(Bytes(rd.data(), rd.size()));
      if (p.failed()) co_return p.ec;
      if (p.ok()) break;
      if (auto ec = co_await rd.fill()) co_return ec;
    }
    const auto& ch = p.value;
    auto t = target_of(ch.gost_host.empty() ? ch.server_name : ch.gost_host, 443);
    if (!t) co_return t.error();
    out.host = t->to_string();
    auto rest = rd.take_rest();
    // A ClientHello fronted by GOST's sni connector goes on as the client made it (TLS 1.3
    // hashes it into the transcript); any other goes on unchanged.
    auto restored = restore_client_hello(Bytes(rest.data(), p.consumed), ch);
    if (restored) {
      out.prefix = std::move(*restored);
      out.prefix.insert(out.prefix.end(), rest.begin() + static_cast<std::ptrdiff_t>(p.consumed),
                        rest.end());
    } else {
      out.prefix = std::move(rest);
    }
    co_return out;
  }
  for (;;) {
    auto p = parse_http_head(Bytes(rd.data(), rd.size()));
    if (p.failed()) co_return p.ec;
    if (p.ok()) {
      const auto& h = p.value;
      std::string name = h.gost_target.empty() ? h.host : h.gost_target;
      auto t = target_of(name, 80);
      if (!t) co_return t.error();
      out.host = t->to_string();
      auto rest = rd.take_rest();
      if (h.target_size) {
        out.prefix = restore_http_head(Bytes(rest.data(), p.consumed), h);
        out.prefix.insert(out.prefix.end(), rest.begin() + static_cast<std::ptrdiff_t>(p.consumed),
                          rest.end());
      } else {
        out.prefix = std::move(rest);
      }
      co_return out;
    }
    if (auto ec = co_await rd.fill()) co_return ec;
  }
}

class SniHandler final : public Handler {
 public:
  explicit SniHandler(const HandlerArgs& a)
      : router_(a.router),
        bypass_(a.bypass),
        service_(a.service),
        logger_(a.logger),
        read_timeout_(a.metadata.get_duration("readTimeout", std::chrono::seconds(15))),
        hash_host_(a.metadata.get_string("hash") == "host") {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.protocol = "sni";
    auto sn = co_await with_timeout(sniff(*conn), read_timeout_);
    if (!sn || !*sn) {
      rec.ec = !sn ? make_error_code(errc::timeout) : sn->error();
      conn->close();
      co_return;
    }
    Sniffed s = std::move(**sn);
    rec.target = s.host;
    auto target = Address::parse(s.host);
    if (!target) {
      rec.ec = target.error();
      conn->close();
      co_return;
    }
    if (bypass_) {
      BypassOptions bo;
      bo.service = service_;
      bo.host = target->host;
      if (bypass_->contains("tcp", s.host, bo)) {
        rec.ec = make_error_code(errc::bypassed);
        conn->close();
        co_return;
      }
    }
    SelectOptions sel;
    sel.network = "tcp";
    sel.addr = s.host;
    sel.host = target->host;
    sel.client = rec.client;
    if (hash_host_) sel.hash_key = target->host;
    DialInfo info;
    std::string network = "tcp";
    auto up = co_await router_->dial(network, *target, sel, &info);
    rec.route = info.route;
    if (!up) {
      rec.ec = up.error();
      conn->close();
      co_return;
    }
    if (!s.prefix.empty()) {
      if (auto ec = co_await write_all(**up, asio::buffer(s.prefix))) {
        rec.ec = ec;
        (*up)->close();
        conn->close();
        co_return;
      }
      rec.bytes_up += s.prefix.size();
    }
    rec.relay(std::move(conn), std::move(*up));
  }

 private:
  RouterPtr router_;
  BypassPtr bypass_;
  std::string service_;
  LoggerPtr logger_;
  std::chrono::milliseconds read_timeout_;
  bool hash_host_;
};

}  // namespace

Result<HandlerPtr, ConfigError> make_sni_handler(const HandlerArgs& args) {
  if (!args.router) return config_error("service \"" + args.service + "\": no router");
  return HandlerPtr(std::make_shared<SniHandler>(args));
}

}  // namespace gost::sni
