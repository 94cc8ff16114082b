// gost_loadgen: a small load tool for proxies and forwarders on loopback.
//
//   gost_loadgen server echo|sink|source|http       prints "port N", serves until killed (http:
//                                                    an HTTP/1.1 keep-alive origin, "pong" to
//                                                    every request)
//   gost_loadgen throughput <proxy> <target> <streams> <seconds> up|down
//   gost_loadgen connrate   <proxy> <target> <clients> <seconds>
//   gost_loadgen reqrate    httpget://host:port <target> <clients> <seconds>
//                           plain GETs through an HTTP proxy to an http target, one after another
//                           on each client's kept connection (a new one if the proxy closed it)
//   gost_loadgen latency    <proxy> <target> <count> <size>
//   gost_loadgen idle       <proxy> <target> <conns>  prints "ready N", holds until stdin closes
//   gost_loadgen server udpecho                      UDP echo; prints "port N"
//   gost_loadgen server socks5bare                   a bare SOCKS5 relay, the benchmark's reference
//                                                    floor (bare_socks5.cpp); prints "port N"
//   gost_loadgen udp        <proxy> <target> <seconds> <size> <window>
//                           datagrams through a UDP forwarder ("fwd": send to <target>, the
//                           forwarder) or SOCKS5 UDP ASSOCIATE ("socks5://host:port") to a UDP echo,
//                           <window> datagrams in flight; reports replies per second and loss
//
// <proxy> is "none", "fwd" (a port forwarder: connect to it as if it were the target),
// "socks5://host:port" or "http://host:port" (CONNECT); for idle and reqrate also
// "httpget://host:port": plain GET http://<target>/ requests through the proxy on kept
// connections (the target is an http server; for idle one request, then the connection stays
// idle). Each mode prints one JSON line.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bare_socks5.hpp"
#include "loopback.hpp"

#include <asio/impl/src.hpp>  // this tool links no gost library; compile Asio here
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

struct Endpoint {
  std::string host;
  unsigned short port = 0;
};

Endpoint parse_ep(const std::string& s) {
  auto c = s.rfind(':');
  return {s.substr(0, c), static_cast<unsigned short>(std::stoi(s.substr(c + 1)))};
}

struct Proxy {
  std::string kind = "none";  // none | fwd | socks5 | http | httpget
  Endpoint ep;
};

Proxy parse_proxy(const std::string& s) {
  Proxy p;
  if (s == "none" || s == "fwd") {
    p.kind = s;
    return p;
  }
  auto k = s.find("://");
  p.kind = s.substr(0, k);
  p.ep = parse_ep(s.substr(k + 3));
  return p;
}

tcp::endpoint to_tcp(const Endpoint& e) { return {asio::ip::make_address(e.host), e.port}; }

// Opens a connection to target through the proxy (blocking; handshake included).
tcp::socket open_conn(asio::io_context& ctx, const Proxy& p, const Endpoint& target) {
  tcp::socket s(ctx);
  if (p.kind == "none" || p.kind == "fwd") {
    s.connect(to_tcp(target));
  } else {
    s.connect(to_tcp(p.ep));
  }
  s.set_option(tcp::no_delay(true));
  if (p.kind == "socks5") {
    const unsigned char hello[] = {5, 1, 0};
    asio::write(s, asio::buffer(hello));
    unsigned char rep[2];
    asio::read(s, asio::buffer(rep));
    auto ip = asio::ip::make_address_v4(target.host).to_bytes();
    unsigned char req[10] = {5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3],
                             static_cast<unsigned char>(target.port >> 8),
                             static_cast<unsigned char>(target.port & 0xff)};
    asio::write(s, asio::buffer(req));
    unsigned char r[10];
    asio::read(s, asio::buffer(r));
    if (r[1] != 0) throw std::runtime_error("socks5 connect refused");
  } else if (p.kind == "http") {
    std::string req = "CONNECT " + target.host + ":" + std::to_string(target.port) + " HTTP/1.1\r\nHost: " +
                      target.host + ":" + std::to_string(target.port) + "\r\n\r\n";
    asio::write(s, asio::buffer(req));
    std::string head;
    char c;
    while (head.size() < 8192 && head.find("\r\n\r\n") == std::string::npos) {
      asio::read(s, asio::buffer(&c, 1));
      head += c;
    }
    if (head.compare(9, 3, "200") != 0) throw std::runtime_error("http connect refused");
  }
  return s;
}

