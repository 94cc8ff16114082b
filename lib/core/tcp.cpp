// The tcp listener and dialer, direct TCP dialing, and the pass-through "forward" connector.
#include <sys/socket.h>

#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>

#include "core/transports.hpp"
#include "gost/core/chain.hpp"
#include "gost/core/timeout.hpp"

namespace gost {
namespace {
using asio::ip::tcp;
using core::use_tuple;

std::error_code map_resolve_error(std::error_code) { return make_error_code(errc::host_unreachable); }

class TcpListener final : public Listener {
 public:
  TcpListener(Runtime* rt, Address addr, Metadata md)
      : rt_(rt), addr_(std::move(addr)), md_(std::move(md)), ex_(rt->next_executor()),
        st_(std::make_shared<State>(ex_)) {}
  ~TcpListener() override {
    std::error_code ec;
    st_->acceptor.close(ec);
  }

  std::error_code listen() override {
    std::error_code ec;
    std::vector<tcp::endpoint> eps;
    if (addr_.host.empty()) {
      eps.emplace_back(tcp::v6(), addr_.port);
      eps.emplace_back(tcp::v4(), addr_.port);
    } else if (auto ip = addr_.ip()) {
      eps.emplace_back(*ip, addr_.port);
    } else {
      tcp::resolver res(ex_);
      auto r = res.resolve(addr_.host, std::to_string(addr_.port), ec);
      if (ec) return make_error_code(errc::host_unreachable);
      for (auto& e : r) eps.push_back(e.endpoint());
    }
    std::error_code last = make_error_code(errc::host_unreachable);
    for (auto& ep : eps) {
      auto& a = st_->acceptor;
      a.close(ec);
      a.open(ep.protocol(), ec);
      if (ec) { last = ec; continue; }
      if (ep.protocol() == tcp::v6() && addr_.host.empty()) a.set_option(asio::ip::v6_only(false), ec);
      a.set_option(tcp::acceptor::reuse_address(true), ec);
      if (md_.get_bool("reuseport")) {
        int one = 1;
        ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      }
      a.bind(ep, ec);
      if (ec) { last = ec; continue; }
      a.listen(static_cast<int>(md_.get_int("backlog", 128)), ec);
      if (ec) { last = ec; continue; }
      keepalive_ = md_.get_bool("keepalive");
      return {};
    }
    return last;
  }

  asio::awaitable<Result<StreamPtr>> accept() override {
    auto [ec, sock] = co_await st_->acceptor.async_accept(rt_->next_executor(), use_tuple);
    if (ec) co_return ec;
    std::error_code ignore;
    sock.set_option(tcp::no_delay(true), ignore);
    if (keepalive_) sock.set_option(asio::socket_base::keep_alive(true), ignore);
    co_return StreamPtr(std::make_unique<TcpStream>(std::move(sock)));
  }

  Address address() const override {
    std::error_code ec;
    auto ep = st_->acceptor.local_endpoint(ec);
    if (ec) return addr_;
    auto ip = ep.address();
    if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
    return Address(ip.to_string(), ep.port());
  }
  asio::any_io_executor get_executor() override { return ex_; }
  void close() noexcept override {
    asio::post(ex_, [st = st_] {
      std::error_code ec;
      st->acceptor.close(ec);
    });
  }

 private:
  struct State {
    explicit State(asio::any_io_executor ex) : acceptor(std::move(ex)) {}
    tcp::acceptor acceptor;
  };
  Runtime* rt_;
  Address addr_;
  Metadata md_;
  asio::any_io_executor ex_;
  std::shared_ptr<State> st_;
  bool keepalive_ = false;
};

class TcpDialer final : public Dialer {
 public:
  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) override {
    co_return co_await dial_tcp(std::move(addr), opts.timeout);
  }
};

// "forward": the stream to the node is the stream to the target (no proxy header).
class ForwardConnector final : public Connector {
 public:
  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string, Address) override {
    co_return std::move(conn);
  }
};
}  // namespace

asio::awaitable<Result<StreamPtr>> dial_tcp(Address addr, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  auto remaining = [&]() -> std::chrono::milliseconds {
    if (timeout.count() <= 0) return std::chrono::milliseconds(0);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    return left.count() <= 0 ? std::chrono::milliseconds(1) : left;
  };
  std::vector<tcp::endpoint> eps;
  if (auto ip = addr.ip()) {
    eps.emplace_back(*ip, addr.port);
  } else {
    if (addr.host.empty()) co_return make_error_code(errc::host_unreachable);
    tcp::resolver res(ex);
    auto r = co_await with_timeout(res.async_resolve(addr.host, std::to_string(addr.port), use_tuple),
                                   remaining());
    if (!r) co_return make_error_code(errc::timeout);
    auto& [ec, results] = *r;
    if (ec) co_return map_resolve_error(ec);
    for (auto& e : results) eps.push_back(e.endpoint());
  }
  std::error_code last = make_error_code(errc::host_unreachable);
  for (auto& ep : eps) {
    tcp::socket sock(ex);
    auto r = co_await with_timeout(sock.async_connect(ep, use_tuple), remaining());
    if (!r) co_return make_error_code(errc::timeout);
    auto [ec] = *r;
    if (ec) {
      last = ec;
      continue;
    }
    std::error_code ignore;
    sock.set_option(tcp::no_delay(true), ignore);
    co_return StreamPtr(std::make_unique<TcpStream>(std::move(sock)));
  }
  co_return last;
}

namespace core {
void register_tcp(Registry& r) {
  r.add_listener("tcp", [](const ListenerArgs& a) -> Result<ListenerPtr, ConfigError> {
    if (!a.runtime) return config_error("tcp listener: no runtime");
    return ListenerPtr(std::make_unique<TcpListener>(a.runtime, a.addr, a.metadata));
  });
  r.add_dialer("tcp", [](const DialerArgs&) -> Result<DialerPtr, ConfigError> {
    return DialerPtr(std::make_shared<TcpDialer>());
  });
  auto fwd = [](const ConnectorArgs&) -> Result<ConnectorPtr, ConfigError> {
    return ConnectorPtr(std::make_shared<ForwardConnector>());
  };
  r.add_connector("forward", fwd);
  r.add_connector("tcp", fwd);
}
}  // namespace core
}  // namespace gost
