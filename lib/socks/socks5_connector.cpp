// SOCKS5 client: method negotiation (+ RFC 1929), CONNECT, UDP through GOST's UDP-over-TCP
// command 0xF3 (default, as GOST's connector does) or standard UDP ASSOCIATE (relay=udp), and
// remote binds: BIND (one connection), GOST's MUX-BIND 0xF2 (rtcp) and UDP-tun 0xF3 with a
// port (rudp).
#include <algorithm>
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <cstring>

#include "gost/core/bind.hpp"
#include "gost/core/timeout.hpp"
#include "gost/mux/session.hpp"
#include "gost/socks/socks.hpp"
#include "gost/tls/tls.hpp"
#include "socks/common.hpp"
#include "socks/muxbind.hpp"
#include "socks/udptun.hpp"

namespace gost::socks {
namespace {
using namespace detail;
using asio::ip::udp;

// Maps a SOCKS5 REP to an error. Target-side failures map to the codes the Router treats as the
// target's fault (the node stays healthy).
std::error_code reply_error(std::uint8_t rep) {
  switch (rep) {
    case kRepNotAllowed:
      return make_error_code(errc::forbidden);
    case kRepNetworkUnreachable:
    case kRepHostUnreachable:
    case kRepTtlExpired:
      return make_error_code(errc::host_unreachable);
    case kRepConnectionRefused:
      return make_error_code(errc::connection_refused);
    case kRepCommandNotSupported:
    case kRepAddressNotSupported:
      return make_error_code(errc::unsupported);
    default:
      return make_error_code(errc::proxy_error);
  }
}

// The UDP side of an association: a UDP socket connected to the relay, plus the control stream,
// read by a watcher task until its end (which ends the association: the socket is closed).
struct UdpState {
  UdpState(StreamPtr c, udp::socket s) : ctrl(std::move(c)), sock(std::move(s)) {}
  StreamPtr ctrl;
  udp::socket sock;
  bool closed = false;
  bool ctrl_ended = false;

  void close() {
    closed = true;
    ctrl->close();
    std::error_code ec;
    sock.close(ec);
  }
};

asio::awaitable<void> watch_control(std::shared_ptr<UdpState> st) {
  unsigned char buf[256];
  for (;;) {
    auto r = co_await st->ctrl->read_some(asio::buffer(buf));
    if (r.ec) break;
  }
  st->ctrl_ended = true;
  std::error_code ec;
  st->sock.close(ec);  // pending and later recv_from / send_to fail
}

class Socks5PacketConn final : public PacketConn {
 public:
  Socks5PacketConn(std::shared_ptr<UdpState> st, std::size_t buffer_size)
      : st_(std::move(st)), buf_(kMaxUdpHeader + buffer_size) {}
  ~Socks5PacketConn() override { close(); }

  asio::any_io_executor get_executor() override { return st_->sock.get_executor(); }

  asio::awaitable<PacketResult> recv_from(asio::mutable_buffer out) override {
    for (;;) {
      if (st_->closed || st_->ctrl_ended)
        co_return PacketResult{make_error_code(errc::closed), 0, {}};
      auto [ec, n] = co_await st_->sock.async_receive(asio::buffer(buf_), use_tuple);
      if (st_->ctrl_ended) co_return PacketResult{make_error_code(errc::closed), 0, {}};
      if (ec) co_return PacketResult{ec, 0, {}};
      auto h = parse_udp_header(Bytes(buf_.data(), n));
      if (!h.ok() || h.value.frag != 0) continue;  // not a standalone datagram: dropped
      const std::size_t len = std::min(out.size(), n - h.consumed);
      std::memcpy(out.data(), buf_.data() + h.consumed, len);
      co_return PacketResult{{}, len, std::move(h.value.addr)};
    }
  }