// Batched (recvmmsg/sendmmsg): the echo and the load loop below should cost as little CPU as they
// can, so on a small machine the proxy, not the tools around it, sets the datagram rate.
constexpr int kUdpBatch = 64;

int udp_echo_server() {
  asio::io_context ctx;
  asio::ip::udp::socket s(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  s.set_option(asio::socket_base::receive_buffer_size(4 << 20));
  s.set_option(asio::socket_base::send_buffer_size(4 << 20));
  std::printf("port %u\n", s.local_endpoint().port());
  std::fflush(stdout);
  const int fd = s.native_handle();
  std::vector<char> bufs(static_cast<std::size_t>(kUdpBatch) * 65536);
  std::vector<mmsghdr> msgs(kUdpBatch);
  std::vector<iovec> iovs(kUdpBatch);
  std::vector<sockaddr_storage> from(kUdpBatch);
  for (;;) {
    for (int i = 0; i < kUdpBatch; ++i) {
      iovs[i] = {bufs.data() + static_cast<std::size_t>(i) * 65536, 65536};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    int n = ::recvmmsg(fd, msgs.data(), kUdpBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;
    for (int i = 0; i < n; ++i) iovs[i].iov_len = msgs[i].msg_len;  // echo each as it came
    for (int off = 0; off < n;) {
      int m = ::sendmmsg(fd, msgs.data() + off, static_cast<unsigned>(n - off), 0);
      if (m <= 0) break;
      off += m;
    }
  }
}

// The echo target: one thread, epoll, so thousands of idle connections cost no threads (a
// thread per connection made opening 9,000 idle connections take ~15 s on 2 cores).
// http: an HTTP/1.1 origin instead, for plain (absolute-URI) proxying: each request head (up
// to its blank line) gets a 4-byte "pong" response, and the connection is kept.
int tcp_echo_server(bool http = false) {
  unsigned short port = 0;
  const int lfd = loopback::listen_tcp(0, false, &port);
  if (lfd < 0) return 1;
  const int one = 1;
  std::printf("port %u\n", port);
  std::fflush(stdout);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::vector<std::string> pending;  // bytes not yet echoed, by fd
  std::vector<std::string> heads;    // http: the request head read so far, by fd
  static constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong";
  std::vector<char> writing;         // by fd: waiting for EPOLLOUT
  std::vector<char> buf(64 * 1024);
  // Close with RST: thousands of connections per second must leave no TIME_WAIT sockets.
  auto drop = [&](int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
    if (static_cast<std::size_t>(fd) < pending.size()) pending[static_cast<std::size_t>(fd)].clear();
    if (static_cast<std::size_t>(fd) < heads.size()) heads[static_cast<std::size_t>(fd)].clear();
  };
  // What a connection answers to r bytes it read: the same bytes, or (http) one response per
  // request head they complete.
  auto answer = [&](int fd, const char* data, std::size_t r) -> std::string_view {
    if (!http) return {data, r};
    auto& h = heads[static_cast<std::size_t>(fd)];
    h.append(data, r);
    std::size_t n = 0;
    for (std::size_t e; (e = h.find("\r\n\r\n")) != std::string::npos; ++n) h.erase(0, e + 4);
    static std::string many;
    many.clear();
    for (std::size_t i = 0; i < n; ++i) many += kResponse;
    return many;
  };
  std::vector<epoll_event> evs(256);
  for (;;) {
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[static_cast<std::size_t>(i)].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (pending.size() <= static_cast<std::size_t>(c)) {
            pending.resize(static_cast<std::size_t>(c) + 1);
            heads.resize(static_cast<std::size_t>(c) + 1);
            writing.resize(static_cast<std::size_t>(c) + 1);
          }
          writing[static_cast<std::size_t>(c)] = 0;
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      auto& out = pending[static_cast<std::size_t>(fd)];
      bool dead = false;
      if (!out.empty()) {  // writable again: flush what is left
        ssize_t w = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) dead = true;
        if (w > 0) out.erase(0, static_cast<std::size_t>(w));
      }
      while (!dead && out.empty()) {
        ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
        if (r == 0 || (r < 0 && errno != EAGAIN)) dead = true;
        if (r <= 0) break;
        const std::string_view reply = answer(fd, buf.data(), static_cast<std::size_t>(r));
        if (reply.empty()) continue;
        const auto len = static_cast<ssize_t>(reply.size());
        ssize_t w = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) dead = true;
        if (w < len) out.assign(reply.data() + std::max<ssize_t>(w, 0), reply.data() + len);
      }
      if (dead) {
        drop(fd);
        continue;
      }
      const bool want_out = !out.empty();
      if (want_out != (writing[static_cast<std::size_t>(fd)] != 0)) {
        writing[static_cast<std::size_t>(fd)] = want_out;
        epoll_event cev{};
        cev.events = (want_out ? EPOLLOUT : EPOLLIN) | EPOLLRDHUP;
        cev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
    }
  }
}

int server(const std::string& mode) {
  if (mode == "udpecho") return udp_echo_server();
  if (mode == "echo") return tcp_echo_server();
  if (mode == "http") return tcp_echo_server(true);
  if (mode == "socks5bare") return bare::socks5_server();
  asio::io_context ctx;
  tcp::acceptor acc(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  std::printf("port %u\n", acc.local_endpoint().port());
  std::fflush(stdout);
  for (;;) {
    auto s = std::make_shared<tcp::socket>(acc.accept());
    std::thread([s, mode] {
      std::vector<char> buf(64 * 1024);
      std::error_code ec;
      s->set_option(tcp::no_delay(true), ec);
      // Close with RST: thousands of connections per second must not leave TIME_WAIT sockets
      // behind on the proxies' ephemeral ports (a proxy that closed first gets the RST in
      // FIN_WAIT and frees its port at once).
      s->set_option(asio::socket_base::linger(true, 0), ec);
      if (mode == "source") {
        while (!ec) asio::write(*s, asio::buffer(buf), ec);
      } else {
        for (;;) {
          auto n = s->read_some(asio::buffer(buf), ec);
          if (ec) break;
          if (mode == "echo") asio::write(*s, asio::buffer(buf.data(), n), ec);
          if (ec) break;
        }
      }
      // An explicit close: Asio turns SO_LINGER off again when a socket is closed by its
      // destructor, which would end the connection with a FIN (and a TIME_WAIT at the peer).
      s->close(ec);
    }).detach();
  }
}

int throughput(const Proxy& p, const Endpoint& t, int streams, double seconds, bool up) {
  std::atomic<std::uint64_t> total{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> ths;
  auto start = clock_type::now();
  for (int i = 0; i < streams; ++i) {
    ths.emplace_back([&] {
      asio::io_context ctx;
      auto s = open_conn(ctx, p, t);
      std::vector<char> buf(128 * 1024, 'x');
      std::error_code ec;
      while (!stop.load(std::memory_order_relaxed)) {
        std::size_t n = up ? s.write_some(asio::buffer(buf), ec) : s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        total.fetch_add(n, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  auto el = std::chrono::duration<double>(clock_type::now() - start).count();
  auto bytes = total.load();
  for (auto& th : ths) th.detach();  // blocked sockets end with the process
  std::printf("{\"mode\":\"throughput\",\"bytes\":%llu,\"seconds\":%.3f,\"gbps\":%.3f}\n",
              static_cast<unsigned long long>(bytes), el, static_cast<double>(bytes) * 8 / el / 1e9);
  std::fflush(stdout);
  std::_Exit(0);
}

// One plain GET http://<t>/ through an HTTP proxy, on a kept connection, to the load tool's
// HTTP origin (server http): returns once the whole response ("pong") is in.
void http_get(tcp::socket& s, const Endpoint& t) {
  const std::string hp = t.host + ":" + std::to_string(t.port);
  // Proxy-Connection as curl and browsers send it (v2ray closes without it).
  const std::string req =
      "GET http://" + hp + "/ HTTP/1.1\r\nHost: " + hp + "\r\nProxy-Connection: keep-alive\r\n\r\n";
  asio::write(s, asio::buffer(req));
  char buf[512];
  std::string resp;
  while (resp.size() < 4096 && !resp.ends_with("pong")) {
    const std::size_t n = s.read_some(asio::buffer(buf, sizeof buf));
    resp.append(buf, n);
  }
  if (resp.compare(0, 12, "HTTP/1.1 200") != 0) throw std::runtime_error("http request failed");
}

// Runs `clients` threads of client(stop) for `seconds`, then stops and joins them; returns the
// seconds that took.
template <class F>
double run_clients(int clients, double seconds, F client) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> ths;
  auto start = clock_type::now();
  for (int i = 0; i < clients; ++i) ths.emplace_back([&] { client(stop); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : ths) th.join();
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Plain GETs through an HTTP proxy: each client sends its next request once it has the answer
// to the last, on one kept connection; a proxy that closes it gets a new one (counted).
int reqrate(const Proxy& p, const Endpoint& t, int clients, double seconds) {
  std::atomic<std::uint64_t> done{0}, errors{0}, reconnects{0};
  const double el = run_clients(clients, seconds, [&](const std::atomic<bool>& stop) {
    asio::io_context ctx;
    std::optional<tcp::socket> s;
    while (!stop.load(std::memory_order_relaxed)) {
      try {
        if (!s) s.emplace(open_conn(ctx, p, t));
        http_get(*s, t);
        done.fetch_add(1, std::memory_order_relaxed);
      } catch (const std::system_error& e) {
        // The proxy closed the connection after its last response: reconnect.
        const bool closed = e.code() == asio::error::eof || e.code() == asio::error::connection_reset;
        (closed ? reconnects : errors).fetch_add(1, std::memory_order_relaxed);
        s.reset();
      } catch (...) {
        errors.fetch_add(1, std::memory_order_relaxed);
        s.reset();
      }
    }
    if (s) {
      std::error_code ec;
      s->set_option(asio::socket_base::linger(true, 0), ec);  // RST: no TIME_WAIT left behind
      s->close(ec);
    }
  });
  std::printf("{\"mode\":\"reqrate\",\"requests\":%llu,\"errors\":%llu,\"reconnects\":%llu,\"per_sec\":%.1f}\n",
              static_cast<unsigned long long>(done.load()), static_cast<unsigned long long>(errors.load()),
              static_cast<unsigned long long>(reconnects.load()), static_cast<double>(done.load()) / el);
  return 0;
}

int connrate(const Proxy& p, const Endpoint& t, int clients, double seconds) {
  std::atomic<std::uint64_t> done{0}, errors{0};
  const double el = run_clients(clients, seconds, [&](const std::atomic<bool>& stop) {
    asio::io_context ctx;
    char buf[16];
    while (!stop.load(std::memory_order_relaxed)) {
      try {
        auto s = open_conn(ctx, p, t);
        asio::write(s, asio::buffer("ping", 4));
        asio::read(s, asio::buffer(buf, 4));
        s.set_option(asio::socket_base::linger(true, 0));  // RST: no TIME_WAIT left behind
        s.close();
        done.fetch_add(1, std::memory_order_relaxed);
      } catch (...) {
        errors.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  std::printf("{\"mode\":\"connrate\",\"conns\":%llu,\"errors\":%llu,\"per_sec\":%.1f}\n",
              static_cast<unsigned long long>(done.load()), static_cast<unsigned long long>(errors.load()),
              static_cast<double>(done.load()) / el);
  return 0;
}

int latency(const Proxy& p, const Endpoint& t, int count, int size) {
  asio::io_context ctx;
  auto s = open_conn(ctx, p, t);
  std::vector<char> out(static_cast<std::size_t>(size), 'p'), in(static_cast<std::size_t>(size));
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count + 100; ++i) {
    auto a = clock_type::now();
    asio::write(s, asio::buffer(out));
    asio::read(s, asio::buffer(in));
    if (i >= 100) us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - a).count());
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double q) { return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1))]; };
  std::printf("{\"mode\":\"latency\",\"p50_us\":%.1f,\"p99_us\":%.1f}\n", pct(0.5), pct(0.99));
  return 0;
}

int idle(const Proxy& p, const Endpoint& t, int conns) {
  // Several threads open the connections (each with its own io_context, kept alive with the
  // sockets), so thousands of handshakes take a fraction of the time one thread would.
  const int nthreads = std::clamp(conns / 250, 1, 8);
  std::vector<std::unique_ptr<asio::io_context>> ctxs;
  std::vector<std::vector<tcp::socket>> per(static_cast<std::size_t>(nthreads));
  std::atomic<bool> failed{false};
  std::string why;
  std::mutex mu;
  std::vector<std::thread> ths;
  for (int i = 0; i < nthreads; ++i) ctxs.push_back(std::make_unique<asio::io_context>());
  for (int i = 0; i < nthreads; ++i) {
    const int mine = conns / nthreads + (i < conns % nthreads ? 1 : 0);
    ths.emplace_back([&, i, mine] {
      auto& socks = per[static_cast<std::size_t>(i)];
      socks.reserve(static_cast<std::size_t>(mine));
      char buf[4];
      try {
        for (int k = 0; k < mine && !failed; ++k) {
          socks.push_back(open_conn(*ctxs[static_cast<std::size_t>(i)], p, t));
          if (p.kind == "httpget") {
            http_get(socks.back(), t);  // one request; the connection then waits for the next
            continue;
          }
          // One round trip so the proxy has really set up the relay.
          asio::write(socks.back(), asio::buffer("ping", 4));
          asio::read(socks.back(), asio::buffer(buf, 4));
        }
      } catch (const std::exception& e) {
        std::lock_guard lk(mu);
        failed = true;
        why = e.what();
      }
    });
  }
  for (auto& th : ths) th.join();
  if (failed) throw std::runtime_error(why);
  if (p.kind == "httpget") {
    // A proxy that closed its client's connection after the response holds nothing: that is
    // not an idle keep-alive connection, and its memory would read as none.
    int closed = 0;
    for (auto& socks : per) {
      for (auto& s : socks) {
        pollfd pf{s.native_handle(), POLLIN | POLLRDHUP, 0};
        if (::poll(&pf, 1, 0) == 1) ++closed;
      }
    }
    if (closed > 0) throw std::runtime_error(std::to_string(closed) + " keep-alive connections were closed by the proxy");
  }
  std::printf("ready %d\n", conns);
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);
  // Close with RST (explicitly: see server()), so thousands of idle connections leave no
  // TIME_WAIT sockets behind.
  for (auto& socks : per) {
    for (auto& s : socks) {
      std::error_code ec;
      s.set_option(asio::socket_base::linger(true, 0), ec);
      s.close(ec);
    }
  }
  return 0;
}

// SOCKS5 UDP ASSOCIATE: returns the relay endpoint; the control connection stays in ctl.
asio::ip::udp::endpoint socks5_associate(tcp::socket& ctl, const Proxy& p) {
  ctl.connect(to_tcp(p.ep));
  const unsigned char hello[] = {5, 1, 0};
  asio::write(ctl, asio::buffer(hello));
  unsigned char rep[2];
  asio::read(ctl, asio::buffer(rep));
  const unsigned char req[10] = {5, 3, 0, 1, 0, 0, 0, 0, 0, 0};
  asio::write(ctl, asio::buffer(req));
  unsigned char r[4];
  asio::read(ctl, asio::buffer(r));
  if (r[1] != 0) throw std::runtime_error("socks5 udp associate refused");
  asio::ip::address addr;
  if (r[3] == 1) {
    asio::ip::address_v4::bytes_type b;
    asio::read(ctl, asio::buffer(b));
    addr = asio::ip::address_v4(b);
  } else if (r[3] == 4) {
    asio::ip::address_v6::bytes_type b;
    asio::read(ctl, asio::buffer(b));
    addr = asio::ip::address_v6(b);
  } else {
    throw std::runtime_error("socks5 udp associate: unexpected address type");
  }
  unsigned char port[2];
  asio::read(ctl, asio::buffer(port));
  if (addr.is_unspecified()) addr = to_tcp(p.ep).address();
  return {addr, static_cast<unsigned short>(port[0] << 8 | port[1])};
}

int udp_load(const Proxy& p, const Endpoint& t, double seconds, int size, int window) {
  asio::io_context ctx;
  tcp::socket ctl(ctx);
  asio::ip::udp::endpoint dest;
  std::vector<unsigned char> head;
  if (p.kind == "socks5") {
    dest = socks5_associate(ctl, p);
    auto ip = asio::ip::make_address_v4(t.host).to_bytes();
    head = {0, 0, 0, 1, ip[0], ip[1], ip[2], ip[3], static_cast<unsigned char>(t.port >> 8),
            static_cast<unsigned char>(t.port & 0xff)};
  } else {
    dest = {asio::ip::make_address(t.host), t.port};
  }
  asio::ip::udp::socket s(ctx, asio::ip::udp::v4());
  s.set_option(asio::socket_base::receive_buffer_size(4 << 20));
  s.connect(dest);
  std::vector<unsigned char> out(head.size() + static_cast<std::size_t>(size), 'u');
  std::copy(head.begin(), head.end(), out.begin());
  std::uint64_t sent = 0, received = 0;
  const int fd = s.native_handle();
  // Sends k datagrams in one sendmmsg(2) (all the same bytes: only the count matters).
  std::vector<mmsghdr> smsgs(kUdpBatch);
  iovec siov{out.data(), out.size()};
  for (auto& m : smsgs) {
    m = {};
    m.msg_hdr.msg_iov = &siov;
    m.msg_hdr.msg_iovlen = 1;
  }
  auto send_n = [&](int k) {
    while (k > 0) {
      int m = ::sendmmsg(fd, smsgs.data(), static_cast<unsigned>(std::min(k, kUdpBatch)), 0);
      if (m <= 0) return;
      sent += static_cast<std::uint64_t>(m);
      k -= m;
    }
  };
  // Receives what is queued (up to a batch) without blocking; returns how many.
  std::vector<char> rbufs(static_cast<std::size_t>(kUdpBatch) * 2048);
  std::vector<mmsghdr> rmsgs(kUdpBatch);
  std::vector<iovec> riovs(kUdpBatch);
  auto recv_batch = [&]() -> int {
    for (int i = 0; i < kUdpBatch; ++i) {
      riovs[i] = {rbufs.data() + static_cast<std::size_t>(i) * 2048, 2048};
      rmsgs[i] = {};
      rmsgs[i].msg_hdr.msg_iov = &riovs[i];
      rmsgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(fd, rmsgs.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
    return n > 0 ? n : 0;
  };
  const auto start = clock_type::now();
  const auto end = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  send_n(window);
  pollfd pfd{fd, POLLIN, 0};
  while (clock_type::now() < end) {
    int got = recv_batch();
    if (got == 0) {
      int rc = ::poll(&pfd, 1, 20);
      if (rc <= 0) send_n(window);  // the window was lost: refill it
      continue;
    }
    received += static_cast<std::uint64_t>(got);
    send_n(got);  // keep `window` datagrams in flight
  }
  const double el = std::chrono::duration<double>(clock_type::now() - start).count();
  const auto counted = received;
  // Drain what is still in flight so it is not counted as lost.
  for (;;) {
    if (::poll(&pfd, 1, 100) <= 0) break;
    received += static_cast<std::uint64_t>(recv_batch());
  }
  const double loss = sent ? 100.0 * static_cast<double>(sent - std::min(sent, received)) / static_cast<double>(sent) : 100.0;
  std::printf("{\"mode\":\"udp\",\"sent\":%llu,\"received\":%llu,\"per_sec\":%.1f,\"loss_pct\":%.3f}\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received),
              static_cast<double>(counted) / el, loss);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() >= 2 && a[0] == "server") return server(a[1]);
    if (a.size() >= 6 && a[0] == "throughput")
      return throughput(parse_proxy(a[1]), parse_ep(a[2]), std::stoi(a[3]), std::stod(a[4]), a[5] == "up");
    if (a.size() >= 5 && a[0] == "connrate") return connrate(parse_proxy(a[1]), parse_ep(a[2]), std::stoi(a[3]), std::stod(a[4]));
    if (a.size() >= 5 && a[0] == "reqrate") return reqrate(parse_proxy(a[1]), parse_ep(a[2]), std::stoi(a[3]), std::stod(a[4]));
    if (a.size() >= 5 && a[0] == "latency") return latency(parse_proxy(a[1]), parse_ep(a[2]), std::stoi(a[3]), std::stoi(a[4]));
    if (a.size() >= 6 && a[0] == "udp")
      return udp_load(parse_proxy(a[1]), parse_ep(a[2]), std::stod(a[3]), std::stoi(a[4]), std::stoi(a[5]));
    if (a.size() >= 4 && a[0] == "idle") return idle(parse_proxy(a[1]), parse_ep(a[2]), std::stoi(a[3]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gost_loadgen: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: see the comment at the top of benchmarks/loadgen.cpp\n");
  return 2;
}
