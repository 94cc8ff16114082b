// The udp listener (datagrams become per-peer sessions that expire after an idle ttl), the udp
// dialer (a connected datagram stream), and the direct UDP PacketConn.
#include <cstring>
#include <deque>
#include <map>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/udp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>

#include "core/transports.hpp"
#include "gost/core/chain.hpp"
#include "gost/core/timeout.hpp"

namespace gost {
namespace {
using asio::ip::udp;
using core::Notifier;
using core::now_or_wait;
using core::use_tuple;
using clock_type = std::chrono::steady_clock;

Address from_endpoint(const udp::endpoint& ep) {
  auto ip = ep.address();
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
  return Address(ip.to_string(), ep.port());
}

// Endpoint for sending from a socket of protocol `proto` (v4-mapped when the socket is v6).
udp::endpoint for_socket(const udp& proto, asio::ip::address ip, std::uint16_t port) {
  if (proto == udp::v6() && ip.is_v4()) ip = asio::ip::make_address_v6(asio::ip::v4_mapped, ip.to_v4());
  return {ip, port};
}

// Opens a UDP socket bound to addr (empty host: dual-stack any, falling back to IPv4).
std::error_code open_bound(udp::socket& s, const Address& addr) {
  std::error_code ec;
  std::vector<udp::endpoint> eps;
  if (addr.host.empty()) {
    eps.emplace_back(udp::v6(), addr.port);
    eps.emplace_back(udp::v4(), addr.port);
  } else if (auto ip = addr.ip()) {
    eps.emplace_back(*ip, addr.port);
  } else {
    udp::resolver res(s.get_executor());
    auto r = res.resolve(addr.host, std::to_string(addr.port), ec);
    if (ec) return make_error_code(errc::host_unreachable);
    for (auto& e : r) eps.push_back(e.endpoint());
  }
  std::error_code last = make_error_code(errc::host_unreachable);
  for (auto& ep : eps) {
    s.close(ec);
    s.open(ep.protocol(), ec);
    if (ec) { last = ec; continue; }
    if (ep.protocol() == udp::v6() && addr.host.empty()) s.set_option(asio::ip::v6_only(false), ec);
    s.bind(ep, ec);
    if (ec) { last = ec; continue; }
    return {};
  }
  return last;
}

// ---------------------------------------------------------------- listener

struct Session;

struct ListenerState {
  explicit ListenerState(asio::any_io_executor e) : ex(e), sock(e), accept_notify(e) {}
  asio::any_io_executor ex;
  udp::socket sock;
  std::map<udp::endpoint, std::weak_ptr<Session>> sessions;
  std::deque<std::shared_ptr<Session>> pending;
  Notifier accept_notify;
  bool closed = false;
  std::size_t queue_size = 128;
  std::size_t buffer_size = 65535;
  std::chrono::milliseconds ttl{5000};
};

struct Session {
  Session(asio::any_io_executor ex, udp::endpoint p) : peer(p), notify(std::move(ex)) {}
  udp::endpoint peer;
  std::deque<std::vector<unsigned char>> queue;
  Notifier notify;
  bool closed = false;
  clock_type::time_point last_active = clock_type::now();
};

class UdpSessionStream final : public Stream {
 public:
  UdpSessionStream(std::shared_ptr<ListenerState> st, std::shared_ptr<Session> s)
      : st_(std::move(st)), s_(std::move(s)) {}
  ~UdpSessionStream() override { close(); }

