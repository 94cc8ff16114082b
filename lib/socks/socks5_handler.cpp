// SOCKS5 server (RFC 1928) with username/password authentication (RFC 1929): CONNECT, BIND and
// UDP ASSOCIATE.
#include <algorithm>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <cstring>
#include <random>

#include "gost/core/bridge.hpp"
#include "gost/core/deadline.hpp"
#include "gost/core/timeout.hpp"
#include "gost/socks/socks.hpp"
#include "gost/tls/tls.hpp"
#include "socks/common.hpp"
#include "socks/muxbind.hpp"
#include "socks/udptun.hpp"

namespace gost::socks {
namespace {
using namespace detail;
using clock_type = std::chrono::steady_clock;

struct Shared {
  HandlerArgs args;
  HandlerConfig cfg;
  std::shared_ptr<tls::ServerContext> tls;  // null with notls: methods 0x80/0x82 not offered
};

// One UDP association: the client-facing relay socket, the upstream PacketConn and the control
// connection whose end ends it. Its four tasks run under one `&&`; each one, when it ends,
// closes everything so the others end too (closing works whatever cancellation an upstream
// PacketConn supports).
class UdpAssociation {
 public:
  UdpAssociation(asio::any_io_executor ex, Stream* ctrl, PacketConnPtr relay,
                 PacketConnPtr upstream, asio::ip::address client_ip, const Shared* sh,
                 ConnRecord* rec)
      : ctrl_(ctrl),
        relay_(std::move(relay)),
        upstream_(std::move(upstream)),
        client_ip_(client_ip),
        sh_(sh),
        rec_(rec),
        idle_(ex) {}

  asio::awaitable<void> run() {
    using namespace asio::experimental::awaitable_operators;
    co_await (watch_control() && client_to_target() && target_to_client() && watch_idle());
  }

 private:
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    ctrl_->close();
    relay_->close();
    upstream_->close();
    idle_.cancel();
  }

  // The association lives as long as the control connection (RFC 1928 §7): read it to its end.
  asio::awaitable<void> watch_control() {
    unsigned char buf[512];
    while (!stopped_) {
      auto r = co_await ctrl_->read_some(asio::buffer(buf));
      if (r.ec) {
        if (r.ec != asio::error::eof && r.ec != asio::error::operation_aborted && !stopped_)
          rec_->ec = r.ec;
        break;
      }
    }
    stop();
  }

  static bool transient(const std::error_code& ec) {
    return ec == asio::error::connection_refused || ec == asio::error::connection_reset ||
           ec == asio::error::host_unreachable || ec == asio::error::network_unreachable ||
           ec == asio::error::message_size || ec == asio::error::no_buffer_space;
  }

  asio::awaitable<void> client_to_target() {
    std::vector<unsigned char> buf(sh_->cfg.udp_buffer);
    while (!stopped_) {
      auto r = co_await relay_->recv_from(asio::buffer(buf));
      if (stopped_) break;
      if (r.ec) {
        if (transient(r.ec)) continue;
        break;
      }
      // Only the client that opened the association may use it (RFC 1928 §7). The checks and
      // the header's parse are remembered for the last sender and the last header bytes, so a
      // steady flow costs two comparisons per datagram, not a parse and a format.
      if (!client_ || r.from != *client_) {
        auto from_ip = plain_ip(r.from);
        if (!from_ip || *from_ip != client_ip_) continue;
        client_ = r.from;
        reply_hdr_for_.reset();
      }
      if (!(hdr_len_ > 0 && r.bytes >= hdr_len_ &&
            std::memcmp(buf.data(), hdr_.data(), hdr_len_) == 0)) {
        hdr_len_ = 0;
        auto h = parse_udp_header(Bytes(buf.data(), r.bytes));
        if (!h.ok() || h.value.frag != 0) continue;  // malformed, or a fragment: dropped
        hdr_target_ = h.value.addr.to_string();
        hdr_addr_ = std::move(h.value.addr);
        hdr_len_ = h.consumed;
        hdr_.assign(buf.data(), buf.data() + h.consumed);
      }
      if (sh_->args.bypass && sh_->args.bypass->contains(
                                  "udp", hdr_target_, BypassOptions{sh_->args.service, {}, {}})) {
        continue;
      }
      if (rec_->target.empty()) rec_->target = hdr_target_;
      const std::size_t n = r.bytes - hdr_len_;
      auto ec = co_await upstream_->send_to(asio::buffer(buf.data() + hdr_len_, n), hdr_addr_);
      if (stopped_) break;
      if (!ec) {
        rec_->bytes_up += n;
        last_ = clock_type::now();
      }
    }
    stop();
  }

