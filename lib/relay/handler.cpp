// The "relay" handler (go-gost/x handler/relay): CONNECT (tcp, udp), forward mode, UDP BIND.
#include <algorithm>
#include <asio/error.hpp>

#include "gost/core/timeout.hpp"
#include "gost/relay/relay.hpp"
#include "relay/codec.hpp"
#include "relay/stream.hpp"
#include "socks/common.hpp"
#include "socks/muxbind.hpp"
#include "socks/udptun.hpp"

namespace gost::relay {
namespace {

// nodelay off: how long the held-back OK response waits for the target's first bytes before it
// is sent alone (a GOST connector with nodelay=true reads the response before it writes).
constexpr std::chrono::milliseconds kResponseFlushAfter{100};

struct Config {
  std::chrono::milliseconds read_timeout{15000};
  bool enable_bind = false;
  bool nodelay = false;
  std::size_t udp_buffer = 65535;
  bool hash_host = false;
  std::chrono::milliseconds ttl{0};
  mux::Options mux;
};

struct Shared {
  HandlerArgs args;
  Config cfg;
};

bool is_udp(const std::string& n) { return n == "udp" || n == "udp4" || n == "udp6"; }
bool is_tcp(const std::string& n) { return n == "tcp" || n == "tcp4" || n == "tcp6"; }

class Session {
 public:
  Session(std::shared_ptr<const Shared> sh, StreamPtr conn, ConnRecord& rec)
      : sh_(std::move(sh)), conn_(std::move(conn)), rec_(rec), reader_(*conn_, kMaxMessage) {}

  asio::awaitable<void> run() {
    auto r = co_await close_after(*conn_, sh_->cfg.read_timeout, read_request());
    if (!r) {
      rec_.ec = make_error_code(errc::timeout);
      rec_.error = "relay: reading the request timed out";
      conn_->close();
      co_return;
    }
    if (!*r) {
      // GOST closes without a response when the request cannot be read.
      rec_.ec = r->error();
      if (r->error() == errc::bad_request || r->error() == errc::message_too_large)
        rec_.error = "relay: bad request";
      conn_->close();
      co_return;
    }
    Request req = std::move(**r);
    std::string user, pass;
    if (auto* ua = req.features.user_auth()) {
      user = ua->username;
      pass = ua->password;
      rec_.user = user;
    }
    if (sh_->args.auther) {
      AuthOptions ao;
      ao.service = sh_->args.service;
      ao.client = rec_.client;
      auto id = co_await sh_->args.auther->authenticate(user, pass, std::move(ao));
      if (!id) {
        rec_.error = "relay: authentication failed for user \"" + user + "\"";
        co_await fail(kStatusUnauthorized, make_error_code(errc::auth_failed));
        co_return;
      }
      rec_.user = *id;
    }
    std::string network = network_name(req.features.network() ? req.features.network()->network
                                                              : std::uint16_t{kNetworkTcp});
    if (req.cmd & kFlagUdp) network = "udp";
    rec_.network = network;
    std::optional<Address> target;
    if (auto* af = req.features.addr()) target = af->addr;
    if (target) rec_.target = target->to_string();

    if (sh_->args.forwarder) {
      co_await forward(network);
      co_return;
    }
    switch (req.cmd & kCmdMask) {
      case 0:
      case kCmdConnect:
        co_await connect(network, std::move(target));
        break;
      case kCmdBind:
        co_await bind(network, std::move(target));
        break;
      default:
        co_await fail(kStatusBadRequest, make_error_code(errc::unsupported));
        break;
    }
  }

 private:
  asio::awaitable<Result<Request>> read_request() {
    for (;;) {
      auto p = parse_request(Bytes(reader_.data(), reader_.size()));
      if (p.ok()) {
        reader_.consume(p.consumed);
        co_return std::move(p.value);
      }
      if (p.failed()) co_return p.ec;
      if (auto ec = co_await reader_.fill()) co_return ec;
    }
  }

  asio::awaitable<std::error_code> respond(std::uint8_t status, Features fs) {
    Response resp;
    resp.status = status;
    resp.features = std::move(fs);
    std::vector<std::uint8_t> out;
    if (auto ec = serialize(resp, out)) co_return ec;
    co_return co_await write_all(*conn_, asio::buffer(out));
  }

  asio::awaitable<void> fail(std::uint8_t status, std::error_code ec) {
    Features none;
    co_await respond(status, std::move(none));
    if (!rec_.ec) rec_.ec = ec;
    conn_->close();
  }