  asio::awaitable<std::error_code> send_to(asio::const_buffer data, Address to) override {
    if (st_->closed || st_->ctrl_ended) co_return make_error_code(errc::closed);
    std::vector<std::uint8_t> hdr;
    hdr.reserve(kMaxUdpHeader);
    if (auto ec = serialize(UdpHeader{0, 0, std::move(to)}, hdr)) co_return ec;
    std::array<asio::const_buffer, 2> bufs{asio::buffer(hdr), data};
    auto [ec, n] = co_await st_->sock.async_send(bufs, use_tuple);
    (void)n;
    co_return ec;
  }

  void close() noexcept override {
    if (!st_->closed) st_->close();
  }

  Address local_address() const override {
    std::error_code ec;
    auto ep = st_->sock.local_endpoint(ec);
    if (ec) return {};
    return Address(plain_ip(ep.address()).to_string(), ep.port());
  }

 private:
  std::shared_ptr<UdpState> st_;
  std::vector<unsigned char> buf_;
};

// How long the proxy may take to name the peer on a stream of a MUX-BIND session.
constexpr std::chrono::milliseconds kHelloTimeout{10000};

// The hello on each MUX-BIND stream: a SOCKS5 reply naming the peer.
asio::awaitable<Result<Address>> read_reply_hello(StreamReader& reader) {
  auto rep = co_await read_message(&reader, parse_reply);
  if (!rep) co_return rep.error();
  if (rep->reply != kRepSucceeded) co_return reply_error(rep->reply);
  co_return std::move(rep->addr);
}

// Plain BIND (RFC 1928 §4): the second reply names the peer that connected, then the control
// connection carries its bytes. One connection: later accept() calls fail with errc::closed.
class BindOnceListener final : public Listener {
 public:
  BindOnceListener(StreamPtr conn, Address bound)
      : ex_(conn->get_executor()), st_(std::make_shared<State>()), bound_(std::move(bound)) {
    st_->conn = std::move(conn);
  }
  ~BindOnceListener() override {
    if (st_->conn) st_->conn->close();
  }
  std::error_code listen() override { return {}; }
  asio::awaitable<Result<StreamPtr>> accept() override {
    if (!st_->conn || st_->closed) co_return make_error_code(errc::closed);
    // Taken out only once the peer is named: a close() meanwhile still reaches it. No limit:
    // the peer may take its time to connect.
    StreamReader reader(*st_->conn, kHandshakeBuffer);
    auto peer = co_await read_reply_hello(reader);
    StreamPtr c = std::move(st_->conn);
    if (!peer) {
      if (c) c->close();
      co_return peer.error();
    }
    if (!c || st_->closed) co_return make_error_code(errc::closed);
    auto rest = reader.take_rest();
    co_return with_addresses(make_prefixed(std::move(c), std::move(rest)), bound_,
                             std::move(*peer));
  }
  Address address() const override { return bound_; }
  asio::any_io_executor get_executor() override { return ex_; }
  void close() noexcept override {
    // Thread-safe: the stream is closed on its own executor.
    asio::post(ex_, [st = st_] {
      st->closed = true;
      if (st->conn) st->conn->close();
    });
  }