  asio::awaitable<void> target_to_client() {
    // Data is received after room for the largest header, which is then written in front of it.
    std::vector<unsigned char> buf(kMaxUdpHeader + sh_->cfg.udp_buffer);
    std::vector<std::uint8_t> hdr;
    hdr.reserve(kMaxUdpHeader);
    while (!stopped_) {
      auto r = co_await upstream_->recv_from(
          asio::buffer(buf.data() + kMaxUdpHeader, sh_->cfg.udp_buffer));
      if (stopped_) break;
      if (r.ec) {
        if (transient(r.ec)) continue;
        break;
      }
      if (!client_) continue;  // no datagram from the client yet: nowhere to send
      if (!reply_hdr_for_ || r.from != *reply_hdr_for_) {  // the header for this source, once
        hdr.clear();
        reply_hdr_for_.reset();
        UdpHeader h;
        h.addr = r.from.is_ip() ? reply_address(r.from) : r.from;
        if (serialize(h, hdr)) continue;
        reply_hdr_for_ = r.from;
      }
      unsigned char* start = buf.data() + kMaxUdpHeader - hdr.size();
      std::memcpy(start, hdr.data(), hdr.size());
      auto ec = co_await relay_->send_to(asio::buffer(start, hdr.size() + r.bytes), *client_);
      if (stopped_) break;
      if (!ec) {
        rec_->bytes_down += r.bytes;
        last_ = clock_type::now();
      }
    }
    stop();
  }

  // Ends the association after `ttl` without a datagram either way (ttl 0: never).
  asio::awaitable<void> watch_idle() {
    const auto ttl = sh_->cfg.udp_ttl;
    while (!stopped_) {
      idle_.expires_at(ttl.count() > 0 ? last_ + ttl : clock_type::time_point::max());
      co_await idle_.async_wait(use_tuple);
      if (stopped_) break;
      if (ttl.count() > 0 && clock_type::now() - last_ >= ttl) {
        rec_->ec = make_error_code(errc::timeout);
        break;
      }
    }
    stop();
  }

  Stream* ctrl_;
  PacketConnPtr relay_;
  PacketConnPtr upstream_;
  asio::ip::address client_ip_;
  const Shared* sh_;
  ConnRecord* rec_;
  asio::steady_timer idle_;
  std::optional<Address> client_;
  // The last client header seen (its bytes, length and target) and the source the reply header in
  // target_to_client() was built for.
  std::vector<unsigned char> hdr_;
  std::size_t hdr_len_ = 0;
  Address hdr_addr_;
  std::string hdr_target_;
  std::optional<Address> reply_hdr_for_;
  clock_type::time_point last_ = clock_type::now();
  bool stopped_ = false;
};

// One client connection.
class Session {
 public:
  Session(std::shared_ptr<const Shared> sh, StreamPtr conn, ConnRecord& rec)
      : sh_(std::move(sh)), conn_(std::move(conn)), rec_(rec) {
    reader_.emplace(*conn_, kHandshakeBuffer);
  }

  asio::awaitable<void> run() {
    // readTimeout bounds the whole handshake: a deadline that closes the connection when it
    // passes (which ends the pending read), instead of a parallel group or a timer per connection.
    if (sh_->cfg.read_timeout.count() > 0) {
      deadline_.arm(conn_->get_executor(), sh_->cfg.read_timeout,
                    [](void* self) { static_cast<Session*>(self)->handshake_expired(); }, this);
    }
    auto hs = co_await handshake();
    deadline_.disarm();
    if (expired_) {
      rec_.ec = make_error_code(errc::timeout);
      rec_.error = "socks5 handshake timed out";
      if (conn_) conn_->close();
      co_return;
    }
    if (hs) {
      if (!rec_.ec) rec_.ec = hs;
      if (conn_) conn_->close();
      co_return;
    }
    rec_.target = req_.addr.to_string();
    switch (req_.command) {
      case kCmdConnect:
        co_await connect();
        break;
      case kCmdBind:
        co_await bind();
        break;
      case kCmdUdpAssociate:
        co_await associate();
        break;
      case kCmdUdpTun:
        co_await udp_tun();
        break;
      case kCmdMuxBind:
        co_await mux_bind();
        break;
      default:
        co_await fail(kRepCommandNotSupported, make_error_code(errc::unsupported));
        break;
    }
    if (conn_) conn_->close();  // udp_tun() hands it over
  }

