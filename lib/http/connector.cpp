// The "http" connector: asks an HTTP proxy for a tunnel with CONNECT (go-gost/x connector/http).
//   CONNECT host:port HTTP/1.1 / Host: host:port / [metadata header fields] /
//   Proxy-Connection: keep-alive / [Proxy-Authorization: Basic ...]
// 200 gives the tunnel (bytes the proxy sent after its response head stay in front of it);
// 407 is errc::auth_failed; any other answer is errc::proxy_error.
// UDP (GOST's X-Gost-Protocol: udp): the same CONNECT with that header; after 200 the stream
// carries UDP-tun frames (socks/udptun.hpp). associate() asks for 0.0.0.0:0.
#include "gost/core/timeout.hpp"
#include "gost/http/http.hpp"
#include "http/codec.hpp"
#include "socks/udptun.hpp"

namespace gost::http {
namespace {

class HttpConnector final : public Connector {
 public:
  HttpConnector(std::optional<Credentials> auth,
                std::vector<std::pair<std::string, std::string>> headers,
                std::chrono::milliseconds timeout)
      : auth_(std::move(auth)), headers_(std::move(headers)), timeout_(timeout) {}

  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                             Address target) override {
    const bool udp = network == "udp" || network == "udp4" || network == "udp6";
    if (!udp && network != "tcp" && network != "tcp4" && network != "tcp6") {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    auto r = co_await with_timeout(do_connect(std::move(conn), target, udp), timeout_);
    if (!r) co_return make_error_code(errc::timeout);
    if (!udp || !*r) co_return std::move(*r);
    co_return StreamPtr(std::make_unique<socks::PacketTargetStream>(
        std::make_unique<socks::UdpTunPacketConn>(std::move(**r)), std::move(target)));
  }

  asio::awaitable<Result<PacketConnPtr>> associate(StreamPtr conn) override {
    Address any("0.0.0.0", 0);
    auto r = co_await with_timeout(do_connect(std::move(conn), std::move(any), true), timeout_);
    if (!r) co_return make_error_code(errc::timeout);
    if (!*r) co_return r->error();
    co_return PacketConnPtr(std::make_unique<socks::UdpTunPacketConn>(std::move(**r)));
  }

 private:
  asio::awaitable<Result<StreamPtr>> do_connect(StreamPtr conn, Address target, bool udp) {
    RequestHead req;
    req.method = "CONNECT";
    req.target = target.to_string();
    req.headers.add("Host", req.target);
    for (auto& [k, v] : headers_) req.headers.set(k, v);
    req.headers.set("Proxy-Connection", "keep-alive");
    if (udp) req.headers.set("X-Gost-Protocol", "udp");
    if (auth_) req.headers.set("Proxy-Authorization", basic_auth_value(*auth_));
    std::string out;
    serialize(req, out);
    if (auto ec = co_await write_all(*conn, asio::buffer(out))) {
      conn->close();
      co_return ec;
    }
    StreamReader rd(*conn, kMaxHeadSize);
    for (int interim = 0; interim < 16;) {
      auto p = parse_response_head(Bytes(rd.data(), rd.size()));
      if (p.failed()) break;
      if (p.need_more()) {
        if (auto ec = co_await rd.fill()) {
          conn->close();
          co_return ec == asio::error::eof || ec == errc::message_too_large
              ? make_error_code(errc::proxy_error)
              : ec;
        }
        continue;
      }
      rd.consume(p.consumed);
      const int status = p.value.status;
      if (status >= 100 && status < 200 && status != 101) {
        ++interim;  // 1xx before the answer: skip it
        continue;
      }
      if (status == 200) co_return make_prefixed(std::move(conn), rd.take_rest());
      conn->close();
      co_return make_error_code(status == 407 ? errc::auth_failed : errc::proxy_error);
    }
    conn->close();
    co_return make_error_code(errc::proxy_error);
  }

  std::optional<Credentials> auth_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

Result<ConnectorPtr, ConfigError> make_http_connector(const ConnectorArgs& args) {
  const Metadata& md = args.metadata;
  std::vector<std::pair<std::string, std::string>> headers;
  for (auto& [k, v] : md.get_string_map("header")) {
    if (k.empty() || k.find_first_of(":\r\n ") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos) {
      return config_error("http connector: bad header \"" + k + "\" in metadata header");
    }
    headers.emplace_back(k, v);
  }
  // GOST reads the key `timeout`; `connectTimeout` is accepted too.
  auto timeout =
      md.get_duration("connectTimeout", md.get_duration("timeout", std::chrono::milliseconds(0)));
  if (timeout.count() < 0) timeout = std::chrono::milliseconds(0);
  return ConnectorPtr(std::make_shared<HttpConnector>(args.auth, std::move(headers), timeout));
}

}  // namespace gost::http
