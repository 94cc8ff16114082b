// The "ss" and "ssu" handlers (servers).
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/this_coro.hpp>

#include "gost/core/bridge.hpp"
#include "gost/core/timeout.hpp"
#include "gost/ss/ss.hpp"
#include "ss/common.hpp"
#include "ss/stream.hpp"
#include "ss/udp.hpp"

namespace gost::ss {
namespace detail {

Result<std::shared_ptr<const Keys>, ConfigError> keys_from(const std::optional<Credentials>& auth,
                                                           const Metadata& md, bool server,
                                                           const std::string& what) {
  if (!auth || auth->username.empty()) {
    return config_error(what + ": auth is required (method:password, e.g. " +
                        "ss://aes-128-gcm:pass@host:port)");
  }
  std::map<std::string, std::string> users;
  if (server) users = md.get_string_map("users");
  auto k = make_keys(auth->username, auth->password, users);
  if (!k) return config_error(what + ": " + k.error());
  auto keys = std::make_shared<Keys>(std::move(*k));
  if (server) keys->filter = std::make_shared<SaltFilter>();
  return std::shared_ptr<const Keys>(std::move(keys));
}

}  // namespace detail

namespace {
using namespace detail;

struct Config {
  HandlerArgs args;
  std::shared_ptr<const Keys> keys;
  std::chrono::milliseconds read_timeout{15000};
  bool hash_host = false;
  std::size_t udp_buffer = kMaxDatagram;
};

Result<std::shared_ptr<Config>, ConfigError> parse(const HandlerArgs& a, const std::string& name) {
  auto c = std::make_shared<Config>();
  c->args = a;
  auto k = keys_from(a.auth, a.metadata, true, "service \"" + a.service + "\": " + name);
  if (!k) return k.error();
  c->keys = std::move(*k);
  auto rt = a.metadata.get_duration("readTimeout", std::chrono::milliseconds(0));
  if (rt.count() > 0) c->read_timeout = rt;
  c->hash_host = a.metadata.get_string("hash") == "host";
  auto ub = a.metadata.get_int("udp.bufferSize", a.metadata.get_int("udpBufferSize", 0));
  if (ub > 0) c->udp_buffer = static_cast<std::size_t>(std::clamp<std::int64_t>(ub, 512, 65535));
  if (!a.router) return config_error("service \"" + a.service + "\": no router");
  return c;
}

bool quiet_end(const std::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::operation_aborted ||
         ec == asio::error::connection_reset;
}

// Reads the request target; on bad crypto, a replay or garbage the stream is drained, not
// answered. Returns nullopt when the connection is finished.
asio::awaitable<std::optional<Address>> accept_request(SsStream* ss, const Config* cfg,
                                                       ConnRecord* rec) {
  auto t = co_await with_timeout(ss->read_target(), cfg->read_timeout);
  if (!t) {
    rec->ec = make_error_code(errc::timeout);
    ss->close();
    co_return std::nullopt;
  }
  if (!*t) {
    rec->ec = t->error();
    if (quiet_end(t->error())) {
      ss->close();
    } else {
      rec->error = "ss: bad request, draining";
      co_await ss->drain(cfg->read_timeout);
    }
    co_return std::nullopt;
  }
  rec->user = ss->user();
  co_return std::move(**t);
}

SelectOptions select_for(const ConnRecord& rec, const std::string& network, const Address& target,
                         bool hash_host) {
  SelectOptions sel;
  sel.network = network;
  sel.addr = target.to_string();
  sel.host = target.host;
  sel.client_id = rec.user;
  sel.client = rec.client;
  if (hash_host) sel.hash_key = target.host;
  return sel;
}

class SsHandler final : public Handler {
 public:
  explicit SsHandler(std::shared_ptr<Config> c) : cfg_(std::move(c)) {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.protocol = "ss";
    auto ss = std::make_unique<SsStream>(std::move(conn), cfg_->keys, SsStream::Role::server);
    auto target = co_await accept_request(ss.get(), cfg_.get(), &rec);
    if (!target) co_return;
    rec.target = target->to_string();
    if (cfg_->args.bypass &&
        cfg_->args.bypass->contains("tcp", rec.target, BypassOptions{cfg_->args.service, {}, {}})) {
      rec.ec = make_error_code(errc::bypassed);
      ss->close();
      co_return;
    }
    DialInfo info;
    auto out = co_await cfg_->args.router->dial(
        "tcp", *target, select_for(rec, "tcp", *target, cfg_->hash_host), &info);
    rec.route = info.route;
    if (!out) {
      rec.ec = out.error();
      ss->close();
      co_return;
    }
    // The service runs the relay once this handler has returned (no frame kept while idle).
    rec.relay(std::move(ss), std::move(*out));
  }