 private:
  void handshake_expired() {
    expired_ = true;
    if (conn_) conn_->close();
  }

  asio::awaitable<std::error_code> reply(std::uint8_t code, Address addr) {
    std::vector<std::uint8_t> out;
    if (serialize(Reply{code, std::move(addr)}, out))
      serialize(Reply{code, Address("0.0.0.0", 0)}, out);
    co_return co_await write_bytes(conn_.get(), std::move(out));
  }

  // No class-type default arguments on coroutines (GCC 12 destroys such temporaries twice).
  asio::awaitable<void> fail(std::uint8_t code, std::error_code ec, const char* why) {
    Address none("0.0.0.0", 0);
    co_await reply(code, std::move(none));
    rec_.ec = ec;
    if (why) rec_.error = why;
  }
  asio::awaitable<void> fail(std::uint8_t code, std::error_code ec) {
    return fail(code, ec, nullptr);
  }

  // Method selection, authentication and the request: bounded by readTimeout as a whole.
  asio::awaitable<std::error_code> handshake() {
    auto mr = co_await read_message(&*reader_, parse_method_request);
    if (!mr) co_return mr.error();
    const auto& methods = mr->methods;
    auto offered = [&](std::uint8_t m) {
      return std::find(methods.begin(), methods.end(), m) != methods.end();
    };
    // GOST's order: TLS-auth / user-pass with an auther; TLS / no-auth without one. TLS only
    // between GOST peers (third-party clients never offer 0x80 / 0x82) and unless notls.
    const bool tls_ok = sh_->tls != nullptr;
    std::uint8_t method = kMethodNoAcceptable;
    if (sh_->args.auther) {
      if (tls_ok && offered(kMethodTlsAuth)) {
        method = kMethodTlsAuth;
      } else if (offered(kMethodUserPass)) {
        method = kMethodUserPass;
      }
    } else if (tls_ok && offered(kMethodTls)) {
      method = kMethodTls;
    } else if (offered(kMethodNoAuth)) {
      method = kMethodNoAuth;
    } else if (offered(kMethodUserPass)) {
      method = kMethodUserPass;  // no auther: any credentials are accepted
    }
    std::vector<std::uint8_t> out;
    (void)serialize(MethodReply{method}, out);
    if (auto ec = co_await write_bytes(conn_.get(), std::move(out))) co_return ec;
    if (method == kMethodNoAcceptable) {
      co_return make_error_code(sh_->args.auther ? errc::auth_required : errc::unsupported);
    }
    if (method == kMethodTls || method == kMethodTlsAuth) {
      // The TLS handshake follows the method reply; bytes already read belong to it.
      auto rest = reader_->take_rest();
      reader_.reset();
      // conn_ is out of the session's hands meanwhile: this step has its own limit.
      auto t = co_await with_timeout(
          tls::server_handshake(make_prefixed(std::move(conn_), std::move(rest)), sh_->tls),
          sh_->cfg.read_timeout);
      if (!t) {
        expired_ = true;
        co_return make_error_code(errc::timeout);
      }
      if (!*t) co_return t->error();
      conn_ = std::move(**t);
      reader_.emplace(*conn_, kHandshakeBuffer);
    }
    if (method == kMethodUserPass || method == kMethodTlsAuth) {
      auto up = co_await read_message(&*reader_, parse_userpass_request);
      if (!up) co_return up.error();
      bool ok = true;
      if (sh_->args.auther) {
        // Named, not a braced temporary: GCC 12 mis-copies aggregate temporaries passed to
        // coroutines.
        AuthOptions ao;
        ao.service = sh_->args.service;
        ao.client = rec_.client;
        auto id =
            co_await sh_->args.auther->authenticate(up->username, up->password, std::move(ao));
        ok = id.has_value();
        if (ok) rec_.user = *id;
      }
      out.clear();
      (void)serialize(UserPassReply{ok ? kUserPassSuccess : kUserPassFailure}, out);
      auto wec = co_await write_bytes(conn_.get(), std::move(out));
      if (!ok) {
        rec_.error = "socks5: authentication failed for user \"" + up->username + "\"";
        co_return make_error_code(errc::auth_failed);
      }
      if (wec) co_return wec;
    }
    auto rq = co_await read_message(&*reader_, parse_request);
    if (!rq) {
      if (rq.error() == errc::unsupported) {
        Address none("0.0.0.0", 0);
        co_await reply(kRepAddressNotSupported, std::move(none));
        rec_.error = "socks5: address type not supported";
      }
      co_return rq.error();
    }
    req_ = std::move(*rq);
    co_return std::error_code{};
  }

