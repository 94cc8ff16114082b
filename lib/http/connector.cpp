#include "gost/core/timeout.hpp"
#include "gost/http/http.hpp"
#include "http/codec.hpp"

namespace gost::http {
namespace {

class HttpConnector final : public Connector {
 public:
  explicit HttpConnector(const ConnectorArgs& a)
      : auth_(a.auth), headers_(a.metadata.get_string_map("header")),
        timeout_(a.metadata.get_duration("connectTimeout", std::chrono::milliseconds(0))) {}

  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network, Address target) override {
    if (network != "tcp") {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    auto r = co_await with_timeout(do_connect(std::move(conn), target), timeout_);
    if (!r) co_return make_error_code(errc::timeout);
    co_return std::move(*r);
  }

 private:
  asio::awaitable<Result<StreamPtr>> do_connect(StreamPtr conn, Address target) {
    RequestHead req;
    req.method = "CONNECT";
    req.target = target.to_string();
    req.headers.add("Host", req.target);
    req.headers.add("Proxy-Connection", "keep-alive");
    if (auth_) req.headers.add("Proxy-Authorization", basic_auth_value(*auth_));
    for (auto& [k, v] : headers_) req.headers.set(k, v);
    std::string out;
    serialize(req, out);
    if (auto ec = co_await write_all(*conn, asio::buffer(out))) {
      conn->close();
      co_return ec;
    }
    StreamReader rd(*conn, kMaxHeadSize);
    for (;;) {
      auto p = parse_response_head(Bytes(rd.data(), rd.size()));
      if (p.failed()) {
        conn->close();
        co_return p.ec;
      }
      if (p.ok()) {
        rd.consume(p.consumed);
        if (p.value.status == 200) co_return make_prefixed(std::move(conn), rd.take_rest());
        conn->close();
        if (p.value.status == 407) co_return make_error_code(errc::auth_failed);
        if (p.value.status == 403) co_return make_error_code(errc::forbidden);
        co_return make_error_code(errc::proxy_error);
      }
      if (auto ec = co_await rd.fill()) {
        conn->close();
        co_return ec == asio::error::eof ? make_error_code(errc::proxy_error) : ec;
      }
    }
  }

  std::optional<Credentials> auth_;
  std::map<std::string, std::string> headers_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

Result<ConnectorPtr, ConfigError> make_http_connector(const ConnectorArgs& args) {
  return ConnectorPtr(std::make_shared<HttpConnector>(args));
}

}  // namespace gost::http