  asio::any_io_executor get_executor() override { return st_->ex; }

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    for (;;) {
      if (!s_->queue.empty()) {
        auto d = std::move(s_->queue.front());
        s_->queue.pop_front();
        std::size_t n = std::min(buf.size(), d.size());
        std::memcpy(buf.data(), d.data(), n);
        co_return IoResult{{}, n};
      }
      if (s_->closed) co_return IoResult{asio::error::eof, 0};
      auto deadline = s_->last_active + st_->ttl;
      if (st_->ttl.count() > 0 && clock_type::now() >= deadline) {
        close();  // idle: the session expires
        co_return IoResult{asio::error::eof, 0};
      }
      co_await s_->notify.wait(st_->ttl.count() > 0 ? deadline : clock_type::time_point::max());
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none) co_return IoResult{asio::error::operation_aborted, 0};
    }
  }

  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    if (s_->closed) co_return IoResult{asio::error::broken_pipe, 0};
    s_->last_active = clock_type::now();
    std::error_code ec;
    auto& sock = st_->sock;
    const auto& peer = s_->peer;
    std::size_t n = co_await now_or_wait(sock, udp::socket::wait_write, burst_, ec, [&](std::error_code& e) {
      return sock.send_to(buf, peer, 0, e);
    });
    co_return IoResult{ec, n};
  }

  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }

  void close() noexcept override {
    if (s_->closed) return;
    s_->closed = true;
    s_->notify.notify();
    auto it = st_->sessions.find(s_->peer);
    if (it != st_->sessions.end() && it->second.lock() == s_) st_->sessions.erase(it);
  }
  Address local_address() const override {
    std::error_code ec;
    auto ep = st_->sock.local_endpoint(ec);
    return ec ? Address{} : from_endpoint(ep);
  }
  Address remote_address() const override { return from_endpoint(s_->peer); }
  bool is_datagram() const noexcept override { return true; }

 private:
  std::shared_ptr<ListenerState> st_;
  std::shared_ptr<Session> s_;
  int burst_ = 0;  // see core::now_or_wait
};