  asio::awaitable<void> connect() {
    const auto& target = req_.addr;
    const std::string ts = target.to_string();
    if (sh_->args.bypass &&
        sh_->args.bypass->contains("tcp", ts, BypassOptions{sh_->args.service, {}, {}})) {
      co_await fail(kRepNotAllowed, make_error_code(errc::bypassed));
      co_return;
    }
    DialInfo info;
    auto out = co_await sh_->args.router->dial(
        "tcp", target, select_options(rec_, "tcp", target, sh_->cfg.hash_host), &info);
    rec_.route = info.route;
    if (!out) {
      co_await fail(socks5_reply_code(out.error()), out.error());
      co_return;
    }
    // BND.ADDR is 0.0.0.0:0, as GOST (and microsocks) send it: the outgoing connection's own
    // address would cost a getsockname() per connection and tell the client about the proxy's
    // network, and clients do not use it for CONNECT.
    if (auto ec = co_await reply(kRepSucceeded, Address("0.0.0.0", 0))) {
      rec_.ec = ec;
      (*out)->close();
      co_return;
    }
    std::vector<unsigned char> early;
    co_await relay(std::move(*out), std::move(early));
  }

  // Bridges the client (with the bytes it sent past the request) and out.
  asio::awaitable<void> relay(StreamPtr out, std::vector<unsigned char> early) {
    auto rest = reader_->take_rest();
    rest.insert(rest.end(), early.begin(), early.end());
    // The service runs the relay once this handler has returned (no frame kept while idle).
    rec_.relay(make_prefixed(std::move(conn_), std::move(rest)), std::move(out));
    co_return;
  }

  asio::awaitable<void> bind() {
    if (!sh_->cfg.enable_bind) {
      // GOST answers a disabled BIND with 0x02 (not allowed by ruleset).
      co_await fail(kRepNotAllowed, make_error_code(errc::forbidden), "socks5: BIND is disabled");
      co_return;
    }
    if (sh_->args.router->chain()) {
      co_await fail(kRepCommandNotSupported, make_error_code(errc::unsupported),
                    "socks5: BIND through a chain is not supported");
      co_return;
    }
    auto local = plain_ip(conn_->local_address());
    if (!local) {
      co_await fail(kRepGeneralFailure, make_error_code(errc::unsupported),
                    "socks5: no local address to bind on");
      co_return;
    }
    // GOST binds the requested port when the client asks for one on an unspecified address
    // (rtcp-style); RFC clients send the expected peer there, so otherwise the port is the OS's.
    std::uint16_t port = 0;
    if (auto rip = req_.addr.ip(); rip && rip->is_unspecified()) port = req_.addr.port;
    asio::ip::tcp::acceptor acc(conn_->get_executor());
    if (auto ec = open_bind_acceptor(acc, *local, port)) {
      co_await fail(kRepGeneralFailure, ec);
      co_return;
    }
    std::error_code ec;
    auto bound = acc.local_endpoint(ec);
    if (ec || co_await reply(kRepSucceeded, endpoint_address(bound))) {
      rec_.ec = ec;
      co_return;
    }
    std::vector<unsigned char> early;
    auto peer = co_await accept_bind_peer(conn_.get(), &acc, sh_->cfg.bind_timeout, &early);
    acc.close(ec);
    if (!peer) {
      rec_.ec = peer.error();
      if (peer.error() == errc::timeout) {
        Address none("0.0.0.0", 0);
        co_await reply(kRepTtlExpired, std::move(none));
      }
      co_return;
    }
    auto peer_ep = peer->remote_endpoint(ec);
    Address peer_addr = ec ? Address("0.0.0.0", 0) : endpoint_address(peer_ep);
    rec_.target = peer_addr.to_string();
    rec_.route = "direct";
    if (auto wec = co_await reply(kRepSucceeded, peer_addr)) {
      rec_.ec = wec;
      co_return;
    }
    StreamPtr out = std::make_unique<TcpStream>(std::move(*peer));
    co_await relay(std::move(out), std::move(early));
  }