 private:
  struct State {
    StreamPtr conn;
    bool closed = false;
  };
  asio::any_io_executor ex_;
  std::shared_ptr<State> st_;
  Address bound_;
};

class Socks5Connector final : public Connector {
 public:
  Socks5Connector(const ConnectorArgs& a, std::shared_ptr<tls::ClientContext> tls,
                  mux::Options mux_opts)
      : auth_(a.auth),
        node_addr_(a.node_addr),
        timeout_(a.metadata.get_duration("connectTimeout",
                                         a.metadata.get_duration("timeout",
                                                                 std::chrono::milliseconds(0)))),
        udp_tun_(a.metadata.get_string("relay") != "udp"),
        tls_(std::move(tls)),
        mux_(std::move(mux_opts)) {
    std::int64_t bs = a.metadata.get_int("udp.bufferSize", a.metadata.get_int("udpBufferSize", 0));
    udp_buffer_ =
        bs > 0 ? static_cast<std::size_t>(std::clamp<std::int64_t>(bs, 512, 65535)) : 65535;
  }

  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s) override {
    auto r = co_await with_timeout(negotiate(std::move(s)), timeout_);
    if (!r) co_return make_error_code(errc::timeout);  // the stream died with the coroutine
    co_return std::move(*r);
  }

  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                             Address target) override {
    if (network == "udp" || network == "udp4" || network == "udp6") {
      auto pc = co_await associate(std::move(conn));
      if (!pc) co_return pc.error();
      co_return StreamPtr(std::make_unique<PacketTargetStream>(std::move(*pc), std::move(target)));
    }
    if (network != "tcp" && network != "tcp4" && network != "tcp6") {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    std::vector<unsigned char> rest;
    auto r =
        co_await with_timeout(request(conn.get(), kCmdConnect, std::move(target), &rest), timeout_);
    if (!r || !*r) {
      conn->close();
      co_return r ? r->error() : make_error_code(errc::timeout);
    }
    co_return make_prefixed(std::move(conn), std::move(rest));
  }

  asio::awaitable<Result<PacketConnPtr>> associate(StreamPtr conn) override {
    if (udp_tun_) co_return co_await associate_tun(std::move(conn));
    // The client's own address is unknown before it sends (and may be behind NAT): 0.0.0.0:0
    // (or [::]:0 over IPv6) tells the server to take it from the first datagram.
    auto lip = plain_ip(conn->local_address());
    Address want(lip && lip->is_v6() ? "::" : "0.0.0.0", 0);
    std::vector<unsigned char> rest;
    auto r = co_await with_timeout(request(conn.get(), kCmdUdpAssociate, want, &rest), timeout_);
    if (!r || !*r) {
      conn->close();
      co_return r ? r->error() : make_error_code(errc::timeout);
    }
    // BND 0.0.0.0 / :: means "the address you reached me at": the proxy's IP.
    Address relay = (*r)->addr;
    auto rip = plain_ip(relay);
    if (rip && rip->is_unspecified()) {
      rip = co_await proxy_ip(conn.get());
    } else if (!rip && !relay.host.empty()) {
      auto ips = co_await resolve(conn->get_executor(), relay.host);
      if (!ips.empty()) rip = ips.front();
    }
    if (!rip) {
      conn->close();
      co_return make_error_code(errc::proxy_error);
    }
    udp::endpoint ep(*rip, relay.port);
    udp::socket sock(conn->get_executor());
    std::error_code ec;
    sock.open(ep.protocol(), ec);
    if (!ec) sock.connect(ep, ec);
    if (ec) {
      conn->close();
      co_return ec;
    }
    auto ex = conn->get_executor();
    auto st = std::make_shared<UdpState>(std::move(conn), std::move(sock));
    asio::co_spawn(ex, watch_control(st), asio::detached);
    co_return PacketConnPtr(std::make_unique<Socks5PacketConn>(std::move(st), udp_buffer_));
  }

  // Remote binds, as GOST's connector does them: "tcp" with opts.mux asks for MUX-BIND (0xF2)
  // and serves the smux session the proxy opens on conn; "tcp" without it is a plain BIND (one
  // connection); "udp" is UDP-tun (0xF3) naming the port to bind, then UDP-tun frames.
  asio::awaitable<Result<ListenerPtr>> bind(StreamPtr conn, std::string network, Address addr,
                                            BindOptions opts) override {
    const bool udp = network == "udp" || network == "udp4" || network == "udp6";
    const bool tcp = network == "tcp" || network == "tcp4" || network == "tcp6";
    if (!udp && !tcp) {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    if (addr.host.empty()) addr.host = "0.0.0.0";  // GOST sends an empty host as IPv4 0.0.0.0
    const std::uint8_t cmd = udp        ? kCmdUdpTun
                             : opts.mux ? kCmdMuxBind
                                        : static_cast<std::uint8_t>(kCmdBind);
    std::vector<unsigned char> rest;
    auto r = co_await with_timeout(request(conn.get(), cmd, std::move(addr), &rest), timeout_);
    if (!r || !*r) {
      conn->close();
      co_return r ? r->error() : make_error_code(errc::timeout);
    }
    Address bound = std::move((*r)->addr);
    StreamPtr s = make_prefixed(std::move(conn), std::move(rest));
    if (udp) {
      PacketConnPtr pc = std::make_unique<UdpTunPacketConn>(std::move(s));
      co_return make_packet_listener(std::move(pc), std::move(bound), opts);
    }
    if (!opts.mux) co_return ListenerPtr(std::make_unique<BindOnceListener>(std::move(s), std::move(bound)));
    // The proxy is the smux client on this connection; this side serves.
    auto session = mux::Session::server(std::move(s), mux_);
    co_return make_mux_bind_listener(std::move(session), std::move(bound), &read_reply_hello,
                                     kHelloTimeout);
  }

 private:
  // GOST's UDP-over-TCP: command 0xF3 with 0.0.0.0:0 (an association), then UDP-tun frames on
  // the same stream.
  asio::awaitable<Result<PacketConnPtr>> associate_tun(StreamPtr conn) {
    Address any("0.0.0.0", 0);
    std::vector<unsigned char> rest;
    auto r = co_await with_timeout(request(conn.get(), kCmdUdpTun, any, &rest), timeout_);
    if (!r || !*r) {
      conn->close();
      co_return r ? r->error() : make_error_code(errc::timeout);
    }
    co_return PacketConnPtr(
        std::make_unique<UdpTunPacketConn>(make_prefixed(std::move(conn), std::move(rest))));
  }

  // All addresses of host (IPv4 first), bounded by connectTimeout (10 s when unset).
  asio::awaitable<std::vector<asio::ip::address>> resolve(asio::any_io_executor ex,
                                                          std::string host) {
    udp::resolver res(ex);
    auto limit = timeout_.count() > 0 ? timeout_ : std::chrono::milliseconds(10000);
    auto r = co_await with_timeout(res.async_resolve(host, "0", use_tuple), limit);
    std::vector<asio::ip::address> v4, v6;
    if (!r) co_return v4;
    auto& [ec, eps] = *r;
    if (ec) co_return v4;
    for (const auto& e : eps) {
      auto ip = plain_ip(e.endpoint().address());
      (ip.is_v4() ? v4 : v6).push_back(ip);
    }
    v4.insert(v4.end(), v6.begin(), v6.end());
    co_return v4;
  }

  // The proxy's IP, for a relay announced as 0.0.0.0 / ::. The peer of the control connection
  // is the proxy when it was reached directly; when this node sits behind other hops, that peer
  // is the first hop, so the node's configured address is preferred (keeping the peer's IP when
  // it is one of the names' addresses).
  asio::awaitable<std::optional<asio::ip::address>> proxy_ip(Stream* conn) {
    auto peer = plain_ip(conn->remote_address());
    if (node_addr_.host.empty()) co_return peer;
    if (auto ip = plain_ip(node_addr_)) co_return ip;
    auto ips = co_await resolve(conn->get_executor(), node_addr_.host);
    if (peer && std::find(ips.begin(), ips.end(), *peer) != ips.end()) co_return peer;
    if (!ips.empty()) co_return ips.front();
    co_return peer;
  }

  // Method selection (RFC 1928 §3) with GOST's offer (NO AUTH, USER/PASS with credentials, TLS
  // 0x80 and TLS-auth 0x82 unless notls), then TLS and / or username/password (RFC 1929).
  // Returns the stream to go on with (the TLS stream after 0x80 / 0x82); closes s on error.
  asio::awaitable<Result<StreamPtr>> negotiate(StreamPtr s) {
    MethodRequest mreq;
    mreq.methods.push_back(kMethodNoAuth);
    if (auth_) mreq.methods.push_back(kMethodUserPass);
    if (tls_) {
      mreq.methods.push_back(kMethodTls);
      if (auth_) mreq.methods.push_back(kMethodTlsAuth);
    }
    std::vector<std::uint8_t> out;
    (void)serialize(mreq, out);
    if (auto ec = co_await write_bytes(s.get(), std::move(out))) {
      s->close();
      co_return ec;
    }
    auto reader = std::make_unique<StreamReader>(*s, kHandshakeBuffer);
    auto mrep = co_await read_message(reader.get(), parse_method_reply);
    if (!mrep) {
      s->close();
      co_return mrep.error();
    }
    const std::uint8_t m = mrep->method;
    const bool offered = std::find(mreq.methods.begin(), mreq.methods.end(), m) != mreq.methods.end();
    if (m == kMethodNoAcceptable || !offered) {
      s->close();
      co_return make_error_code(m == kMethodNoAcceptable ? errc::auth_required : errc::bad_request);
    }
    if (m == kMethodTls || m == kMethodTlsAuth) {
      auto rest = reader->take_rest();
      reader.reset();
      auto t = co_await tls::client_handshake(make_prefixed(std::move(s), std::move(rest)), tls_,
                                              node_addr_.host);
      if (!t) co_return t.error();  // closed by client_handshake
      s = std::move(*t);
      reader = std::make_unique<StreamReader>(*s, kHandshakeBuffer);
    }
    if (m == kMethodUserPass || m == kMethodTlsAuth) {
      out.clear();
      std::error_code ec;
      if (!auth_) {
        ec = make_error_code(errc::auth_required);
      } else if (auto sec = serialize(UserPassRequest{auth_->username, auth_->password}, out)) {
        ec = sec;
      } else if (auto wec = co_await write_bytes(s.get(), std::move(out))) {
        ec = wec;
      } else {
        auto urep = co_await read_message(reader.get(), parse_userpass_reply);
        if (!urep) {
          ec = urep.error();
        } else if (urep->status != kUserPassSuccess) {
          ec = make_error_code(errc::auth_failed);
        }
      }
      if (ec) {
        s->close();
        co_return ec;
      }
    }
    auto rest = reader->take_rest();
    reader.reset();
    co_return make_prefixed(std::move(s), std::move(rest));
  }

  // Sends a request and reads its reply; a REP other than 0 is an error.
  asio::awaitable<Result<Reply>> request(Stream* s, std::uint8_t cmd, Address addr,
                                         std::vector<unsigned char>* rest) {
    std::vector<std::uint8_t> out;
    if (auto ec = serialize(Request{cmd, std::move(addr)}, out)) co_return ec;
    if (auto ec = co_await write_bytes(s, std::move(out))) co_return ec;
    StreamReader reader(*s, kHandshakeBuffer);
    auto rep = co_await read_message(&reader, parse_reply);
    if (!rep) co_return rep.error();
    if (rep->reply != kRepSucceeded) co_return reply_error(rep->reply);
    *rest = reader.take_rest();
    co_return std::move(*rep);
  }

  std::optional<Credentials> auth_;
  Address node_addr_;
  std::chrono::milliseconds timeout_;
  std::size_t udp_buffer_ = 65535;
  bool udp_tun_ = true;
  std::shared_ptr<tls::ClientContext> tls_;  // null with notls
  mux::Options mux_;                         // MUX-BIND sessions (mux.* keys)
};

}  // namespace

Result<ConnectorPtr, ConfigError> make_socks5_connector(const ConnectorArgs& args) {
  if (args.auth && (args.auth->username.size() > 255 || args.auth->password.size() > 255)) {
    return config_error("socks5 connector: user name and password must be at most 255 bytes each");
  }
  std::shared_ptr<tls::ClientContext> tls;
  if (!args.metadata.get_bool("notls")) {
    // GOST offers TLS (0x80 / 0x82) and skips certificate checks unless secure=true.
    auto ctx = tls::make_client_context(tls::client_options_from(args.metadata));
    if (!ctx) return config_error("socks5 connector: TLS: " + ctx.error().message());
    tls = std::move(*ctx);
  }
  auto mo = mux::options_from(args.metadata);
  if (!mo) return config_error("socks5 connector: " + mo.error().message);
  return ConnectorPtr(std::make_shared<Socks5Connector>(args, std::move(tls), std::move(*mo)));
}

}  // namespace gost::socks
