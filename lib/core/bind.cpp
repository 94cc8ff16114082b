// Remote binds: Connector::bind's default, Router::bind, the local bind when there is no chain,
// and the per-peer listener over a PacketConn.
#include "gost/core/bind.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <cstring>
#include <deque>
#include <map>

#include "gost/core/chain.hpp"
#include "gost/core/timeout.hpp"
#include "route.hpp"
#include "transports.hpp"

namespace gost {

asio::awaitable<Result<ListenerPtr>> Connector::bind(StreamPtr conn, std::string, Address,
                                                     BindOptions) {
  conn->close();
  co_return make_error_code(errc::unsupported);
}

namespace {

using core::Notifier;
using core::use_tuple;
using clock_type = std::chrono::steady_clock;

// ---------------------------------------------------------------- addressed stream

class AddressedStream final : public Stream {
 public:
  AddressedStream(StreamPtr s, Address local, Address remote)
      : s_(std::move(s)), local_(std::move(local)), remote_(std::move(remote)) {}
  asio::any_io_executor get_executor() override { return s_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    return s_->read_some(buf);
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    return s_->write_some(buf);
  }
  asio::awaitable<std::error_code> shutdown_write() override { return s_->shutdown_write(); }
  asio::awaitable<std::error_code> wait_readable() override { return s_->wait_readable(); }
  void close() noexcept override { s_->close(); }
  Address local_address() const override { return local_; }
  Address remote_address() const override { return remote_; }
  bool is_datagram() const noexcept override { return s_->is_datagram(); }
  asio::ip::tcp::socket* tcp_socket() noexcept override { return s_->tcp_socket(); }

 private:
  StreamPtr s_;
  Address local_, remote_;
};

// ---------------------------------------------------------------- per-peer packet listener

struct Peer {
  Peer(asio::any_io_executor ex, std::string k, Address a)
      : key(std::move(k)), addr(std::move(a)), notify(std::move(ex)) {}
  std::string key;
  Address addr;
  std::deque<std::vector<unsigned char>> queue;
  Notifier notify;
  bool closed = false;
  clock_type::time_point last_active = clock_type::now();
};

struct PacketState {
  PacketState(PacketConnPtr p, Address a, BindOptions o)
      : pc(std::move(p)), ex(pc->get_executor()), addr(std::move(a)), opts(o), accept_notify(ex) {}
  PacketConnPtr pc;
  asio::any_io_executor ex;
  Address addr;
  BindOptions opts;
  std::map<std::string, std::weak_ptr<Peer>, std::less<>> peers;
  std::deque<std::shared_ptr<Peer>> pending;
  Notifier accept_notify;
  bool closed = false;

  void shut() {
    if (closed) return;
    closed = true;
    pc->close();
    accept_notify.notify();
    for (auto& [k, w] : peers) {
      if (auto p = w.lock()) {
        p->closed = true;
        p->notify.notify();
      }
    }
    pending.clear();
  }
};

class PeerStream final : public Stream {
 public:
  PeerStream(std::shared_ptr<PacketState> st, std::shared_ptr<Peer> p)
      : st_(std::move(st)), p_(std::move(p)) {}
  ~PeerStream() override { close(); }
  asio::any_io_executor get_executor() override { return st_->ex; }

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    const auto ttl = st_->opts.udp_ttl;
    for (;;) {
      if (!p_->queue.empty()) {
        auto d = std::move(p_->queue.front());
        p_->queue.pop_front();
        std::size_t n = std::min(buf.size(), d.size());
        if (n) std::memcpy(buf.data(), d.data(), n);
        co_return IoResult{{}, n};
      }
      if (p_->closed) co_return IoResult{asio::error::eof, 0};
      auto deadline = p_->last_active + ttl;
      if (ttl.count() > 0 && clock_type::now() >= deadline) {
        close();  // idle: the peer's stream expires
        co_return IoResult{asio::error::eof, 0};
      }
      co_await p_->notify.wait(ttl.count() > 0 ? deadline : clock_type::time_point::max());
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none)
        co_return IoResult{asio::error::operation_aborted, 0};
    }
  }

  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    if (p_->closed) co_return IoResult{asio::error::broken_pipe, 0};
    p_->last_active = clock_type::now();
    auto ec = co_await st_->pc->send_to(buf, p_->addr);
    co_return IoResult{ec, ec ? 0 : buf.size()};
  }

  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }

  void close() noexcept override {
    if (p_->closed) return;
    p_->closed = true;
    p_->notify.notify();
    auto it = st_->peers.find(p_->key);
    if (it != st_->peers.end() && it->second.lock() == p_) st_->peers.erase(it);
  }
  Address local_address() const override { return st_->addr; }
  Address remote_address() const override { return p_->addr; }
  bool is_datagram() const noexcept override { return true; }

 private:
  std::shared_ptr<PacketState> st_;
  std::shared_ptr<Peer> p_;
};