  Result<PacketConnPtr> open_relay_socket(const asio::ip::address& ip) {
    const auto& c = sh_->cfg;
    auto ex = conn_->get_executor();
    if (c.udp_bind_min == 0) return open_udp(ex, Address(ip.to_string(), 0));
    const unsigned span = static_cast<unsigned>(c.udp_bind_max - c.udp_bind_min) + 1;
    const unsigned attempts = std::min(span, 64u);
    thread_local std::minstd_rand rng(std::random_device{}());
    const unsigned offset = static_cast<unsigned>(rng() % span);
    std::error_code last = make_error_code(errc::unsupported);
    for (unsigned i = 0; i < attempts; ++i) {
      auto port = static_cast<std::uint16_t>(c.udp_bind_min + (offset + i) % span);
      auto pc = open_udp(ex, Address(ip.to_string(), port));
      if (pc) return pc;
      last = pc.error();
      if (last != asio::error::address_in_use) break;
    }
    return last;
  }

  asio::awaitable<void> associate() {
    rec_.network = "udp";
    if (!sh_->cfg.enable_udp) {
      // GOST answers a disabled UDP ASSOCIATE with 0x02 (not allowed by ruleset).
      co_await fail(kRepNotAllowed, make_error_code(errc::forbidden), "socks5: UDP relay is disabled");
      co_return;
    }
    rec_.target.clear();
    auto local = plain_ip(conn_->local_address());
    auto client_ip = plain_ip(conn_->remote_address());
    if (!local || !client_ip) {
      co_await fail(kRepGeneralFailure, make_error_code(errc::unsupported),
                    "socks5: UDP ASSOCIATE needs an IP connection");
      co_return;
    }
    auto relay = open_relay_socket(*local);
    if (!relay) {
      co_await fail(kRepGeneralFailure, relay.error());
      co_return;
    }
    DialInfo info;
    SelectOptions sel;
    sel.network = "udp";
    sel.client_id = rec_.user;
    sel.client = rec_.client;
    auto upstream = co_await sh_->args.router->associate(sel, &info);
    rec_.route = info.route;
    if (!upstream) {
      co_await fail(socks5_reply_code(upstream.error()), upstream.error());
      co_return;
    }
    Address bnd((*relay)->local_address());
    bnd.host = sh_->cfg.public_addr.empty() ? local->to_string() : sh_->cfg.public_addr;
    if (auto ec = co_await reply(kRepSucceeded, bnd)) {
      rec_.ec = ec;
      co_return;
    }
    UdpAssociation a(conn_->get_executor(), conn_.get(), std::move(*relay), std::move(*upstream),
                     *client_ip, sh_.get(), &rec_);
    co_await a.run();
  }

  // GOST's MUX-BIND (0xF2, what GOST's rtcp asks for): listen on the requested address, reply
  // with the bound address, then the control connection becomes an smux session (this side
  // the smux client) with one stream per inbound connection, each starting with a SOCKS5
  // reply naming the peer (none with comp=true).
  asio::awaitable<void> mux_bind() {
    if (!sh_->cfg.enable_bind) {
      co_await fail(kRepNotAllowed, make_error_code(errc::forbidden), "socks5: BIND is disabled");
      co_return;
    }
    asio::ip::tcp::acceptor acc(conn_->get_executor());
    Address where = req_.addr;
    if (!where.is_ip()) where.host.clear();
    if (auto ec = listen_tcp(acc, where)) {
      co_await fail(kRepGeneralFailure, ec);
      co_return;
    }
    std::error_code ec;
    auto bound = acc.local_endpoint(ec);
    Address bnd = reply_address(conn_->local_address());
    if (!sh_->cfg.public_addr.empty()) bnd.host = sh_->cfg.public_addr;
    bnd.port = ec ? 0 : bound.port();
    rec_.target = endpoint_address(bound).to_string();
    rec_.route = "direct";
    if (auto wec = co_await reply(kRepSucceeded, bnd)) {
      rec_.ec = wec;
      co_return;
    }
    const bool compat = sh_->cfg.compat;
    BindHello hello = [compat](const Address& peer) {
      std::vector<std::uint8_t> out;
      if (!compat) (void)serialize(Reply{kRepSucceeded, peer}, out);
      return out;
    };
    auto res = co_await serve_mux_bind(make_prefixed(std::move(conn_), reader_->take_rest()),
                                       std::move(acc), sh_->cfg.mux, std::move(hello));
    if (res.ec) rec_.ec = res.ec;
  }

