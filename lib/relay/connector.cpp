// The "relay" connector (go-gost/x connector/relay): CONNECT (tcp, udp), the UDP association
// (BIND|FUDP) behind associate(), and remote binds (BIND tcp: a reversed smux session; BIND|FUDP
// with a port: UDP-tun frames) behind bind().
#include <asio/error.hpp>

#include "gost/core/bind.hpp"
#include "gost/core/timeout.hpp"
#include "gost/mux/session.hpp"
#include "gost/relay/relay.hpp"
#include "relay/codec.hpp"
#include "relay/stream.hpp"
#include "socks/muxbind.hpp"
#include "socks/udptun.hpp"

namespace gost::relay {
namespace {

// How long a read that comes before any write waits for that write to carry the request.
constexpr std::chrono::milliseconds kFirstWriteGrace{50};

bool is_udp(const std::string& n) { return n == "udp" || n == "udp4" || n == "udp6"; }
bool is_tcp(const std::string& n) { return n == "tcp" || n == "tcp4" || n == "tcp6"; }

// How long the proxy may take to name the peer on a stream of a BIND session.
constexpr std::chrono::milliseconds kHelloTimeout{10000};

// Reads one response; a status other than OK is an error.
asio::awaitable<Result<Response>> read_response(StreamReader& reader) {
  for (;;) {
    auto p = parse_response(Bytes(reader.data(), reader.size()));
    if (p.failed()) co_return make_error_code(errc::proxy_error);
    if (p.ok()) {
      reader.consume(p.consumed);
      if (auto ec = status_error(p.value.status)) co_return ec;
      co_return std::move(p.value);
    }
    if (auto ec = co_await reader.fill()) {
      co_return ec == asio::error::eof ? make_error_code(errc::proxy_error) : ec;
    }
  }
}

// The hello on each BIND stream: a response whose first Addr is the peer (a second Addr, the
// host the peer asked for, is not used).
asio::awaitable<Result<Address>> read_response_hello(StreamReader& reader) {
  auto r = co_await read_response(reader);
  if (!r) co_return r.error();
  const AddrFeature* a = r->features.addr();
  if (!a) co_return make_error_code(errc::proxy_error);
  co_return a->addr;
}

class RelayConnector final : public Connector {
 public:
  RelayConnector(std::optional<Credentials> auth, bool nodelay, std::chrono::milliseconds timeout,
                 mux::Options mux_opts)
      : auth_(std::move(auth)), nodelay_(nodelay), timeout_(timeout), mux_(std::move(mux_opts)) {}

  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                             Address target) override {
    const bool udp = is_udp(network);
    if (!udp && !is_tcp(network)) {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    // Feature order as GOST writes it: Network (udp), UserAuth, Addr.
    Request req;
    req.cmd = kCmdConnect;
    if (udp) {
      req.cmd = static_cast<std::uint8_t>(req.cmd | kFlagUdp);
      req.features.list.push_back(NetworkFeature{kNetworkUdp});
    }
    if (auth_) req.features.list.push_back(UserAuthFeature{auth_->username, auth_->password});
    req.features.list.push_back(AddrFeature{std::move(target)});
    std::vector<std::uint8_t> out;
    if (auto ec = serialize(req, out)) {
      conn->close();
      co_return ec;
    }
    RelayStreamOptions o;
    o.datagram = udp;
    o.expect_response = true;
    if (nodelay_) {
      // The request goes out now; the response is still read on the first read: a GOST
      // handler with nodelay off answers only with the target's first bytes.
      auto r = co_await with_timeout(write_all(*conn, asio::buffer(out)), timeout_);
      if (!r || *r) {
        conn->close();
        co_return r ? *r : make_error_code(errc::timeout);
      }
      out.clear();
    } else {
      o.grace = kFirstWriteGrace;
    }
    co_return StreamPtr(std::make_unique<RelayStream>(std::move(conn), std::move(out), o));
  }

  asio::awaitable<Result<PacketConnPtr>> associate(StreamPtr conn) override {
    Address any("0.0.0.0", 0);
    auto r = co_await bind_request(conn.get(), true, std::move(any));
    if (!r) {
      conn->close();
      co_return r.error();
    }
    StreamPtr s = make_prefixed(std::move(conn), std::move(r->rest));
    co_return PacketConnPtr(std::make_unique<socks::UdpTunPacketConn>(std::move(s)));
  }

  // Remote binds (GOST's relay connector): BIND + Network + Addr; after OK + Addr(bound), "tcp"
  // turns conn into an smux session in which the proxy is the client and opens one stream per
  // inbound connection (each starting with OK + Addr(peer)); "udp" (BIND|FUDP) carries UDP-tun
  // frames naming the peers.
  asio::awaitable<Result<ListenerPtr>> bind(StreamPtr conn, std::string network, Address addr,
                                            BindOptions opts) override {
    const bool udp = is_udp(network);
    if (!udp && !is_tcp(network)) {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    if (addr.host.empty()) addr.host = "0.0.0.0";  // as GOST: ":port" binds every interface
    auto r = co_await bind_request(conn.get(), udp, std::move(addr));
    if (!r) {
      conn->close();
      co_return r.error();
    }
    Address bound;
    if (const AddrFeature* a = r->resp.features.addr()) bound = a->addr;
    StreamPtr s = make_prefixed(std::move(conn), std::move(r->rest));
    if (udp) {
      PacketConnPtr pc = std::make_unique<socks::UdpTunPacketConn>(std::move(s));
      co_return make_packet_listener(std::move(pc), std::move(bound), opts);
    }
    auto session = mux::Session::server(std::move(s), mux_);
    co_return socks::make_mux_bind_listener(std::move(session), std::move(bound),
                                            &read_response_hello, kHelloTimeout);
  }

 private:
  struct Exchanged {
    Response resp;
    std::vector<unsigned char> rest;
  };

  // BIND (| FUDP for udp) with GOST's bind() feature order: UserAuth, Network, Addr; bounded by
  // the connect timeout. The caller closes conn on error.
  asio::awaitable<Result<Exchanged>> bind_request(Stream* conn, bool udp, Address addr) {
    Request req;
    req.cmd = udp ? static_cast<std::uint8_t>(kFlagUdp | kCmdBind)
                  : static_cast<std::uint8_t>(kCmdBind);
    if (auth_) req.features.list.push_back(UserAuthFeature{auth_->username, auth_->password});
    req.features.list.push_back(NetworkFeature{udp ? kNetworkUdp : kNetworkTcp});
    req.features.list.push_back(AddrFeature{std::move(addr)});
    std::vector<std::uint8_t> out;
    if (auto ec = serialize(req, out)) co_return ec;
    auto r = co_await with_timeout(exchange(conn, std::move(out)), timeout_);
    if (!r) co_return make_error_code(errc::timeout);
    co_return std::move(*r);
  }

  // Sends a request and reads the response; a status other than OK is an error.
  asio::awaitable<Result<Exchanged>> exchange(Stream* s, std::vector<std::uint8_t> out) {
    if (auto ec = co_await write_all(*s, asio::buffer(out))) co_return ec;
    StreamReader reader(*s, kMaxMessage);
    auto r = co_await read_response(reader);
    if (!r) co_return r.error();
    Exchanged e;
    e.resp = std::move(*r);
    e.rest = reader.take_rest();
    co_return std::move(e);
  }

  std::optional<Credentials> auth_;
  bool nodelay_;
  std::chrono::milliseconds timeout_;
  mux::Options mux_;  // BIND sessions (mux.* keys)
};

}  // namespace

Result<ConnectorPtr, ConfigError> make_relay_connector(const ConnectorArgs& args) {
  if (args.auth && (args.auth->username.size() > 255 || args.auth->password.size() > 255)) {
    return config_error("relay connector: user name and password must be at most 255 bytes each");
  }
  const Metadata& md = args.metadata;
  auto timeout =
      md.get_duration("connectTimeout", md.get_duration("timeout", std::chrono::milliseconds(0)));
  if (timeout.count() < 0) timeout = std::chrono::milliseconds(0);
  auto mo = mux::options_from(md);
  if (!mo) return config_error("relay connector: " + mo.error().message);
  return ConnectorPtr(
      std::make_shared<RelayConnector>(args.auth, md.get_bool("nodelay"), timeout, std::move(*mo)));
}

}  // namespace gost::relay