asio::awaitable<void> packet_receive_loop(std::shared_ptr<PacketState> st) {
  std::vector<unsigned char> buf(std::max<std::size_t>(st->opts.udp_buffer, 512));
  const std::size_t backlog = std::max<std::size_t>(st->opts.backlog, 1);
  const std::size_t queue = std::max<std::size_t>(st->opts.udp_queue, 1);
  while (!st->closed) {
    auto r = co_await st->pc->recv_from(asio::buffer(buf));
    if (st->closed) break;
    if (r.ec) {
      if (r.ec == asio::error::operation_aborted || r.ec == asio::error::bad_descriptor ||
          r.ec == asio::error::eof || r.ec == errc::closed || r.ec == asio::error::connection_reset ||
          r.ec == asio::error::broken_pipe)
        break;
      // A relay that reports a per-datagram problem (an ICMP error on a UDP socket) keeps
      // serving; anything that ends the relay is one of the above.
      if (r.ec == asio::error::connection_refused || r.ec == asio::error::message_size) continue;
      break;
    }
    std::string key = r.from.to_string();
    std::shared_ptr<Peer> p;
    if (auto it = st->peers.find(key); it != st->peers.end()) p = it->second.lock();
    if (!p || p->closed) {
      if (st->pending.size() >= backlog) continue;  // accept backlog full: drop
      p = std::make_shared<Peer>(st->ex, key, r.from);
      st->peers[key] = p;
      st->pending.push_back(p);
      st->accept_notify.notify();
    }
    if (p->queue.size() >= queue) continue;  // the reader is behind: drop
    p->queue.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
    p->last_active = clock_type::now();
    p->notify.notify();
  }
  st->shut();
}

class PacketListener final : public Listener {
 public:
  explicit PacketListener(std::shared_ptr<PacketState> st) : st_(std::move(st)) {}
  ~PacketListener() override {
    // The state outlives us while streams or the receive loop hold it; stop the loop.
    asio::post(st_->ex, [st = st_] { st->shut(); });
  }
  std::error_code listen() override { return {}; }
  asio::awaitable<Result<StreamPtr>> accept() override {
    while (st_->pending.empty() && !st_->closed) {
      co_await st_->accept_notify.wait();
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none)
        co_return make_error_code(asio::error::operation_aborted);
    }
    if (st_->pending.empty()) co_return make_error_code(errc::closed);
    auto p = std::move(st_->pending.front());
    st_->pending.pop_front();
    co_return StreamPtr(std::make_unique<PeerStream>(st_, std::move(p)));
  }
  Address address() const override { return st_->addr; }
  asio::any_io_executor get_executor() override { return st_->ex; }
  void close() noexcept override {
    asio::post(st_->ex, [st = st_] { st->shut(); });
  }

 private:
  std::shared_ptr<PacketState> st_;
};

// ---------------------------------------------------------------- local TCP bind

class LocalTcpListener final : public Listener {
 public:
  explicit LocalTcpListener(asio::ip::tcp::acceptor acc)
      : acc_(std::make_shared<asio::ip::tcp::acceptor>(std::move(acc))) {}
  ~LocalTcpListener() override {
    std::error_code ec;
    acc_->close(ec);
  }
  std::error_code listen() override { return {}; }
  asio::awaitable<Result<StreamPtr>> accept() override {
    auto [ec, sock] = co_await acc_->async_accept(use_tuple);
    if (ec) {
      if (!acc_->is_open()) co_return make_error_code(errc::closed);
      co_return ec;
    }
    std::error_code ign;
    sock.set_option(asio::ip::tcp::no_delay(true), ign);
    co_return StreamPtr(std::make_unique<TcpStream>(std::move(sock)));
  }
  Address address() const override {
    std::error_code ec;
    auto ep = acc_->local_endpoint(ec);
    if (ec) return {};
    auto ip = ep.address();
    if (ip.is_v6() && ip.to_v6().is_v4_mapped())
      ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
    return Address(ip.to_string(), ep.port());
  }
  asio::any_io_executor get_executor() override { return acc_->get_executor(); }
  void close() noexcept override {
    asio::post(acc_->get_executor(), [acc = acc_] {
      std::error_code ec;
      acc->close(ec);
    });
  }