asio::awaitable<void> udp_receive_loop(std::shared_ptr<ListenerState> st) {
  std::vector<unsigned char> buf(st->buffer_size);
  udp::endpoint from;
  int burst = 0;
  auto& sock = st->sock;
  while (!st->closed) {
    std::error_code ec;
    std::size_t n = co_await now_or_wait(sock, udp::socket::wait_read, burst, ec, [&](std::error_code& e) {
      return sock.receive_from(asio::buffer(buf), from, 0, e);
    });
    if (st->closed || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
    if (ec) continue;  // e.g. ICMP errors surfacing on the socket: keep serving
    std::shared_ptr<Session> s;
    if (auto it = st->sessions.find(from); it != st->sessions.end()) s = it->second.lock();
    if (!s || s->closed) {
      if (st->pending.size() >= st->queue_size) continue;  // accept backlog full: drop
      s = std::make_shared<Session>(st->ex, from);
      st->sessions[from] = s;
      st->pending.push_back(s);
      st->accept_notify.notify();
    }
    if (s->queue.size() >= st->queue_size) continue;  // the handler is behind: drop
    s->queue.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    s->last_active = clock_type::now();
    s->notify.notify();
  }
  st->closed = true;
  st->accept_notify.notify();
}

class UdpListener final : public Listener {
 public:
  UdpListener(Runtime* rt, Address addr, const Metadata& md)
      : addr_(std::move(addr)), ex_(rt->next_executor()), st_(std::make_shared<ListenerState>(ex_)) {
    st_->ttl = md.get_duration("ttl", std::chrono::milliseconds(5000));
    st_->queue_size = static_cast<std::size_t>(std::max<std::int64_t>(1, md.get_int("readQueueSize", 128)));
    st_->buffer_size =
        static_cast<std::size_t>(std::clamp<std::int64_t>(md.get_int("readBufferSize", 65535), 512, 65535));
  }
  ~UdpListener() override {
    std::error_code ec;
    st_->sock.close(ec);
  }

  std::error_code listen() override {
    if (auto ec = open_bound(st_->sock, addr_)) return ec;
    std::error_code nb;
    st_->sock.non_blocking(true, nb);
    asio::co_spawn(ex_, udp_receive_loop(st_), asio::detached);
    return {};
  }

  asio::awaitable<Result<StreamPtr>> accept() override {
    while (st_->pending.empty() && !st_->closed) co_await st_->accept_notify.wait();
    if (st_->pending.empty()) co_return make_error_code(errc::closed);
    auto s = std::move(st_->pending.front());
    st_->pending.pop_front();
    co_return StreamPtr(std::make_unique<UdpSessionStream>(st_, std::move(s)));
  }

  Address address() const override {
    std::error_code ec;
    auto ep = st_->sock.local_endpoint(ec);
    return ec ? addr_ : from_endpoint(ep);
  }
  asio::any_io_executor get_executor() override { return ex_; }
  void close() noexcept override {
    asio::post(ex_, [st = st_] {
      st->closed = true;
      std::error_code ec;
      st->sock.close(ec);
      st->accept_notify.notify();
      for (auto& [ep, w] : st->sessions) {
        if (auto s = w.lock()) {
          s->closed = true;
          s->notify.notify();
        }
      }
    });
  }

 private:
  Address addr_;
  asio::any_io_executor ex_;
  std::shared_ptr<ListenerState> st_;
};

// ---------------------------------------------------------------- connected datagram stream

class UdpConnStream final : public Stream {
 public:
  explicit UdpConnStream(udp::socket s) : sock_(std::move(s)) {
    std::error_code ec;
    sock_.non_blocking(true, ec);
  }
  ~UdpConnStream() override { close(); }
  asio::any_io_executor get_executor() override { return sock_.get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    std::error_code ec;
    std::size_t n = co_await now_or_wait(sock_, udp::socket::wait_read, burst_, ec,
                                         [&](std::error_code& e) { return sock_.receive(buf, 0, e); });
    co_return IoResult{ec, n};
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    std::error_code ec;
    std::size_t n = co_await now_or_wait(sock_, udp::socket::wait_write, burst_, ec,
                                         [&](std::error_code& e) { return sock_.send(buf, 0, e); });
    co_return IoResult{ec, n};
  }
  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }
  asio::awaitable<std::error_code> wait_readable() override {
    auto [ec] = co_await sock_.async_wait(udp::socket::wait_read, use_tuple);
    co_return ec;
  }
  void close() noexcept override {
    std::error_code ec;
    if (sock_.is_open()) sock_.close(ec);
  }
  Address local_address() const override {
    std::error_code ec;
    auto ep = sock_.local_endpoint(ec);
    return ec ? Address{} : from_endpoint(ep);
  }
  Address remote_address() const override {
    std::error_code ec;
    auto ep = sock_.remote_endpoint(ec);
    return ec ? Address{} : from_endpoint(ep);
  }
  bool is_datagram() const noexcept override { return true; }

 private:
  udp::socket sock_;
  int burst_ = 0;  // see core::now_or_wait
};

class UdpDialer final : public Dialer {
 public:
  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions opts) override {
    co_return co_await dial_udp(std::move(addr), opts.timeout);
  }
};

// ---------------------------------------------------------------- direct PacketConn

