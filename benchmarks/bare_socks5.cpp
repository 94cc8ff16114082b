// A reference floor for the SOCKS5 rows of the benchmark: a bare SOCKS5 CONNECT relay that makes
// only the system calls the protocol needs, so the table shows what this machine allows a SOCKS5
// proxy before any library is involved (like "direct" does for the load tool and the target).
//
// It is not a product: no authentication (method 0 only), IPv4 and IPv6 literals only (a domain
// gets reply 8), no timeouts. What it does do properly: handshakes that arrive in pieces, bytes a
// client sends before the reply (kept for the upstream), partial writes (the reading side stops
// until the other drains), half-close both ways, resets passed on as resets.
//
// Shape: one thread per CPU the process may use, each with its own epoll and SO_REUSEPORT
// listener; a classic BPF program hands each new connection to the listener of the CPU that
// received it (what gost does by default); every socket is registered once, edge-triggered, for
// input, output and the peer's FIN, and never modified.
#include "bare_socks5.hpp"

#include "loopback.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace bare {
namespace {

constexpr std::size_t kRelayBuf = 64 * 1024;
constexpr std::size_t kHandshakeMax = 512;

struct Conn;

struct Side {
  Conn* conn = nullptr;
  int fd = -1;
  std::string out;      // bytes for this socket that it has not taken yet
  bool eof_in = false;  // this socket's peer sent FIN
  bool shut = false;    // FIN sent to this socket's peer
};

struct Conn {
  enum State { Greeting, Request, Connecting, Relay } state = Greeting;
  Side client, upstream;
  std::string in;  // handshake bytes not consumed yet
  bool dead = false;
};

Side& other(Side& s) { return &s == &s.conn->client ? s.conn->upstream : s.conn->client; }

class Loop {
 public:
  explicit Loop(int listener) : lfd_(listener), buf_(kRelayBuf) {}