 private:
  std::shared_ptr<asio::ip::tcp::acceptor> acc_;
};

bool is_udp(const std::string& n) { return n == "udp" || n == "udp4" || n == "udp6"; }
bool is_tcp(const std::string& n) { return n == "tcp" || n == "tcp4" || n == "tcp6"; }

Result<ListenerPtr> bind_local(asio::any_io_executor ex, const std::string& network, Address addr,
                               BindOptions opts) {
  if (is_udp(network)) {
    auto pc = open_udp(ex, addr);
    if (!pc) return pc.error();
    Address bound = (*pc)->local_address();
    return make_packet_listener(std::move(*pc), std::move(bound), opts);
  }
  if (!is_tcp(network)) return make_error_code(errc::unsupported);
  asio::ip::address ip = asio::ip::address_v6::any();
  if (!addr.host.empty()) {
    auto a = addr.ip();
    if (!a) return make_error_code(errc::host_unreachable);
    ip = *a;
  }
  asio::ip::tcp::endpoint ep(ip, addr.port);
  asio::ip::tcp::acceptor acc(ex);
  std::error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec && ip.is_v6()) acc.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acc.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(static_cast<int>(opts.backlog ? opts.backlog : 128), ec);
  if (ec) return ec;
  return ListenerPtr(std::make_unique<LocalTcpListener>(std::move(acc)));
}

asio::awaitable<Result<ListenerPtr>> bind_route(std::vector<NodePtr> route, std::string network,
                                                Address addr, BindOptions opts,
                                                std::chrono::milliseconds timeout) {
  auto s = co_await detail::connect_nodes(route, timeout);
  if (!s) co_return s.error();
  auto& last = route.back();
  auto r = co_await last->connector->bind(std::move(*s), std::move(network), std::move(addr), opts);
  if (!r) {
    if (r.error() != errc::unsupported && r.error() != errc::forbidden) last->marker.mark();
    co_return r.error();
  }
  for (auto& n : route) n->marker.reset();
  co_return std::move(*r);
}

}  // namespace

ListenerPtr make_packet_listener(PacketConnPtr pc, Address addr, BindOptions opts) {
  auto st = std::make_shared<PacketState>(std::move(pc), std::move(addr), opts);
  asio::co_spawn(st->ex, packet_receive_loop(st), asio::detached);
  return ListenerPtr(std::make_unique<PacketListener>(std::move(st)));
}

StreamPtr with_addresses(StreamPtr s, Address local, Address remote) {
  return StreamPtr(std::make_unique<AddressedStream>(std::move(s), std::move(local), std::move(remote)));
}

asio::awaitable<Result<ListenerPtr>> Router::bind(std::string network, Address addr,
                                                  BindOptions opts) {
  SelectOptions sel;
  sel.network = network;
  sel.addr = addr.to_string();
  sel.host = addr.host;
  std::error_code last = make_error_code(errc::no_route);
  const int attempts = 1 + std::max(0, opts_.retries);
  for (int i = 0; i < attempts; ++i) {
    std::vector<NodePtr> route;
    if (chain_) route = chain_->route(sel);
    if (route.empty()) co_return bind_local(co_await asio::this_coro::executor, network, addr, opts);
    auto r = co_await with_timeout(bind_route(route, network, addr, opts, opts_.timeout),
                                   opts_.timeout);
    if (!r) {
      route.back()->marker.mark();
      last = make_error_code(errc::timeout);
      continue;
    }
    if (*r) co_return std::move(**r);
    last = r->error();
    if (last == errc::unsupported) break;
  }
  co_return last;
}

}  // namespace gost