  // Hands the client and the upstream to the service's relay. With nodelay off the OK response
  // goes out with the first bytes for the client (GOST's tcpConn / udpConn).
  asio::awaitable<void> pipe(std::string network, StreamPtr upstream) {
    std::vector<std::uint8_t> resp;
    if (auto ec = serialize(Response{}, resp)) {
      rec_.ec = ec;
      conn_->close();
      upstream->close();
      co_return;
    }
    if (sh_->cfg.nodelay) {
      if (auto ec = co_await write_all(*conn_, asio::buffer(resp))) {
        rec_.ec = ec;
        conn_->close();
        upstream->close();
        co_return;
      }
      resp.clear();
    }
    StreamPtr client = make_prefixed(std::move(conn_), reader_.take_rest());
    BridgeOptions bo;
    if (is_udp(network)) {
      RelayStreamOptions o;
      o.datagram = true;
      o.flush_after = kResponseFlushAfter;
      client = std::make_unique<RelayStream>(std::move(client), std::move(resp), o);
      bo.idle_timeout = sh_->cfg.ttl;
    } else if (!resp.empty()) {
      RelayStreamOptions o;
      o.flush_after = kResponseFlushAfter;
      client = std::make_unique<RelayStream>(std::move(client), std::move(resp), o);
    }
    rec_.relay(std::move(client), std::move(upstream), bo);
  }

  asio::awaitable<void> connect(std::string network, std::optional<Address> target) {
    if (!target || (target->host.empty() && target->port == 0)) {
      rec_.error = "relay: target not specified";
      co_await fail(kStatusBadRequest, make_error_code(errc::bad_request));
      co_return;
    }
    if (!is_tcp(network) && !is_udp(network)) {
      rec_.error = "relay: network " + network + " is not supported";
      co_await fail(kStatusBadRequest, make_error_code(errc::unsupported));
      co_return;
    }
    const std::string ts = target->to_string();
    if (sh_->args.bypass &&
        sh_->args.bypass->contains(network, ts, BypassOptions{sh_->args.service, {}, {}})) {
      co_await fail(kStatusForbidden, make_error_code(errc::bypassed));
      co_return;
    }
    DialInfo info;
    auto sel = socks::detail::select_options(rec_, network, *target, sh_->cfg.hash_host);
    auto out = co_await sh_->args.router->dial(network, *target, std::move(sel), &info);
    rec_.route = info.route;
    if (!out) {
      co_await fail(kStatusNetworkUnreachable, out.error());
      co_return;
    }
    co_await pipe(std::move(network), std::move(*out));
  }

  asio::awaitable<void> forward(std::string network) {
    if (!is_tcp(network) && !is_udp(network)) {
      co_await fail(kStatusBadRequest, make_error_code(errc::unsupported));
      co_return;
    }
    const auto& hop = sh_->args.forwarder;
    SelectOptions sel;
    sel.network = network;
    sel.client = rec_.client;
    sel.client_id = rec_.user;
    NodePtr node = hop->select(sel);
    if (!node) {
      rec_.error = "relay: no forward target available";
      co_await fail(kStatusServiceUnavailable, make_error_code(errc::no_route));
      co_return;
    }
    rec_.target = node->addr;
    auto target = Address::parse(node->addr);
    if (!target) {
      co_await fail(kStatusServiceUnavailable, target.error());
      co_return;
    }
    if (sh_->args.bypass &&
        sh_->args.bypass->contains(network, node->addr, BypassOptions{sh_->args.service, {}, {}})) {
      co_await fail(kStatusForbidden, make_error_code(errc::bypassed));
      co_return;
    }
    SelectOptions csel = socks::detail::select_options(rec_, network, *target, sh_->cfg.hash_host);
    DialInfo info;
    auto out = co_await sh_->args.router->dial(network, *target, std::move(csel), &info);
    rec_.route = info.route;
    if (!out) {
      node->marker.mark();
      co_await fail(kStatusHostUnreachable, out.error());
      co_return;
    }
    node->marker.reset();
    co_await pipe(std::move(network), std::move(*out));
  }

