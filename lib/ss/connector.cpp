// The "ss" and "ssu" connectors (clients).
#include "gost/ss/ss.hpp"
#include "ss/common.hpp"
#include "ss/stream.hpp"
#include "ss/udp.hpp"

namespace gost::ss {
namespace {
using namespace detail;

bool is_tcp(const std::string& n) { return n == "tcp" || n == "tcp4" || n == "tcp6"; }
bool is_udp(const std::string& n) { return n == "udp" || n == "udp4" || n == "udp6"; }

class SsConnector final : public Connector {
 public:
  explicit SsConnector(std::shared_ptr<const Keys> k) : keys_(std::move(k)) {}

  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                             Address target) override {
    if (!is_tcp(network) || conn->is_datagram()) {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    auto s = std::make_unique<SsStream>(std::move(conn), keys_, SsStream::Role::client);
    if (auto ec = s->set_target(target)) {
      s->close();
      co_return ec;
    }
    // The request goes out now rather than with the first data (as GOST does): a protocol in
    // which the server speaks first would otherwise wait forever. No round trip is added.
    if (auto ec = co_await s->flush_header()) {
      s->close();
      co_return ec;
    }
    co_return StreamPtr(std::move(s));
  }

 private:
  std::shared_ptr<const Keys> keys_;
};

class SsuConnector final : public Connector {
 public:
  explicit SsuConnector(std::shared_ptr<const Keys> k) : keys_(std::move(k)) {}

  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                             Address target) override {
    if (!is_udp(network)) {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    if (conn->is_datagram()) {
      co_return make_packet_stream(std::move(conn), keys_, std::move(target));
    }
    auto s = std::make_unique<SsStream>(std::move(conn), keys_, SsStream::Role::client);
    if (auto ec = s->set_target(target)) {
      s->close();
      co_return ec;
    }
    co_return make_tun_stream(std::move(s), std::move(target));
  }

  asio::awaitable<Result<PacketConnPtr>> associate(StreamPtr conn) override {
    if (conn->is_datagram()) {
      co_return make_packet_conn(std::move(conn), keys_);
    }
    auto s = std::make_unique<SsStream>(std::move(conn), keys_, SsStream::Role::client);
    Address any("0.0.0.0", 0);
    if (auto ec = s->set_target(any)) {
      s->close();
      co_return ec;
    }
    co_return make_tun_packet_conn(std::move(s));
  }

 private:
  std::shared_ptr<const Keys> keys_;
};

}  // namespace

Result<ConnectorPtr, ConfigError> make_ss_connector(const ConnectorArgs& args) {
  auto k = keys_from(args.auth, args.metadata, false, "ss connector");
  if (!k) return k.error();
  return ConnectorPtr(std::make_shared<SsConnector>(std::move(*k)));
}

Result<ConnectorPtr, ConfigError> make_ssu_connector(const ConnectorArgs& args) {
  auto k = keys_from(args.auth, args.metadata, false, "ssu connector");
  if (!k) return k.error();
  return ConnectorPtr(std::make_shared<SsuConnector>(std::move(*k)));
}

}  // namespace gost::ss
