// SOCKS4 / SOCKS4a client: CONNECT.
#include <asio/ip/tcp.hpp>

#include "gost/core/timeout.hpp"
#include "gost/socks/socks.hpp"
#include "socks/common.hpp"

namespace gost::socks {
namespace {
using namespace detail;
using asio::ip::tcp;

class Socks4Connector final : public Connector {
 public:
  Socks4Connector(const ConnectorArgs& a, bool socks4a)
      : userid_(a.auth ? a.auth->username : std::string()),
        send_domains_(socks4a && !a.metadata.get_bool("disable4a")),
        timeout_(a.metadata.get_duration("connectTimeout", std::chrono::milliseconds(0))) {}

  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                             Address target) override {
    if (network != "tcp" && network != "tcp4" && network != "tcp6") {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    std::vector<unsigned char> rest;
    auto r = co_await with_timeout(request(conn.get(), std::move(target), &rest), timeout_);
    std::error_code ec = r ? *r : make_error_code(errc::timeout);
    if (ec) {
      conn->close();
      co_return ec;
    }
    co_return make_prefixed(std::move(conn), std::move(rest));
  }

 private:
  asio::awaitable<std::error_code> request(Stream* s, Address target,
                                           std::vector<unsigned char>* rest) {
    Socks4Request req;
    req.command = kSocks4Connect;
    req.userid = userid_;
    if (auto ip = plain_ip(target)) {
      if (!ip->is_v4()) co_return make_error_code(errc::unsupported);  // SOCKS4 carries IPv4 only
      req.target = Address(ip->to_string(), target.port);
    } else if (send_domains_) {
      req.target = std::move(target);
    } else {
      // Plain SOCKS4: resolve the name here, to an IPv4 address.
      tcp::resolver res(s->get_executor());
      auto [ec, eps] = co_await res.async_resolve(tcp::v4(), target.host,
                                                  std::to_string(target.port), use_tuple);
      if (ec || eps.empty()) co_return make_error_code(errc::host_unreachable);
      req.target = Address(eps.begin()->endpoint().address().to_string(), target.port);
    }
    std::vector<std::uint8_t> out;
    if (auto ec = serialize(req, out)) co_return ec;
    if (auto ec = co_await write_bytes(s, std::move(out))) co_return ec;
    StreamReader reader(*s, kHandshakeBuffer);
    auto rep = co_await read_message(&reader, parse_socks4_reply);
    if (!rep) co_return rep.error();
    switch (rep->code) {
      case kSocks4Granted:
        break;
      case kSocks4NoIdentd:
      case kSocks4IdentMismatch:
        co_return make_error_code(errc::auth_failed);
      default:
        co_return make_error_code(errc::proxy_error);
    }
    *rest = reader.take_rest();
    co_return std::error_code{};
  }

  std::string userid_;
  bool send_domains_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

Result<ConnectorPtr, ConfigError> make_socks4_connector(const ConnectorArgs& args, bool socks4a) {
  if (args.auth && args.auth->username.size() > kSocks4MaxUserId) {
    return config_error("socks4 connector: user id longer than 255 bytes");
  }
  return ConnectorPtr(std::make_shared<Socks4Connector>(args, socks4a));
}

}  // namespace gost::socks