 private:
  std::shared_ptr<Config> cfg_;
};

// The client side of one ssu session: where datagrams come from and replies go.
class ClientSide {
 public:
  virtual ~ClientSide() = default;
  // Next datagram: its target and data (data valid until the next call).
  virtual asio::awaitable<std::error_code> recv(Address* target, const std::uint8_t** data,
                                                std::size_t* n) = 0;
  virtual asio::awaitable<std::error_code> send(Address from, const std::uint8_t* data,
                                                std::size_t n) = 0;
  virtual void close() noexcept = 0;
};

class PacketSide final : public ClientSide {
 public:
  PacketSide(Stream* s, std::shared_ptr<const Keys> k) : s_(s), codec_(std::move(k)) {}
  asio::awaitable<std::error_code> recv(Address* target, const std::uint8_t** data,
                                        std::size_t* n) override {
    buf_.resize(kMaxDatagram);
    for (;;) {
      auto r = co_await s_->read_some(asio::buffer(buf_));
      if (r.ec) co_return r.ec;
      std::size_t off = 0;
      if (codec_.open(buf_.data(), r.bytes, target, &off, n)) continue;  // dropped
      *data = buf_.data() + off;
      co_return std::error_code{};
    }
  }
  asio::awaitable<std::error_code> send(Address from, const std::uint8_t* data,
                                        std::size_t n) override {
    out_.clear();
    if (auto ec = codec_.seal(from, data, n, out_)) co_return ec;
    co_return (co_await s_->write_some(asio::buffer(out_))).ec;
  }
  void close() noexcept override { s_->close(); }

 private:
  Stream* s_;
  ServerPacketCodec codec_;
  std::vector<std::uint8_t> buf_, out_;
};

class TunSide final : public ClientSide {
 public:
  explicit TunSide(Stream* s) : s_(s), reader_(s) {}
  asio::awaitable<std::error_code> recv(Address* target, const std::uint8_t** data,
                                        std::size_t* n) override {
    TunFrame f;
    if (auto ec = co_await reader_.next(&f, data)) co_return ec;
    *target = std::move(f.addr);
    *n = f.data_len;
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> send(Address from, const std::uint8_t* data,
                                        std::size_t n) override {
    co_return co_await write_tun_frame(s_, std::move(from), data, n);
  }
  void close() noexcept override { s_->close(); }

 private:
  Stream* s_;
  TunReader reader_;
};

class UdpRelay {
 public:
  UdpRelay(ClientSide* c, PacketConn* up, const Config* cfg, ConnRecord* rec)
      : c_(c), up_(up), cfg_(cfg), rec_(rec) {}
  asio::awaitable<void> run() {
    using namespace asio::experimental::awaitable_operators;
    co_await (client_to_target() && target_to_client());
  }

 private:
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    c_->close();
    up_->close();
  }
  asio::awaitable<void> client_to_target() {
    while (!stopped_) {
      Address target;
      const std::uint8_t* data = nullptr;
      std::size_t n = 0;
      auto ec = co_await c_->recv(&target, &data, &n);
      if (ec || stopped_) {
        if (ec && !quiet_end(ec) && !stopped_) rec_->ec = ec;
        break;
      }
      const std::string ts = target.to_string();
      if (cfg_->args.bypass &&
          cfg_->args.bypass->contains("udp", ts, BypassOptions{cfg_->args.service, {}, {}})) {
        continue;
      }
      if (rec_->target.empty()) rec_->target = ts;
      n = std::min(n, cfg_->udp_buffer);
      if (!co_await up_->send_to(asio::buffer(data, n), target)) rec_->bytes_up += n;
    }
    stop();
  }
  asio::awaitable<void> target_to_client() {
    std::vector<std::uint8_t> buf(cfg_->udp_buffer);
    while (!stopped_) {
      auto r = co_await up_->recv_from(asio::buffer(buf));
      if (stopped_) break;
      if (r.ec) {
        if (r.ec == asio::error::connection_refused || r.ec == asio::error::message_size) continue;
        break;
      }
      if (auto ec = co_await c_->send(r.from, buf.data(), r.bytes)) break;
      rec_->bytes_down += r.bytes;
    }
    stop();
  }

  ClientSide* c_;
  PacketConn* up_;
  const Config* cfg_;
  ConnRecord* rec_;
  bool stopped_ = false;
};

class SsuHandler final : public Handler {
 public:
  explicit SsuHandler(std::shared_ptr<Config> c) : cfg_(std::move(c)) {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.protocol = "ssu";
    rec.network = "udp";
    StreamPtr carrier;
    std::unique_ptr<ClientSide> side;
    if (conn->is_datagram()) {
      carrier = std::move(conn);
      side = std::make_unique<PacketSide>(carrier.get(), cfg_->keys);
    } else {
      // UDP over a stream: an ss stream whose target is ignored, then UDP-tun frames.
      auto ss = std::make_unique<SsStream>(std::move(conn), cfg_->keys, SsStream::Role::server);
      auto target = co_await accept_request(ss.get(), cfg_.get(), &rec);
      if (!target) co_return;
      carrier = std::move(ss);
      side = std::make_unique<TunSide>(carrier.get());
    }
    SelectOptions sel;
    sel.network = "udp";
    sel.client = rec.client;
    sel.client_id = rec.user;
    DialInfo info;
    auto up = co_await cfg_->args.router->associate(sel, &info);
    rec.route = info.route;
    if (!up) {
      rec.ec = up.error();
      carrier->close();
      co_return;
    }
    UdpRelay relay(side.get(), up->get(), cfg_.get(), &rec);
    co_await relay.run();
  }

 private:
  std::shared_ptr<Config> cfg_;
};

}  // namespace

Result<HandlerPtr, ConfigError> make_ss_handler(const HandlerArgs& args) {
  auto c = parse(args, "ss");
  if (!c) return c.error();
  return HandlerPtr(std::make_shared<SsHandler>(std::move(*c)));
}

Result<HandlerPtr, ConfigError> make_ssu_handler(const HandlerArgs& args) {
  auto c = parse(args, "ssu");
  if (!c) return c.error();
  return HandlerPtr(std::make_shared<SsuHandler>(std::move(*c)));
}

}  // namespace gost::ss
