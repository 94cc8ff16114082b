// SOCKS4 / SOCKS4a server: CONNECT and BIND.
#include <asio/ip/tcp.hpp>

#include "gost/core/bridge.hpp"
#include "gost/core/timeout.hpp"
#include "gost/socks/socks.hpp"
#include "socks/common.hpp"

namespace gost::socks {
namespace {
using namespace detail;

struct Shared {
  HandlerArgs args;
  HandlerConfig cfg;
};

// SOCKS4 replies carry only IPv4: anything else is sent as 0.0.0.0:0.
Address v4_or_zero(const Address& a) {
  auto ip = plain_ip(a);
  if (!ip || !ip->is_v4()) return Address("0.0.0.0", 0);
  return Address(ip->to_string(), a.port);
}

class Session {
 public:
  Session(std::shared_ptr<const Shared> sh, StreamPtr conn, ConnRecord& rec)
      : sh_(std::move(sh)), conn_(std::move(conn)), rec_(rec), reader_(*conn_, kHandshakeBuffer) {}

  asio::awaitable<void> run() {
    auto hs = co_await close_after(*conn_, sh_->cfg.read_timeout, handshake());
    if (!hs) {
      rec_.ec = make_error_code(errc::timeout);
      rec_.error = "socks4 handshake timed out";
    } else if (*hs) {
      if (!rec_.ec) rec_.ec = *hs;
    } else if (req_.command == kSocks4Connect) {
      co_await connect();
    } else {
      co_await bind();
    }
    if (conn_) conn_->close();  // null once handed to rec_.relay()
  }

 private:
  // Plain functions build the reply; the coroutine only writes it. (No class-type default
  // arguments on coroutines: GCC 12 destroys such temporaries twice.)
  asio::awaitable<std::error_code> reply(std::uint8_t code, const Address& addr) {
    std::vector<std::uint8_t> out;
    (void)serialize(Socks4Reply{code, v4_or_zero(addr)}, out);
    return write_bytes(conn_.get(), std::move(out));
  }
  asio::awaitable<std::error_code> reply(std::uint8_t code) {
    return reply(code, Address("0.0.0.0", 0));
  }

  asio::awaitable<void> fail(std::error_code ec, const char* why) {
    co_await reply(kSocks4Rejected);
    rec_.ec = ec;
    if (why) rec_.error = why;
  }
  asio::awaitable<void> fail(std::error_code ec) { return fail(ec, nullptr); }

  asio::awaitable<std::error_code> handshake() {
    auto rq = co_await read_message(&reader_, parse_socks4_request);
    if (!rq) {
      if (rq.error() == errc::unsupported) co_await reply(kSocks4Rejected);
      co_return rq.error();
    }
    req_ = std::move(*rq);
    rec_.protocol = req_.socks4a ? "socks4a" : "socks4";
    rec_.target = req_.target.to_string();
    if (sh_->args.auther) {
      // Named, not a braced temporary: GCC 12 mis-copies aggregate temporaries passed to
      // coroutines.
      AuthOptions ao;
      ao.service = sh_->args.service;
      ao.client = rec_.client;
      auto id = co_await sh_->args.auther->authenticate(req_.userid, std::string(), std::move(ao));
      if (!id) {
        co_await reply(kSocks4Rejected);
        rec_.error = "socks4: user id \"" + req_.userid + "\" rejected";
        co_return make_error_code(errc::auth_failed);
      }
      rec_.user = *id;
    }
    co_return std::error_code{};
  }

  asio::awaitable<void> relay(StreamPtr out, std::vector<unsigned char> early) {
    auto rest = reader_.take_rest();
    rest.insert(rest.end(), early.begin(), early.end());
    // The service runs the relay once this handler has returned (no frame kept while idle).
    rec_.relay(make_prefixed(std::move(conn_), std::move(rest)), std::move(out));
    co_return;
  }

  asio::awaitable<void> connect() {
    const auto& target = req_.target;
    const std::string ts = target.to_string();
    if (sh_->args.bypass &&
        sh_->args.bypass->contains("tcp", ts, BypassOptions{sh_->args.service, {}, {}})) {
      co_await fail(make_error_code(errc::bypassed));
      co_return;
    }
    DialInfo info;
    auto out = co_await sh_->args.router->dial(
        "tcp", target, select_options(rec_, "tcp", target, sh_->cfg.hash_host), &info);
    rec_.route = info.route;
    if (!out) {
      co_await fail(out.error());
      co_return;
    }
    if (auto ec = co_await reply(kSocks4Granted)) {  // DSTIP/DSTPORT zero, as GOST sends them
      rec_.ec = ec;
      (*out)->close();
      co_return;
    }
    std::vector<unsigned char> early;
    co_await relay(std::move(*out), std::move(early));
  }

  asio::awaitable<void> bind() {
    if (!sh_->cfg.enable_bind) {
      co_await fail(make_error_code(errc::unsupported), "socks4: BIND is disabled");
      co_return;
    }
    if (sh_->args.router->chain()) {
      co_await fail(make_error_code(errc::unsupported),
                    "socks4: BIND through a chain is not supported");
      co_return;
    }
    auto local = plain_ip(conn_->local_address());
    if (!local || !local->is_v4()) {
      co_await fail(make_error_code(errc::unsupported), "socks4: BIND needs an IPv4 connection");
      co_return;
    }
    asio::ip::tcp::acceptor acc(conn_->get_executor());
    if (auto ec = open_bind_acceptor(acc, *local, 0)) {
      co_await fail(ec);
      co_return;
    }
    std::error_code ec;
    auto bound = acc.local_endpoint(ec);
    if (ec || co_await reply(kSocks4Granted, endpoint_address(bound))) {
      rec_.ec = ec;
      co_return;
    }
    std::vector<unsigned char> early;
    auto peer = co_await accept_bind_peer(conn_.get(), &acc, sh_->cfg.bind_timeout, &early);
    acc.close(ec);
    if (!peer) {
      rec_.ec = peer.error();
      if (peer.error() == errc::timeout) co_await reply(kSocks4Rejected);
      co_return;
    }
    auto peer_ep = peer->remote_endpoint(ec);
    Address peer_addr = ec ? Address("0.0.0.0", 0) : endpoint_address(peer_ep);
    rec_.target = peer_addr.to_string();
    rec_.route = "direct";
    if (auto wec = co_await reply(kSocks4Granted, peer_addr)) {
      rec_.ec = wec;
      co_return;
    }
    StreamPtr out = std::make_unique<TcpStream>(std::move(*peer));
    co_await relay(std::move(out), std::move(early));
  }

  std::shared_ptr<const Shared> sh_;
  StreamPtr conn_;
  ConnRecord& rec_;
  StreamReader reader_;
  Socks4Request req_;
};

class Socks4Handler final : public Handler {
 public:
  explicit Socks4Handler(std::shared_ptr<const Shared> sh) : sh_(std::move(sh)) {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.protocol = "socks4";
    Session s(sh_, std::move(conn), rec);
    co_await s.run();
  }

 private:
  std::shared_ptr<const Shared> sh_;
};

}  // namespace

Result<HandlerPtr, ConfigError> make_socks4_handler(const HandlerArgs& args) {
  auto cfg = parse_handler_config(args, "socks4");
  if (!cfg) return cfg.error();
  auto sh = std::make_shared<Shared>();
  sh->args = args;
  sh->cfg = *cfg;
  return HandlerPtr(std::make_shared<Socks4Handler>(std::move(sh)));
}

}  // namespace gost::socks