  // GOST's UDP over TCP (0xF3): port 0 is a UDP association through the router (needs udp),
  // a non-zero port a UDP socket bound here (needs bind); then the stream carries UDP-tun frames.
  asio::awaitable<void> udp_tun() {
    rec_.network = "udp";
    rec_.target.clear();
    PacketConnPtr pc;
    if (req_.addr.port == 0) {
      if (!sh_->cfg.enable_udp) {
        co_await fail(kRepNotAllowed, make_error_code(errc::forbidden),
                      "socks5: UDP relay is disabled");
        co_return;
      }
      DialInfo info;
      SelectOptions sel;
      sel.network = "udp";
      sel.client_id = rec_.user;
      sel.client = rec_.client;
      auto upstream = co_await sh_->args.router->associate(sel, &info);
      rec_.route = info.route;
      if (!upstream) {
        co_await fail(socks5_reply_code(upstream.error()), upstream.error());
        co_return;
      }
      pc = std::move(*upstream);
    } else {
      if (!sh_->cfg.enable_bind) {
        co_await fail(kRepNotAllowed, make_error_code(errc::forbidden),
                      "socks5: BIND is disabled");
        co_return;
      }
      Address where = req_.addr;
      if (!where.is_ip()) where.host = "0.0.0.0";
      auto bound = open_udp(conn_->get_executor(), where);
      if (!bound) {
        co_await fail(kRepGeneralFailure, bound.error());
        co_return;
      }
      rec_.route = "direct";
      pc = std::move(*bound);
    }
    Address bnd = pc->local_address();
    if (!bnd.is_ip()) bnd = Address("0.0.0.0", bnd.port);
    if (auto ec = co_await reply(kRepSucceeded, reply_address(bnd))) {
      rec_.ec = ec;
      co_return;
    }
    UdpTunPacketConn client(make_prefixed(std::move(conn_), reader_->take_rest()));
    UdpRelayOptions o;
    o.service = sh_->args.service;
    o.bypass = sh_->args.bypass;
    o.buffer = sh_->cfg.udp_buffer;
    o.ttl = sh_->cfg.udp_ttl;
    auto res = co_await relay_packets(client, *pc, std::move(o));
    rec_.bytes_up = res.bytes_up;
    rec_.bytes_down = res.bytes_down;
    rec_.target = res.first_target;
    if (res.ec) rec_.ec = res.ec;
  }

  std::shared_ptr<const Shared> sh_;
  StreamPtr conn_;
  ConnRecord& rec_;
  std::optional<StreamReader> reader_;  // re-made over the TLS stream after 0x80 / 0x82
  Request req_;
  bool expired_ = false;  // readTimeout passed during the handshake
  core::Deadline deadline_;  // last: disarmed before the members its callback touches go
};

class Socks5Handler final : public Handler {
 public:
  explicit Socks5Handler(std::shared_ptr<const Shared> sh) : sh_(std::move(sh)) {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.protocol = "socks5";
    Session s(sh_, std::move(conn), rec);
    co_await s.run();
  }

 private:
  std::shared_ptr<const Shared> sh_;
};

}  // namespace

Result<HandlerPtr, ConfigError> make_socks5_handler(const HandlerArgs& args) {
  auto cfg = parse_handler_config(args, "socks5");
  if (!cfg) return cfg.error();
  auto sh = std::make_shared<Shared>();
  sh->args = args;
  sh->cfg = *cfg;
  if (!args.metadata.get_bool("notls")) {
    // GOST gives every handler a TLS config (a generated self-signed certificate by default).
    auto ctx = tls::make_server_context(tls::server_options_from(args.metadata));
    if (!ctx) {
      return config_error("service \"" + args.service + "\": socks5 handler: TLS: " +
                          ctx.error().message());
    }
    sh->tls = std::move(*ctx);
  }
  return HandlerPtr(std::make_shared<Socks5Handler>(std::move(sh)));
}

}  // namespace gost::socks