class UdpPacketConn final : public PacketConn {
 public:
  explicit UdpPacketConn(udp::socket s) : sock_(std::move(s)) {
    std::error_code ec;
    auto ep = sock_.local_endpoint(ec);
    v6_ = !ec && ep.protocol() == udp::v6();
    sock_.non_blocking(true, ec);
  }
  ~UdpPacketConn() override { close(); }
  asio::any_io_executor get_executor() override { return sock_.get_executor(); }
  asio::awaitable<PacketResult> recv_from(asio::mutable_buffer buf) override {
    udp::endpoint from;
    std::error_code ec;
    std::size_t n = co_await now_or_wait(sock_, udp::socket::wait_read, rburst_, ec, [&](std::error_code& e) {
      return sock_.receive_from(buf, from, 0, e);
    });
    if (ec) co_return PacketResult{ec, n, Address{}};
    // Relays mostly hear from one peer: format its address once.
    if (from != last_from_) {
      last_from_ = from;
      last_from_addr_ = from_endpoint(from);
    }
    co_return PacketResult{ec, n, last_from_addr_};
  }
  asio::awaitable<std::error_code> send_to(asio::const_buffer buf, Address to) override {
    const udp& proto = v6_ ? udp::v6() : udp::v4();
    udp::endpoint ep;
    if (have_to_ && to.port == last_to_.port && to.host == last_to_.host) {
      ep = last_to_ep_;  // the same target as last time: no parsing or resolving
    } else if (auto ip = to.ip()) {
      ep = for_socket(proto, *ip, to.port);
      last_to_ = std::move(to);
      last_to_ep_ = ep;
      have_to_ = true;
    } else {
      // Cache the last resolution: relays mostly talk to the same few names.
      if (to.host != cached_host_) {
        udp::resolver res(sock_.get_executor());
        auto [ec, r] = co_await res.async_resolve(to.host, "0", use_tuple);
        if (ec || r.empty()) co_return make_error_code(errc::host_unreachable);
        asio::ip::address chosen;
        for (auto& e : r) {
          if (e.endpoint().address().is_v4() || v6_) {
            chosen = e.endpoint().address();
            break;
          }
        }
        if (chosen.is_unspecified()) co_return make_error_code(errc::host_unreachable);
        cached_host_ = to.host;
        cached_ip_ = chosen;
      }
      ep = for_socket(proto, cached_ip_, to.port);
    }
    std::error_code ec;
    co_await now_or_wait(sock_, udp::socket::wait_write, wburst_, ec,
                         [&](std::error_code& e) { return sock_.send_to(buf, ep, 0, e); });
    co_return ec;
  }
  void close() noexcept override {
    std::error_code ec;
    if (sock_.is_open()) sock_.close(ec);
  }
  Address local_address() const override {
    std::error_code ec;
    auto ep = sock_.local_endpoint(ec);
    return ec ? Address{} : from_endpoint(ep);
  }

 private:
  udp::socket sock_;
  int rburst_ = 0, wburst_ = 0;  // the two directions run as separate coroutines
  bool v6_ = false;
  bool have_to_ = false;
  udp::endpoint last_from_;
  Address last_from_addr_;
  Address last_to_;
  udp::endpoint last_to_ep_;
  std::string cached_host_;
  asio::ip::address cached_ip_;
};

}  // namespace

Result<PacketConnPtr> open_udp(asio::any_io_executor ex, Address bind_addr) {
  udp::socket s(ex);
  if (auto ec = open_bound(s, bind_addr)) return ec;
  return PacketConnPtr(std::make_unique<UdpPacketConn>(std::move(s)));
}

asio::awaitable<Result<StreamPtr>> dial_udp(Address addr, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<udp::endpoint> eps;
  if (auto ip = addr.ip()) {
    eps.emplace_back(*ip, addr.port);
  } else {
    udp::resolver res(ex);
    auto r = co_await with_timeout(res.async_resolve(addr.host, std::to_string(addr.port), use_tuple), timeout);
    if (!r) co_return make_error_code(errc::timeout);
    auto& [ec, results] = *r;
    if (ec) co_return make_error_code(errc::host_unreachable);
    for (auto& e : results) eps.push_back(e.endpoint());
  }
  std::error_code last = make_error_code(errc::host_unreachable);
  for (auto& ep : eps) {
    udp::socket s(ex);
    std::error_code ec;
    s.open(ep.protocol(), ec);
    if (!ec) s.connect(ep, ec);
    if (ec) {
      last = ec;
      continue;
    }
    co_return StreamPtr(std::make_unique<UdpConnStream>(std::move(s)));
  }
  co_return last;
}

namespace core {
void register_udp(Registry& r) {
  r.add_listener("udp", [](const ListenerArgs& a) -> Result<ListenerPtr, ConfigError> {
    if (!a.runtime) return config_error("udp listener: no runtime");
    return ListenerPtr(std::make_unique<UdpListener>(a.runtime, a.addr, a.metadata));
  });
  r.add_dialer("udp", [](const DialerArgs&) -> Result<DialerPtr, ConfigError> {
    return DialerPtr(std::make_shared<UdpDialer>());
  });
}
}  // namespace core
}  // namespace gost
