// The tcp listener and dialer, direct TCP dialing, and the pass-through "forward" connector.
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
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
      : rt_(rt), addr_(std::move(addr)), md_(std::move(md)), ex_(rt->next_executor()) {}
  ~TcpListener() override {
    std::error_code ec;
    for (auto& s : shards_) s->acceptor.close(ec);
  }

  void offer_accept_threads(std::size_t n) override {
    // reuseport=false keeps one acceptor; Linux only spreads with SO_REUSEPORT.
    if (md_.contains("reuseport") && !md_.get_bool("reuseport")) return;
    offered_ = std::min(n, rt_->size());
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
    keepalive_ = md_.get_bool("keepalive");
    const int backlog = static_cast<int>(md_.get_int("backlog", 4096));
    std::error_code last = make_error_code(errc::host_unreachable);
    for (auto& ep : eps) {
      shards_.clear();
      const bool sharded = offered_ > 1;
      // SO_REUSEPORT would let a second process bind the same port silently; first make sure
      // nobody else holds it, so "address in use" stays an error at start-up.
      if (sharded && ep.port() != 0) {
        tcp::socket probe(ex_);
        if (auto e = open_bind(probe, ep, false)) {
          last = e;
          continue;
        }
      }
      tcp::endpoint bound = ep;
      std::error_code err;
      const std::size_t n = sharded ? offered_ : 1;
      for (std::size_t i = 0; i < n && !err; ++i) {
        auto ex = sharded ? rt_->executor(i) : ex_;
        auto st = std::make_shared<State>(ex);
        err = open_bind(st->acceptor, bound, sharded || md_.get_bool("reuseport"));
        if (!err && ::listen(st->acceptor.native_handle(), backlog) != 0) err = core::sys_error(errno);
        if (!err && i == 0) {
          auto lep = st->acceptor.local_endpoint(err);
          bound.port(lep.port());  // port 0: the other shards join the port the first one got
        }
        if (!err) shards_.push_back(std::move(st));
      }
      if (!err && sharded) steer_by_cpu();
      if (err) {
        last = err;
        std::error_code ignore;
        for (auto& s : shards_) s->acceptor.close(ignore);
        shards_.clear();
        continue;
      }
      return {};
    }
    return last;
  }

  std::size_t accept_shards() const noexcept override { return shards_.empty() ? 1 : shards_.size(); }
  asio::any_io_executor shard_executor(std::size_t i) override {
    return shards_.size() > 1 ? shards_[i]->acceptor.get_executor() : ex_;
  }

  asio::awaitable<Result<StreamPtr>> accept() override { return accept_on(0, true); }
  asio::awaitable<Result<StreamPtr>> accept_shard(std::size_t i) override {
    return accept_on(i, shards_.size() <= 1);
  }

  Address address() const override {
    if (shards_.empty()) return addr_;
    std::error_code ec;
    auto ep = shards_[0]->acceptor.local_endpoint(ec);
    if (ec) return addr_;
    auto ip = ep.address();
    if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
    return Address(ip.to_string(), ep.port());
  }
  asio::any_io_executor get_executor() override { return ex_; }
  void close() noexcept override {
    for (auto& s : shards_) {
      asio::post(s->acceptor.get_executor(), [st = s] {
        std::error_code ec;
        st->acceptor.close(ec);
      });
    }
  }

 private:
  struct State {
    explicit State(asio::any_io_executor ex) : acceptor(std::move(ex)) {}
    // The listening socket, held as a plain socket: accept_on() accepts with accept4(2) itself and
    // waits for the next connection with core::async_wait_acceptable(), which needs the socket's
    // implementation (an acceptor's is out of reach).
    tcp::socket acceptor;
    std::size_t peer = 0;  // the thread serve_on() compared with last
  };

  // A new connection goes to the acceptor of the thread that takes the connections of the CPU
  // which took in its SYN (RuntimeOptions::steer_by_cpu): a classic BPF program maps the CPU
  // number to the acceptor's index in the reuseport group (the order they were bound in). A CPU
  // with no thread of ours gets an index past the end, and the kernel falls back to hashing.
  // Best effort: without the program connections are spread by hash.
  void steer_by_cpu() {
    steering_ = false;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      if (rt_->steer_cpu(i) < 0) return;
      for (std::size_t j = 0; j < i; ++j) {
        if (rt_->steer_cpu(i) == rt_->steer_cpu(j)) return;  // more threads than CPUs: hashing spreads better
      }
    }
    std::vector<sock_filter> code;
    code.push_back(sock_filter{BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_CPU)});
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      const int cpu = rt_->steer_cpu(i);
      code.push_back(sock_filter{BPF_JMP | BPF_JEQ | BPF_K, 0, 1, static_cast<std::uint32_t>(cpu)});
      code.push_back(sock_filter{BPF_RET | BPF_K, 0, 0, static_cast<std::uint32_t>(i)});
    }
    code.push_back(sock_filter{BPF_RET | BPF_K, 0, 0, 0xFFFFFFFFu});
    sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
    steering_ = ::setsockopt(shards_[0]->acceptor.native_handle(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
                             sizeof prog) == 0;
  }

  // The thread a connection accepted by shard i is served on. Steered by CPU, shard i may get far
  // more connections than the others (one CPU takes in most of the traffic): then it hands the
  // next one to another thread that has fewer live connections, while some CPU has time to spare
  // (core::imbalanced, core::idle_enough). One other thread is looked at per accept, in turn
  // (O(1), converges over a few accepts).
  std::size_t serve_on(std::size_t i) {
    const std::size_t n = shards_.size();
    State& st = *shards_[i];
    st.peer = (st.peer + 1) % n;
    if (st.peer == i) st.peer = (st.peer + 1) % n;
    const long mine = rt_->live(i).load(std::memory_order_relaxed);
    const long theirs = rt_->live(st.peer).load(std::memory_order_relaxed);
    if (!core::imbalanced(mine, theirs)) return i;  // the common case: no idle figure needed
    const int min_idle = rt_->balance_min_idle();
    return min_idle <= 0 || core::idle_enough(rt_->idle_percent(), min_idle) ? st.peer : i;
  }

  std::error_code open_bind(tcp::socket& a, const tcp::endpoint& ep, bool reuseport) {
    std::error_code ec;
    a.open(ep.protocol(), ec);
    if (ec) return ec;
    a.native_non_blocking(true, ec);  // accept4(2) must not block
    if (ec) return ec;
    if (ep.protocol() == tcp::v6() && addr_.host.empty()) a.set_option(asio::ip::v6_only(false), ec);
    a.set_option(asio::socket_base::reuse_address(true), ec);
    // Linux copies these from the listening socket to every socket it accepts: set once here,
    // they cost no setsockopt per connection.
    a.set_option(tcp::no_delay(true), ec);
    if (keepalive_) a.set_option(asio::socket_base::keep_alive(true), ec);
    ec.clear();
    if (reuseport) {
      int one = 1;
      if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        return core::sys_error(errno);
    }
    a.bind(ep, ec);
    return ec;
  }

  // spread: hand the connection to the next runtime thread (single acceptor); otherwise it
  // stays on the accepting shard's thread.
  asio::awaitable<Result<StreamPtr>> accept_on(std::size_t i, bool spread) {
    if (i >= shards_.size()) co_return make_error_code(errc::closed);
    auto st = shards_[i];
    // accept4(2) with SOCK_NONBLOCK: the socket needs no FIONBIO later, as it would after Asio's
    // accept(2). Would-block: wait for the next connection (no re-arm, see core/reactor.hpp).
    tcp::endpoint peer;
    int fd = -1;
    for (;;) {
      if (!st->acceptor.is_open()) co_return make_error_code(asio::error::bad_descriptor);
      auto len = static_cast<socklen_t>(peer.capacity());
      fd = ::accept4(st->acceptor.native_handle(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        peer.resize(len);
        break;
      }
      const int e = errno;
      // A connection reset while queued, or a signal: try the next one.
      if (e == ECONNABORTED || e == EPROTO || e == EINTR) continue;
      if (e != EAGAIN && e != EWOULDBLOCK) co_return core::sys_error(e);
      auto [wec] = co_await core::async_wait_acceptable(st->acceptor, use_tuple);
      if (wec) co_return wec;
    }
    // Where it is served, decided now that it is here (the counts and the idle figure of now).
    const bool balance = steering_ && !spread;
    const std::size_t on = balance ? serve_on(i) : i;
    auto ex = spread ? rt_->next_executor() : on == i ? st->acceptor.get_executor() : rt_->executor(on);
    tcp::socket sock(ex);
    std::error_code aec;
    sock.assign(peer.protocol(), fd, aec);
    if (aec) {
      ::close(fd);
      co_return aec;
    }
    core::own_descriptor(sock, true);  // no EPOLL_CTL_DEL at close, no FIONBIO
    auto s = std::make_unique<TcpStream>(std::move(sock), peer);
    if (balance) s->count_in(&rt_->live(on));
    co_return StreamPtr(std::move(s));
  }

  Runtime* rt_;
  Address addr_;
  Metadata md_;
  asio::any_io_executor ex_;
  std::vector<std::shared_ptr<State>> shards_;
  std::size_t offered_ = 1;
  bool keepalive_ = false;
  bool steering_ = false;  // the CPU-steering program is attached (serve_on() balances)
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

// Connects one socket to ep: a non-blocking connect(2) issued at once; over loopback the
// handshake has usually completed by the time connect returns EINPROGRESS, which a zero-timeout
// poll(2) tells without arming EPOLLOUT and waiting for the reactor. Otherwise it waits for
// writability, bounded by a plain timer that cancels the wait (no parallel group and no extra
// coroutine frames or timer per dial, as with_timeout would cost).
asio::awaitable<Result<StreamPtr>> connect_one(asio::any_io_executor ex, tcp::endpoint ep,
                                               std::chrono::milliseconds timeout) {
  // Non-blocking from socket(2) on, and owned (core/reactor.hpp): no FIONBIO, no EPOLL_CTL_DEL.
  tcp::socket sock(ex);
  std::error_code ec;
  {
    const int raw = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (raw < 0) co_return core::sys_error(errno);
    sock.assign(ep.protocol(), raw, ec);
    if (ec) {
      ::close(raw);
      co_return ec;
    }
    core::own_descriptor(sock, true);
  }
  const int fd = sock.native_handle();
  const int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ready = ::connect(fd, static_cast<const sockaddr*>(ep.data()),
                         static_cast<socklen_t>(ep.size())) == 0;
  if (!ready) {
    if (errno != EINPROGRESS) co_return core::sys_error(errno);
    pollfd p{fd, POLLOUT, 0};
    ready = ::poll(&p, 1, 0) == 1;
    // Writable with no error or hang-up: connected, and SO_ERROR has nothing to tell.
    if (ready && p.revents == POLLOUT) {
      co_return StreamPtr(std::make_unique<TcpStream>(std::move(sock)));
    }
  }
  if (!ready) {
    // Slow path: a real network. The timer's handler only touches the socket through `live`,
    // which is cleared before the socket goes away (both run on this executor).
    auto live = std::make_shared<tcp::socket*>(&sock);
    asio::steady_timer timer(ex);
    bool timed_out = false;
    if (timeout.count() > 0) {
      timer.expires_after(timeout);
      timer.async_wait([live, flag = &timed_out](std::error_code tec) {
        if (tec || !*live) return;
        *flag = true;
        std::error_code ignore;
        (*live)->cancel(ignore);
      });
    }
    auto [wec] = co_await sock.async_wait(tcp::socket::wait_write, use_tuple);
    // timed_out may only be read while live is set (the handler's flag points into this frame).
    const bool expired = timed_out;
    *live = nullptr;
    timer.cancel();
    if (expired) co_return make_error_code(errc::timeout);
    if (wec) co_return wec;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) co_return core::sys_error(err);
  co_return StreamPtr(std::make_unique<TcpStream>(std::move(sock)));
}
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
    auto r = co_await connect_one(ex, ep, remaining());
    if (r) co_return std::move(*r);
    if (r.error() == errc::timeout) co_return r.error();
    last = r.error();
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