  asio::awaitable<void> bind(std::string network, std::optional<Address> addr) {
    if (!sh_->cfg.enable_bind) {
      rec_.error = "relay: BIND is disabled";
      co_await fail(kStatusForbidden, make_error_code(errc::forbidden));
      co_return;
    }
    if (is_tcp(network)) {
      co_await bind_tcp(std::move(addr));
      co_return;
    }
    if (!is_udp(network)) {
      co_await fail(kStatusBadRequest, make_error_code(errc::unsupported));
      co_return;
    }
    // UDP BIND: a UDP socket on the requested address; the stream carries UDP-tun frames.
    Address where = addr ? *addr : Address("0.0.0.0", 0);
    if (where.host.empty()) where.host = "0.0.0.0";
    if (!where.is_ip()) {
      co_await fail(kStatusBadRequest, make_error_code(errc::bad_request));
      co_return;
    }
    auto pc = open_udp(conn_->get_executor(), where);
    if (!pc) {
      rec_.ec = pc.error();
      conn_->close();  // GOST closes without a response here
      co_return;
    }
    Features fs;
    fs.list.push_back(AddrFeature{(*pc)->local_address()});
    if (auto ec = co_await respond(kStatusOK, std::move(fs))) {
      rec_.ec = ec;
      conn_->close();
      co_return;
    }
    rec_.route = "direct";
    rec_.target.clear();
    socks::UdpTunPacketConn client(make_prefixed(std::move(conn_), reader_.take_rest()));
    socks::UdpRelayOptions o;
    o.service = sh_->args.service;
    o.bypass = sh_->args.bypass;
    o.buffer = sh_->cfg.udp_buffer;
    o.ttl = sh_->cfg.ttl;
    auto res = co_await socks::relay_packets(client, **pc, std::move(o));
    rec_.bytes_up = res.bytes_up;
    rec_.bytes_down = res.bytes_down;
    rec_.target = res.first_target;
    if (res.ec) rec_.ec = res.ec;
  }

  // TCP BIND: listen on the requested address (GOST: strict, a port in use fails with
  // ServiceUnavailable), answer OK + Addr(bound), then the connection becomes an smux session
  // (this side the smux client); each inbound connection gets a stream that starts with a
  // Response{OK, Addr(peer)}.
  asio::awaitable<void> bind_tcp(std::optional<Address> addr) {
    Address where = addr ? *addr : Address();
    if (!where.is_ip()) where.host.clear();
    asio::ip::tcp::acceptor acc(conn_->get_executor());
    if (auto ec = socks::listen_tcp(acc, where)) {
      co_await fail(kStatusServiceUnavailable, ec);
      co_return;
    }
    std::error_code ec;
    auto bound = acc.local_endpoint(ec);
    Address bnd = ec ? Address("0.0.0.0", 0) : socks::detail::endpoint_address(bound);
    Features fs;
    fs.list.push_back(AddrFeature{bnd});
    if (auto wec = co_await respond(kStatusOK, std::move(fs))) {
      rec_.ec = wec;
      co_return;
    }
    rec_.target = bnd.to_string();
    rec_.route = "direct";
    socks::BindHello hello = [](const Address& peer) {
      Response r;
      r.features.list.push_back(AddrFeature{peer});
      std::vector<std::uint8_t> out;
      (void)serialize(r, out);
      return out;
    };
    auto res = co_await socks::serve_mux_bind(make_prefixed(std::move(conn_), reader_.take_rest()),
                                              std::move(acc), sh_->cfg.mux, std::move(hello));
    if (res.ec) rec_.ec = res.ec;
  }

  std::shared_ptr<const Shared> sh_;
  StreamPtr conn_;
  ConnRecord& rec_;
  StreamReader reader_;
};

class RelayHandler final : public Handler {
 public:
  explicit RelayHandler(std::shared_ptr<const Shared> sh) : sh_(std::move(sh)) {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.protocol = "relay";
    Session s(sh_, std::move(conn), rec);
    co_await s.run();
  }

 private:
  std::shared_ptr<const Shared> sh_;
};

}  // namespace

Result<HandlerPtr, ConfigError> make_relay_handler(const HandlerArgs& args) {
  if (!args.router)
    return config_error("service \"" + args.service + "\": relay handler: no router");
  const Metadata& md = args.metadata;
  Config c;
  c.read_timeout = md.get_duration("readTimeout", std::chrono::milliseconds(0));
  if (c.read_timeout.count() <= 0) c.read_timeout = std::chrono::seconds(15);
  c.enable_bind = md.get_bool("bind");
  c.nodelay = md.get_bool("nodelay");
  std::int64_t bs = md.get_int("udp.bufferSize", md.get_int("udpBufferSize", 0));
  c.udp_buffer =
      bs > 0 ? static_cast<std::size_t>(std::clamp<std::int64_t>(bs, 512, 65535)) : 65535;
  c.hash_host = md.get_string("hash") == "host";
  c.ttl = md.get_duration("ttl", std::chrono::milliseconds(0));
  auto mo = mux::options_from(md);
  if (!mo)
    return config_error("service \"" + args.service + "\": relay handler: " + mo.error().message);
  c.mux = *mo;
  if (args.forwarder && args.forwarder->nodes.empty()) {
    return config_error("service \"" + args.service +
                        "\": relay handler: the forwarder has no nodes");
  }
  auto sh = std::make_shared<Shared>();
  sh->args = args;
  sh->cfg = c;
  return HandlerPtr(std::make_shared<RelayHandler>(std::move(sh)));
}

}  // namespace gost::relay