  [[noreturn]] void run() {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &ev);
    std::vector<epoll_event> evs(256);
    for (;;) {
      const int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), -1);
      for (int i = 0; i < n; ++i) {
        const auto& e = evs[static_cast<std::size_t>(i)];
        if (e.data.ptr == nullptr) {
          accept_all();
          continue;
        }
        auto* s = static_cast<Side*>(e.data.ptr);
        if (!s->conn->dead) on_event(*s, e.events);
      }
      for (Conn* c : dead_) delete c;  // after the batch: later events of it may name c
      dead_.clear();
    }
  }

 private:
  void watch(Side& s) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &s;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, s.fd, &ev);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* c = new Conn;
      c->client.conn = c->upstream.conn = c;
      c->client.fd = fd;
      watch(c->client);
      handshake(*c);  // the greeting is usually there already
    }
  }

  void kill(Conn& c, bool reset) {
    for (Side* s : {&c.client, &c.upstream}) {
      if (s->fd < 0) continue;
      if (reset) {
        linger l{1, 0};
        ::setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      }
      ::close(s->fd);  // also leaves the epoll set
      s->fd = -1;
    }
    c.dead = true;
    dead_.push_back(&c);
  }

  void on_event(Side& s, std::uint32_t events) {
    Conn& c = *s.conn;
    if (c.state == Conn::Greeting || c.state == Conn::Request) {
      if (&s == &c.client) handshake(c);
      return;
    }
    if (c.state == Conn::Connecting) {
      if (&s == &c.upstream && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) connected(c);
      return;
    }
    if (!s.out.empty() && !flush(s)) return;
    pump(s, events);
  }

  // Reads what the client sent so far and answers the greeting and the request as they complete.
  void handshake(Conn& c) {
    for (;;) {
      if (!parse(c) || c.dead || c.state == Conn::Connecting || c.state == Conn::Relay) return;
      // At most kHandshakeMax bytes wait here (a greeting is at most 257, a request 22): a client
      // that sends more before its reply asks for a read of 0 bytes, which returns 0 and closes.
      char tmp[kHandshakeMax];
      const ssize_t r = ::recv(c.client.fd, tmp, kHandshakeMax - c.in.size(), 0);
      if (r < 0 && errno == EAGAIN) return;
      if (r <= 0) return kill(c, r < 0);
      c.in.append(tmp, static_cast<std::size_t>(r));
    }
  }

  bool reply(Conn& c, const unsigned char* p, std::size_t n) {
    if (::send(c.client.fd, p, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) {
      kill(c, true);
      return false;
    }
    return true;
  }

  void refuse(Conn& c, unsigned char code) {
    const unsigned char r[10] = {5, code, 0, 1, 0, 0, 0, 0, 0, 0};
    if (reply(c, r, sizeof r)) kill(c, false);
  }

  // Consumes complete messages from c.in; false when the connection ended.
  bool parse(Conn& c) {
    const auto* b = reinterpret_cast<const unsigned char*>(c.in.data());
    const std::size_t n = c.in.size();
    if (c.state == Conn::Greeting) {
      if (n < 2) return true;
      if (b[0] != 5) return kill(c, false), false;
      const std::size_t need = 2 + static_cast<std::size_t>(b[1]);
      if (n < need) return true;
      if (std::memchr(b + 2, 0, b[1]) == nullptr) {
        const unsigned char no[2] = {5, 0xff};
        if (reply(c, no, 2)) kill(c, false);
        return false;
      }
      const unsigned char ok[2] = {5, 0};
      if (!reply(c, ok, 2)) return false;
      c.in.erase(0, need);
      c.state = Conn::Request;
      return parse(c);
    }
    if (n < 4) return true;
    if (b[0] != 5) return kill(c, false), false;
    if (b[1] != 1) return refuse(c, 7), false;  // CONNECT only
    sockaddr_storage to{};
    socklen_t tolen = 0;
    std::size_t need = 0;
    if (b[3] == 1) {
      need = 10;
      if (n < need) return true;
      auto* a = reinterpret_cast<sockaddr_in*>(&to);
      a->sin_family = AF_INET;
      std::memcpy(&a->sin_addr, b + 4, 4);
      std::memcpy(&a->sin_port, b + 8, 2);
      tolen = sizeof *a;
    } else if (b[3] == 4) {
      need = 22;
      if (n < need) return true;
      auto* a = reinterpret_cast<sockaddr_in6*>(&to);
      a->sin6_family = AF_INET6;
      std::memcpy(&a->sin6_addr, b + 4, 16);
      std::memcpy(&a->sin6_port, b + 20, 2);
      tolen = sizeof *a;
    } else {
      return refuse(c, 8), false;
    }
    c.upstream.out.assign(c.in, need);  // anything sent ahead of the reply goes upstream
    c.in.clear();
    c.in.shrink_to_fit();
    const int fd = ::socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return refuse(c, 1), false;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.upstream.fd = fd;
    watch(c.upstream);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), tolen) != 0 && errno != EINPROGRESS)
      return refuse(c, errno == ECONNREFUSED ? 5 : 1), false;
    c.state = Conn::Connecting;
    pollfd p{fd, POLLOUT, 0};  // on loopback the handshake is usually done already
    if (::poll(&p, 1, 0) == 1) connected(c);
    return !c.dead;
  }

  void connected(Conn& c) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(c.upstream.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return refuse(c, err == ECONNREFUSED ? 5 : 1);
    const unsigned char ok[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    if (!reply(c, ok, sizeof ok)) return;
    c.state = Conn::Relay;
    if (!c.upstream.out.empty() && !flush(c.upstream)) return;
    pump(c.client, EPOLLRDHUP);  // edges seen while connecting were not acted on: read to EAGAIN
    if (!c.dead) pump(c.upstream, EPOLLRDHUP);
  }

  // Writes s.out; true when it is all written (then the other side may be read again).
  bool flush(Side& s) {
    const ssize_t w = ::send(s.fd, s.out.data(), s.out.size(), MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) return kill(*s.conn, true), false;
    if (w > 0) s.out.erase(0, static_cast<std::size_t>(w));
    if (!s.out.empty()) return false;
    Side& from = other(s);
    if (from.eof_in) finish(s);
    else pump(from, EPOLLRDHUP);  // it was left unread while s was full
    return !s.conn->dead;
  }

  void finish(Side& s) {  // everything from the other side written: pass its FIN on
    if (!s.shut) {
      ::shutdown(s.fd, SHUT_WR);
      s.shut = true;
    }
    if (s.conn->client.shut && s.conn->upstream.shut) kill(*s.conn, false);
  }

  // Relays from src to the other side until src has nothing more or the other side is full. A
  // short read ends it unless the event said the peer's FIN came too (it raises no edge later).
  void pump(Side& src, std::uint32_t events) {
    Side& dst = other(src);
    while (!src.eof_in && dst.out.empty() && !src.conn->dead) {
      const ssize_t r = ::recv(src.fd, buf_.data(), buf_.size(), 0);
      if (r < 0 && errno == EAGAIN) return;
      if (r < 0) return kill(*src.conn, true);
      if (r == 0) {
        src.eof_in = true;
        return finish(dst);
      }
      const ssize_t w = ::send(dst.fd, buf_.data(), static_cast<std::size_t>(r), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) return kill(*src.conn, true);
      if (w < r) {
        dst.out.assign(buf_.data() + (w > 0 ? w : 0), buf_.data() + r);
        return;  // resumes when dst drains (its EPOLLOUT edge)
      }
      if (static_cast<std::size_t>(r) < buf_.size() && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    }
  }

  int lfd_;
  int ep_ = -1;
  std::vector<char> buf_;
  std::vector<Conn*> dead_;
};

}  // namespace

int socks5_server() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cpus = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  const int threads = cpus > 0 ? cpus : 1;
  unsigned short port = 0;
  std::vector<int> fds;
  for (int i = 0; i < threads; ++i) {  // group index i = the i-th socket bound
    const int fd = loopback::listen_tcp(port, true, &port);
    if (fd < 0) return 1;
    fds.push_back(fd);
  }
  if (threads > 1) {  // new connection -> listener (receiving CPU mod threads)
    sock_filter code[] = {
        {BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_CPU)},
        {BPF_ALU | BPF_MOD | BPF_K, 0, 0, static_cast<std::uint32_t>(threads)},
        {BPF_RET | BPF_A, 0, 0, 0},
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
    if (::setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0)
      std::perror("socks5bare: CPU steering (connections spread by hash)");
  }
  std::printf("port %u\n", port);
  std::fflush(stdout);
  std::vector<std::thread> ts;
  for (int i = 1; i < threads; ++i) ts.emplace_back([fd = fds[static_cast<std::size_t>(i)]] { Loop(fd).run(); });
  Loop(fds[0]).run();
}

}  // namespace bare
