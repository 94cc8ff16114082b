// Service + tcp/udp listeners + forward handler + bridge, end to end on loopback.
#include <catch2/catch.hpp>

#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "gost/core.hpp"
#include "gost/forward/forward.hpp"
#include "support.hpp"
#include "core/transports.hpp"

using namespace gost;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  Runtime rt;
  Registry reg;
  explicit Fixture(RuntimeOptions ro = {2, false}) : rt(ro) {
    register_core(reg);
    forward::register_module(reg);
    rt.start();
  }
  ~Fixture() {
    for (auto& s : services) s->stop();
    for (auto& s : services) s->wait_stopped(5s);
    services.clear();
    rt.stop();
    rt.join();
  }

  HopPtr targets(std::vector<std::string> addrs, std::string strategy = "round") {
    auto hop = std::make_shared<Hop>();
    hop->name = "forwarder";
    for (auto& a : addrs) {
      auto n = std::make_shared<Node>();
      n->name = a;
      n->addr = a;
      hop->nodes.push_back(n);
    }
    SelectorConfig sc;
    sc.strategy = strategy;
    sc.max_fails = 1;
    sc.fail_timeout = 30s;
    hop->selector = *make_selector(sc);
    return hop;
  }

  // A listener on 127.0.0.1, port 0.
  ListenerPtr listener(const std::string& network, const Metadata& md = {}) {
    ListenerArgs la;
    la.runtime = &rt;
    la.service = "svc";
    la.addr = Address("127.0.0.1", 0);
    la.metadata = md;
    auto l = (*reg.listener(network))(la);
    REQUIRE(l);
    return std::move(*l);
  }

  ServicePtr start(std::string network, HopPtr fwd, Metadata md = {}, AdmissionPtr adm = nullptr) {
    ListenerPtr l = listener(network, md);
    HandlerArgs ha;
    ha.runtime = &rt;
    ha.service = "svc";
    ha.metadata = md;
    ha.router = std::make_shared<Router>();
    ha.forwarder = std::move(fwd);
    auto h = (*reg.handler(network))(ha);
    REQUIRE(h);
    ServiceOptions so;
    so.name = "svc";
    so.admission = std::move(adm);
    so.logger = std::make_shared<Logger>(LogLevel::none);
    auto svc = std::make_shared<Service>(rt, so, std::move(l), std::move(*h));
    REQUIRE_FALSE(svc->start());
    services.push_back(svc);
    return svc;
  }
  std::vector<ServicePtr> services;
};

std::string roundtrip(std::uint16_t port, const std::string& msg) {
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, port);
  asio::write(s, asio::buffer(msg));
  std::string out(msg.size(), '\0');
  asio::read(s, asio::buffer(out));
  return out;
}

}  // namespace

TEST_CASE("tcp forwarding relays both ways and propagates half-close", "[service]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("tcp", f.targets({"127.0.0.1:" + std::to_string(echo.port())}));
  REQUIRE(svc->address().port != 0);

  CHECK(roundtrip(svc->address().port, "hello gost") == "hello gost");

  // Half-close: after our FIN the echo server finishes sending and closes; we still get all data.
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, svc->address().port);
  std::string big(256 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::thread writer([&] {
    asio::write(s, asio::buffer(big));
    s.shutdown(asio::ip::tcp::socket::shutdown_send);
  });
  std::string got;
  char buf[8192];
  std::error_code ec;
  for (int i = 0; i < 100000; ++i) {
    auto n = s.read_some(asio::buffer(buf), ec);
    got.append(buf, n);
    if (ec) break;
  }
  writer.join();
  CHECK(ec == asio::error::eof);
  CHECK(got == big);

  // The relay runs without the connection's coroutine, and still ends the connection and
  // counts its bytes when it finishes.
  s.close();
  svc->stop();  // ends the accept loops; the relays have ended (or end now) on their own
  REQUIRE(svc->wait_stopped(10s));
  const auto st = svc->stats();
  CHECK(st.current_conns == 0);
  CHECK(st.total_conns == 2);
  CHECK(st.input_bytes == 10 + big.size());
  CHECK(st.output_bytes == 10 + big.size());
}

TEST_CASE("tcp forwarding passes on what the client sent before the upstream was dialled", "[service]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("tcp", f.targets({"127.0.0.1:" + std::to_string(echo.port())}));

  // Bytes and the FIN sent at once, before the service has even accepted: the handler reads
  // them ahead of the dial, and the relay must still see the FIN and pass it on.
  const std::string early = "sent before the dial";
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, svc->address().port);
  asio::write(s, asio::buffer(early));
  s.shutdown(asio::ip::tcp::socket::shutdown_send);
  std::string got;
  char buf[256];
  std::error_code ec;
  for (int i = 0; i < 1000 && !ec; ++i) got.append(buf, s.read_some(asio::buffer(buf), ec));
  CHECK(ec == asio::error::eof);
  CHECK(got == early);
  s.close();

  svc->stop();
  REQUIRE(svc->wait_stopped(10s));
  CHECK(svc->stats().input_bytes == early.size());
  CHECK(svc->stats().output_bytes == early.size());
}

TEST_CASE("tcp forwarding does not wait for a client whose server speaks first", "[service]") {
  Fixture f;
  // A target that greets on accept and then waits for the client (as SMTP or SSH servers do).
  asio::io_context tctx;
  asio::ip::tcp::acceptor acc(tctx, {asio::ip::make_address("127.0.0.1"), 0});
  std::string heard;
  std::thread target([&] {
    auto t = acc.accept();
    asio::write(t, asio::buffer(std::string("220 ready\r\n")));
    char b[64];
    std::error_code ec;
    for (int i = 0; i < 100 && !ec; ++i) heard.append(b, t.read_some(asio::buffer(b), ec));
  });
  auto svc = f.start("tcp", f.targets({"127.0.0.1:" + std::to_string(acc.local_endpoint().port())}));

  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, svc->address().port);
  std::string greeting(11, '\0');
  asio::read(s, asio::buffer(greeting));  // nothing sent yet: the greeting must still arrive
  CHECK(greeting == "220 ready\r\n");
  asio::write(s, asio::buffer(std::string("QUIT\r\n")));
  s.shutdown(asio::ip::tcp::socket::shutdown_send);
  target.join();
  CHECK(heard == "QUIT\r\n");
}

TEST_CASE("tcp forwarding keeps every byte in order when the target stops reading", "[service]") {
  // The target has a small receive buffer and reads nothing until the client's writes block, so
  // gost's sends towards it come back short: the rest must wait in the pipe and go out later,
  // in order. Messages of many sizes take both the recv/send path and the splice path.
  Fixture f;
  asio::io_context ctx;
  asio::ip::tcp::acceptor acc(ctx);
  acc.open(asio::ip::tcp::v4());
  acc.set_option(asio::socket_base::receive_buffer_size(4096));  // accepted sockets inherit it
  acc.bind({asio::ip::make_address("127.0.0.1"), 0});
  acc.listen();
  auto svc = f.start("tcp", f.targets({"127.0.0.1:" + std::to_string(acc.local_endpoint().port())}));
  auto s = test::connect_blocking(ctx, svc->address().port);
  auto t = acc.accept();
  timeval tv{10, 0};
  ::setsockopt(t.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string data;
  std::vector<std::size_t> sizes;
  std::uint32_t x = 12345;
  while (data.size() < (3u << 20)) {
    x = x * 1103515245u + 12345u;
    std::size_t n = (x >> 8) % 4 == 0 ? 40000 + (x >> 12) % 90000 : 1 + (x >> 12) % 12000;
    for (std::size_t i = 0; i < n; ++i) data.push_back(static_cast<char>((x >> 16) + i * 7));
    sizes.push_back(n);
  }
  std::mutex mu;
  std::condition_variable cv;
  bool full = false;
  auto set_full = [&] {
    std::lock_guard lk(mu);
    full = true;
    cv.notify_all();
  };
  std::thread writer([&] {
    const int fd = s.native_handle();
    std::size_t off = 0;
    for (auto n : sizes) {
      for (std::size_t done = 0; done < n;) {
        ssize_t k = ::send(fd, data.data() + off + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          set_full();  // every buffer on the way is full
          pollfd p{fd, POLLOUT, 0};
          if (::poll(&p, 1, 10000) != 1) return;
          continue;
        }
        if (k < 0) return;
        done += static_cast<std::size_t>(k);
      }
      off += n;
    }
    set_full();
    ::shutdown(fd, SHUT_WR);
  });
  {
    std::unique_lock lk(mu);
    cv.wait_for(lk, 10s, [&] { return full; });
  }
  std::string got;
  got.reserve(data.size());
  char buf[700];
  std::error_code ec;
  for (int i = 0; i < 1000000 && !ec; ++i) {
    auto n = t.read_some(asio::buffer(buf), ec);
    got.append(buf, n);
  }
  writer.join();
  CHECK(ec == asio::error::eof);
  REQUIRE(got.size() == data.size());
  CHECK(got == data);
}

TEST_CASE("tcp forwarding skips a dead target and round-robins live ones", "[service]") {
  Fixture f;
  test::EchoServer e1, e2;
  // A port with no listener: bind and close to get one that refuses.
  std::uint16_t dead;
  {
    asio::io_context c;
    asio::ip::tcp::acceptor a(c, {asio::ip::make_address("127.0.0.1"), 0});
    dead = a.local_endpoint().port();
  }
  auto svc = f.start("tcp", f.targets({"127.0.0.1:" + std::to_string(dead), "127.0.0.1:" + std::to_string(e1.port()),
                                       "127.0.0.1:" + std::to_string(e2.port())}));
  for (int i = 0; i < 6; ++i) CHECK(roundtrip(svc->address().port, "ping") == "ping");
  CHECK(e1.accepted() >= 2);
  CHECK(e2.accepted() >= 2);
  CHECK(svc->stats().total_conns == 6);
}

TEST_CASE("admission refuses clients", "[service]") {
  Fixture f;
  test::EchoServer echo;
  auto adm = make_admission({"127.0.0.1"}, false);
  REQUIRE(adm);
  auto svc = f.start("tcp", f.targets({"127.0.0.1:" + std::to_string(echo.port())}), {}, *adm);
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, svc->address().port);
  asio::write(s, asio::buffer("x", 1));
  char c;
  std::error_code ec;
  s.read_some(asio::buffer(&c, 1), ec);
  CHECK(ec);  // closed without relaying
  CHECK(echo.accepted() == 0);
}

TEST_CASE("udp forwarding keeps per-peer sessions and expires them after ttl", "[service][udp]") {
  Fixture f;
  test::UdpEchoServer echo;
  Metadata md;
  md.set("ttl", "300ms");
  auto svc = f.start("udp", f.targets({"127.0.0.1:" + std::to_string(echo.port())}), md);
  asio::io_context ctx;
  asio::ip::udp::socket a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::udp::socket b(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::udp::endpoint to(asio::ip::make_address("127.0.0.1"), svc->address().port);
  // Replies are awaited with a receive timeout, never a sleep.
  for (auto* s : {&a, &b}) {
    timeval tv{2, 0};
    ::setsockopt(s->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  auto ask = [&](asio::ip::udp::socket& s, const std::string& m) {
    s.send_to(asio::buffer(m), to);
    char buf[2048];
    asio::ip::udp::endpoint from;
    std::error_code ec;
    auto n = s.receive_from(asio::buffer(buf), from, 0, ec);
    return ec ? std::string("<timeout>") : std::string(buf, n);
  };
  CHECK(ask(a, "one") == "one");
  CHECK(ask(b, "two") == "two");
  CHECK(ask(a, "three") == "three");
  CHECK(svc->stats().total_conns == 2);  // two peers, two sessions
  // The sessions expire 300 ms after their last datagram; poll the gauge (bounded, 3 s).
  for (int i = 0; i < 300 && svc->stats().current_conns != 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(svc->stats().current_conns == 0);
  CHECK(ask(a, "four") == "four");
  CHECK(svc->stats().total_conns == 3);
}

TEST_CASE("service stop closes live connections", "[service]") {
  Fixture f;
  test::EchoServer echo;
  auto svc = f.start("tcp", f.targets({"127.0.0.1:" + std::to_string(echo.port())}));
  asio::io_context ctx;
  auto s = test::connect_blocking(ctx, svc->address().port);
  CHECK(roundtrip(svc->address().port, "a") == "a");
  asio::write(s, asio::buffer("x", 1));
  char c;
  asio::read(s, asio::buffer(&c, 1));
  svc->stop();
  CHECK(svc->wait_stopped(5s));
  std::error_code ec;
  s.read_some(asio::buffer(&c, 1), ec);
  CHECK(ec);
}

namespace {
// What the accept loops of the affinity test saw: (shard, CPU the accepting thread ran on).
struct AcceptLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::size_t, int>> got;
  int loops_done = 0;
  int ended = 0;  // connections served and ended
};

asio::awaitable<void> log_accepts(Listener* l, std::size_t shard, AcceptLog* log) {
  for (;;) {
    auto r = co_await l->accept_shard(shard);
    std::lock_guard lk(log->mu);
    if (!r) {
      ++log->loops_done;
      log->cv.notify_all();
      co_return;
    }
    log->got.emplace_back(shard, sched_getcpu());
    log->cv.notify_all();
  }
}

// Connections made from a thread pinned to the CPU that shard c's thread takes connections of:
// the SYN is taken in on that CPU, so shard c accepts every one of them. With `pinned`, its
// thread also runs on that CPU.
void check_steering(Runtime& rt, Listener& l, bool pinned) {
  l.offer_accept_threads(2);
  REQUIRE_FALSE(l.listen());
  REQUIRE(l.accept_shards() == 2);
  AcceptLog log;
  for (std::size_t i = 0; i < 2; ++i) {
    asio::co_spawn(l.shard_executor(i), log_accepts(&l, i, &log), asio::detached);
  }
  const std::uint16_t port = l.address().port;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t c = 0; c < 2; ++c) {
      bool on_cpu = false;
      std::thread client([&] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(rt.steer_cpu(c), &one);
        on_cpu = pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
        asio::io_context ctx;
        auto s = test::connect_blocking(ctx, port);
        std::unique_lock lk(log.mu);
        log.cv.wait_for(lk, 10s, [&] { return log.got.size() == static_cast<std::size_t>(round * 2 + c + 1); });
      });
      client.join();
      REQUIRE(on_cpu);
      std::lock_guard lk(log.mu);
      REQUIRE(log.got.size() == static_cast<std::size_t>(round * 2 + c + 1));
      CHECK(log.got.back().first == c);
      if (pinned) CHECK(log.got.back().second == rt.steer_cpu(c));
    }
  }
  l.close();
  std::unique_lock lk(log.mu);
  CHECK(log.cv.wait_for(lk, 10s, [&] { return log.loops_done == 2; }));
}

bool two_cpus(Runtime& rt) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) {
    WARN("needs two CPUs to run on; skipped");
    return false;
  }
  REQUIRE(rt.steer_cpu(0) >= 0);
  REQUIRE(rt.steer_cpu(1) >= 0);
  REQUIRE(rt.steer_cpu(0) != rt.steer_cpu(1));
  return true;
}
}  // namespace

TEST_CASE("by default a TCP listener gives each connection to the thread that takes its CPU's",
          "[service][steer]") {
  Fixture f(RuntimeOptions{2, false});
  if (!two_cpus(f.rt)) return;
  CHECK(f.rt.cpu_of(0) == -1);  // steered, not pinned
  ListenerPtr l = f.listener("tcp");
  check_steering(f.rt, *l, false);
}

TEST_CASE("with cpu affinity the threads are pinned and connections steered to them", "[service][affinity]") {
  Fixture f(RuntimeOptions{2, true});
  if (!two_cpus(f.rt)) return;
  REQUIRE(f.rt.cpu_of(0) == f.rt.steer_cpu(0));
  ListenerPtr l = f.listener("tcp");
  check_steering(f.rt, *l, true);
}

TEST_CASE("without steering no thread takes the connections of a CPU", "[service][steer]") {
  RuntimeOptions ro{2, false};
  ro.steer_by_cpu = false;
  Fixture f(ro);
  CHECK(f.rt.steer_cpu(0) == -1);
  CHECK(f.rt.steer_cpu(1) == -1);
}

namespace {
// Holds each accepted connection until its client closes; records the thread it is served on.
asio::awaitable<void> hold_until_closed(StreamPtr s, AcceptLog* log, std::size_t thread) {
  {
    std::lock_guard lk(log->mu);
    log->got.emplace_back(thread, 0);
    log->cv.notify_all();
  }
  unsigned char b[16];
  for (int i = 0; i < 4; ++i) {
    auto r = co_await s->read_some(asio::buffer(b));
    if (r.ec || r.bytes == 0) break;
  }
  s.reset();
  std::lock_guard lk(log->mu);
  ++log->ended;
  log->cv.notify_all();
}

asio::awaitable<void> accept_and_hold(Listener* l, std::size_t shard, AcceptLog* log, Runtime* rt) {
  for (;;) {
    auto r = co_await l->accept_shard(shard);
    if (!r) {
      std::lock_guard lk(log->mu);
      ++log->loops_done;
      log->cv.notify_all();
      co_return;
    }
    auto ex = (*r)->get_executor();
    const std::size_t thread = ex == rt->executor(0) ? 0 : ex == rt->executor(1) ? 1 : 9;
    asio::co_spawn(ex, hold_until_closed(std::move(*r), log, thread), asio::detached);
  }
}
}  // namespace

namespace {
// The promise is shared: a test that stops waiting early leaves the coroutine a live one.
using AcceptPromise = std::shared_ptr<std::promise<Result<StreamPtr>>>;

asio::awaitable<void> accept_into(Listener* l, AcceptPromise out) {
  out->set_value(co_await l->accept());
}

// listener.accept() on its executor; the result, or nullopt after 5 s.
std::optional<Result<StreamPtr>> accept_once(Listener& l) {
  auto p = std::make_shared<std::promise<Result<StreamPtr>>>();
  auto fut = p->get_future();
  asio::co_spawn(l.get_executor(), accept_into(&l, p), asio::detached);
  if (fut.wait_for(5s) != std::future_status::ready) return std::nullopt;
  return fut.get();
}

// Restores the descriptor limit however the test ends.
struct NofileGuard {
  rlimit old{};
  NofileGuard() { REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0); }
  ~NofileGuard() { setrlimit(RLIMIT_NOFILE, &old); }
};
}  // namespace

TEST_CASE("out of descriptors, accept reports the error and leaves the connection queued for the next accept",
          "[service][accept]") {
  Fixture f(RuntimeOptions{1, false});
  ListenerPtr l = f.listener("tcp");
  REQUIRE_FALSE(l->listen());
  asio::io_context cctx;
  // One accepted as usual first. (This also runs every path the test takes below once before the
  // limit is lowered: the sanitizers' first check of a type may need a descriptor of its own.)
  auto warm = test::connect_blocking(cctx, l->address().port);
  auto accepted = accept_once(*l);
  REQUIRE(accepted);
  REQUIRE(*accepted);
  auto client = test::connect_blocking(cctx, l->address().port);  // in the backlog: nobody accepts yet
  std::optional<Result<StreamPtr>> first;
  {
    NofileGuard guard;
    // The lowest free descriptor number made the limit: every new descriptor fails with EMFILE.
    const int next = ::dup(0);
    REQUIRE(next >= 0);
    ::close(next);
    rlimit low = guard.old;
    low.rlim_cur = static_cast<rlim_t>(next);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    first = accept_once(*l);
  }
  REQUIRE(first);
  REQUIRE_FALSE(*first);
  CHECK(first->error() == asio::error::no_descriptors);  // EMFILE
  auto second = accept_once(*l);
  REQUIRE(second);
  REQUIRE(*second);
  CHECK((**second)->remote_address().port == client.local_endpoint().port());
  // Accept waits (no busy loop) when nothing is queued, and a close ends the wait.
  auto p = std::make_shared<std::promise<Result<StreamPtr>>>();
  auto fut = p->get_future();
  asio::co_spawn(l->get_executor(), accept_into(l.get(), p), asio::detached);
  CHECK(fut.wait_for(100ms) == std::future_status::timeout);
  l->close();
  REQUIRE(fut.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(fut.get());
}

TEST_CASE("balancing: beyond the slack a connection moves to the other thread, while some CPU is idle enough",
          "[service][steer]") {
  // Within the slack (2, or a quarter of the other's count): never.
  CHECK_FALSE(core::imbalanced(2, 0));
  CHECK_FALSE(core::imbalanced(5, 3));
  CHECK_FALSE(core::imbalanced(125, 100));
  CHECK(core::imbalanced(3, 0));
  CHECK(core::imbalanced(6, 2));
  CHECK(core::imbalanced(126, 100));
  // Beyond it: while at least min_idle (per cent of a CPU) is idle, or that is unknown.
  CHECK(core::idle_enough(200, 50));
  CHECK(core::idle_enough(50, 50));
  CHECK(core::idle_enough(-1, 50));
  // Every core busy: stay.
  CHECK_FALSE(core::idle_enough(49, 50));
  CHECK_FALSE(core::idle_enough(0, 50));
}

TEST_CASE("cpu_ticks: idle and total ticks of the given CPUs from /proc/stat", "[runtime]") {
  const std::string stat =
      "cpu  300 10 100 5000 20 0 5 1 0 0\n"
      "cpu0 100 5 50 2000 10 0 2 1 0 0\n"
      "cpu1 200 5 50 3000 10 0 3 0 0 0\n"
      "cpu12 7 0 0 1 0 0 0 0 0 0\n"
      "intr 145974828 0 0 0\n"
      "cpu3 999 999 999 999 999 999 999 999\n";
  long long idle = 0;
  long long total = 0;
  REQUIRE(core::cpu_ticks(stat, {0, 1}, idle, total));
  CHECK(idle == 2010 + 3010);
  CHECK(total == 2168 + 3268);
  REQUIRE(core::cpu_ticks(stat, {1}, idle, total));
  CHECK(idle == 3010);
  CHECK(total == 3268);
  REQUIRE(core::cpu_ticks(stat, {12}, idle, total));  // "cpu12" is not "cpu1"
  CHECK(idle == 1);
  CHECK(total == 8);
  CHECK_FALSE(core::cpu_ticks(stat, {3}, idle, total));  // only the lines before the first other one
  CHECK_FALSE(core::cpu_ticks(stat, {7}, idle, total));
  CHECK_FALSE(core::cpu_ticks("", {0}, idle, total));
  CHECK_FALSE(core::cpu_ticks("cpu0 x y\n", {0}, idle, total));
  CHECK_FALSE(core::cpu_ticks(std::string(5000, 'c'), {0}, idle, total));
}

TEST_CASE("Runtime::idle_percent: the idle time of the process's CPUs, in per cent of one", "[runtime]") {
  Runtime rt(1);
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  const int cpus = CPU_COUNT(&set);
  CHECK(rt.idle_percent() == -1);  // the first sample has nothing to compare with
  CHECK(rt.idle_percent() == -1);  // and stands for kIdleSample
  // The next one needs the kernel's tick counts to move on: wait out the sampling interval.
  std::this_thread::sleep_for(Runtime::kIdleSample + 50ms);
  const int idle = rt.idle_percent();
  CHECK(idle >= 0);
  CHECK(idle <= 100 * cpus);
  CHECK(rt.idle_percent() == idle);  // asked again at once: the same sample
}

namespace {
// Two shards of a TCP listener on f's runtime, each accepting and holding; n connections from a
// thread on the CPU whose connections thread 0 takes, all accepted before it returns.
struct OneCpuClients {
  ListenerPtr l;
  AcceptLog log;
  asio::io_context ctx;
  std::vector<asio::ip::tcp::socket> held;

  OneCpuClients(Fixture& f, int n) {
    Runtime& rt = f.rt;
    l = f.listener("tcp");
    l->offer_accept_threads(2);
    REQUIRE_FALSE(l->listen());
    for (std::size_t i = 0; i < 2; ++i) {
      asio::co_spawn(l->shard_executor(i), accept_and_hold(l.get(), i, &log, &rt), asio::detached);
    }
    bool on_cpu = false;
    std::thread client([&] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(rt.steer_cpu(0), &one);
      on_cpu = pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
      for (int i = 0; i < n; ++i) held.push_back(test::connect_blocking(ctx, l->address().port));
    });
    client.join();
    REQUIRE(on_cpu);
    std::unique_lock lk(log.mu);
    REQUIRE(log.cv.wait_for(lk, 10s, [&] { return log.got.size() == static_cast<std::size_t>(n); }));
  }

  // How many of them thread i serves (2: neither of the two).
  int on(std::size_t i) {
    std::lock_guard lk(log.mu);
    int k = 0;
    for (auto& g : log.got) k += std::min<std::size_t>(g.first, 2) == i;
    return k;
  }

  // Closes the clients, waits for every held connection to end, then closes the listener.
  void close_all() {
    const auto n = held.size();
    for (auto& s : held) s.close();
    {
      std::unique_lock lk(log.mu);
      REQUIRE(log.cv.wait_for(lk, 10s, [&] { return log.ended == static_cast<int>(n); }));
    }
    l->close();
    std::unique_lock lk(log.mu);
    CHECK(log.cv.wait_for(lk, 10s, [&] { return log.loops_done == 2; }));
  }
};
}  // namespace

TEST_CASE("with every core busy (balance_min_idle out of reach), a CPU that takes in every connection keeps them",
          "[service][steer]") {
  Fixture f(RuntimeOptions{2, false, true, 1'000'000});
  Runtime& rt = f.rt;
  if (!two_cpus(rt)) return;
  // A first sample, so that the figure is known (not "unknown", which balances by the counts).
  rt.idle_percent();
  std::this_thread::sleep_for(Runtime::kIdleSample + 50ms);
  REQUIRE(rt.idle_percent() >= 0);
  OneCpuClients c(f, 20);
  CHECK(c.on(0) == 20);
  c.close_all();
}

TEST_CASE("a CPU that takes in every connection does not load one thread with all of them",
          "[service][steer]") {
  Fixture f(RuntimeOptions{2, false, true, 0});  // by the counts alone: the machine may be busy
  Runtime& rt = f.rt;
  if (!two_cpus(rt)) return;
  // Every SYN from one CPU: steering alone would put all 60 on thread 0.
  constexpr int kConns = 60;
  OneCpuClients c(f, kConns);
  CHECK(c.on(2) == 0);
  // Balanced to within the slack (2) and a quarter: at least 20 of 60 on each.
  CHECK(c.on(0) >= 20);
  CHECK(c.on(1) >= 20);
  CHECK(rt.live(0).load() + rt.live(1).load() == kConns);
  // Closed connections count down again.
  c.close_all();
  CHECK(rt.live(0).load() == 0);
  CHECK(rt.live(1).load() == 0);
}

namespace {

// What the relay-moving test sees of its upstream.
struct HomeProbe {
  asio::any_io_executor home;
  std::thread::id home_thread;
  std::atomic<int> moved{0};
  std::atomic<int> dials_elsewhere{0};  // dialled by a handler on a thread other than home
  std::atomic<int> writes_before_move{0};
  std::atomic<int> ops_after_move_elsewhere{0};
};

// An upstream that says its operations belong to `home` (as a mux stream of a session on that
// thread does): the service moves the relay there.
class HomeStream final : public Stream {
 public:
  HomeStream(StreamPtr inner, std::shared_ptr<HomeProbe> p) : inner_(std::move(inner)), p_(std::move(p)) {}
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    note();
    co_return co_await inner_->read_some(b);
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    if (!moved_) ++p_->writes_before_move;
    note();
    co_return co_await inner_->write_some(b);
  }
  asio::awaitable<std::error_code> shutdown_write() override { co_return co_await inner_->shutdown_write(); }
  asio::awaitable<std::error_code> wait_readable() override {
    note();
    co_return co_await inner_->wait_readable();
  }
  void close() noexcept override { inner_->close(); }
  const asio::any_io_executor* io_home() const noexcept override { return moved_ ? nullptr : &p_->home; }
  bool movable() const noexcept override { return inner_->movable(); }
  asio::awaitable<void> move_to(asio::any_io_executor ex) override {
    co_await inner_->move_to(ex);
    moved_ = true;
    ++p_->moved;
  }

 private:
  void note() {
    if (moved_ && std::this_thread::get_id() != p_->home_thread) ++p_->ops_after_move_elsewhere;
  }
  StreamPtr inner_;
  std::shared_ptr<HomeProbe> p_;
  bool moved_ = false;
};

class HomeDialer final : public Dialer {
 public:
  explicit HomeDialer(std::shared_ptr<HomeProbe> p) : p_(std::move(p)) {}
  asio::awaitable<Result<StreamPtr>> dial(Address addr, DialOptions) override {
    if (std::this_thread::get_id() != p_->home_thread) ++p_->dials_elsewhere;
    auto r = co_await dial_tcp(addr);
    if (!r) co_return r;
    co_return StreamPtr(std::make_unique<HomeStream>(std::move(*r), p_));
  }

 private:
  std::shared_ptr<HomeProbe> p_;
};

class PassConnector final : public Connector {
 public:
  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string, Address) override {
    co_return conn;
  }
};

// Holds each accepted connection until the test has written its first bytes, so the forward
// handler finds them already there.
class GateAdmission final : public Admission {
 public:
  bool admit(std::string_view, const Address&) const override {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, 5s, [&] { return permits_ > 0; });
    if (permits_ > 0) --permits_;
    return true;
  }
  void release() {
    {
      std::lock_guard lk(mu_);
      ++permits_;
    }
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int permits_ = 0;
};

}  // namespace

TEST_CASE("tcp forwarding to an upstream of another thread hands the early bytes to the moved relay",
          "[service]") {
  // Connections spread by hash (not steered to the client's CPU), so both threads accept some.
  Fixture f(RuntimeOptions{2, false, false});
  test::EchoServer echo;
  const std::string target = "127.0.0.1:" + std::to_string(echo.port());
  auto probe = std::make_shared<HomeProbe>();
  probe->home = f.rt.executor(0);
  {
    std::promise<std::thread::id> id;
    asio::post(probe->home, [&] { id.set_value(std::this_thread::get_id()); });
    probe->home_thread = id.get_future().get();
  }
  auto node = std::make_shared<Node>();
  node->name = "home";
  node->addr = target;
  node->dialer = std::make_shared<HomeDialer>(probe);
  node->connector = std::make_shared<PassConnector>();
  auto hop = std::make_shared<Hop>();
  hop->nodes.push_back(node);
  auto chain = std::make_shared<Chain>();
  chain->hops.push_back(hop);

  auto gate = std::make_shared<GateAdmission>();
  ListenerPtr l = f.listener("tcp");
  HandlerArgs ha;
  ha.runtime = &f.rt;
  ha.service = "svc";
  ha.router = std::make_shared<Router>(chain);
  ha.forwarder = f.targets({target});
  auto h = (*f.reg.handler("tcp"))(ha);
  REQUIRE(h);
  ServiceOptions so;
  so.name = "svc";
  so.admission = gate;
  so.logger = std::make_shared<Logger>(LogLevel::none);
  auto svc = std::make_shared<Service>(f.rt, so, std::move(l), std::move(*h));
  REQUIRE_FALSE(svc->start());
  f.services.push_back(svc);

  // Connections spread over both threads (one acceptor each, by hash); those accepted by
  // thread 1 move.
  std::uint64_t sent = 0;
  asio::io_context ctx;
  for (int i = 0; i < 24; ++i) {
    auto s = test::connect_blocking(ctx, svc->address().port);
    const std::string msg = "early " + std::to_string(i);
    asio::write(s, asio::buffer(msg));
    gate->release();
    std::string back(msg.size(), '\0');
    asio::read(s, asio::buffer(back));
    REQUIRE(back == msg);
    const std::string more(3000 + static_cast<std::size_t>(i), 'm');
    asio::write(s, asio::buffer(more));
    std::string back2(more.size(), '\0');
    asio::read(s, asio::buffer(back2));
    REQUIRE(back2 == more);
    sent += msg.size() + more.size();
  }
  svc->stop();
  REQUIRE(svc->wait_stopped(10s));
  CHECK(probe->dials_elsewhere > 0);
  CHECK(probe->moved > 0);
  // Every write to a moved upstream came from the relay on its home thread, the early bytes
  // included: the handler wrote nothing through the hop.
  CHECK(probe->writes_before_move == 0);
  CHECK(probe->ops_after_move_elsewhere == 0);
  CHECK(svc->stats().input_bytes == sent);
  CHECK(svc->stats().output_bytes == sent);
}

TEST_CASE("accepted TCP connections come with TCP_NODELAY, and SO_KEEPALIVE when asked for", "[service]") {
  Fixture f;
  for (const bool keepalive : {false, true}) {
    Metadata md;
    if (keepalive) md.set("keepalive", "true");
    ListenerPtr l = f.listener("tcp", md);
    REQUIRE_FALSE(l->listen());
    std::promise<std::pair<int, int>> got;  // (nodelay, keepalive) of the accepted socket
    asio::co_spawn(
        l->get_executor(),
        [](Listener* lp, std::promise<std::pair<int, int>>* out) -> asio::awaitable<void> {
          auto r = co_await lp->accept();
          int nd = -1, ka = -1;
          if (r && (*r)->tcp_socket()) {
            socklen_t len = sizeof nd;
            (void)::getsockopt((*r)->tcp_socket()->native_handle(), IPPROTO_TCP, TCP_NODELAY, &nd, &len);
            len = sizeof ka;
            (void)::getsockopt((*r)->tcp_socket()->native_handle(), SOL_SOCKET, SO_KEEPALIVE, &ka, &len);
          }
          out->set_value({nd, ka});
        }(l.get(), &got),
        asio::detached);
    asio::io_context ctx;
    auto s = test::connect_blocking(ctx, l->address().port);
    auto fut = got.get_future();
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    auto [nd, ka] = fut.get();
    CHECK(nd != 0);
    CHECK(nd != -1);
    CHECK((ka != 0) == keepalive);
    l->close();
  }
}

namespace {
// A handler that echoes what each read brings and then parks its connection until the client
// sends again; "bye" ends it. `serving` counts the coroutines of it that are running: 0 while
// every connection is parked.
struct ParkProbe {
  std::atomic<int> serving{0};
  std::atomic<int> resumes{0};
};


class EchoSession final : public ParkedConn {
 public:
  EchoSession(StreamPtr s, std::shared_ptr<ParkProbe> probe, std::chrono::milliseconds idle)
      : s_(std::move(s)), probe_(std::move(probe)), idle_(idle) {}
  Stream& client() noexcept override { return *s_; }
  std::chrono::milliseconds idle_timeout() const noexcept override { return idle_; }
  asio::awaitable<bool> resume(ConnRecord&) override {
    ++probe_->resumes;
    return serve();
  }
  // One read and its echo; true: park until the client sends again.
  asio::awaitable<bool> serve() {
    ++probe_->serving;
    char buf[64];
    auto r = co_await s_->read_some(asio::buffer(buf));
    bool again = !r.ec && r.bytes > 0 && std::string_view(buf, r.bytes) != "bye";
    if (again) {
      auto w = co_await write_all(*s_, asio::buffer(buf, r.bytes));
      again = !w;
    }
    --probe_->serving;
    co_return again;
  }

 private:
  StreamPtr s_;
  std::shared_ptr<ParkProbe> probe_;
  std::chrono::milliseconds idle_;
};

class ParkingEchoHandler final : public Handler {
 public:
  ParkingEchoHandler(std::shared_ptr<ParkProbe> probe, bool ready, std::chrono::milliseconds idle)
      : probe_(std::move(probe)), ready_(ready), idle_(idle) {}
  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    if (!ready_) conn = std::make_unique<test::NoReadyStream>(std::move(conn));
    auto s = std::make_unique<EchoSession>(std::move(conn), probe_, idle_);
    const bool park = co_await s->serve();
    if (park) rec.park(std::move(s));
  }

 private:
  std::shared_ptr<ParkProbe> probe_;
  bool ready_;
  std::chrono::milliseconds idle_;
};

ServicePtr start_parking(Fixture& f, std::shared_ptr<ParkProbe> probe, bool ready, std::chrono::milliseconds idle) {
  ServiceOptions so;
  so.name = "svc";
  so.logger = std::make_shared<Logger>(LogLevel::none);
  auto svc = std::make_shared<Service>(f.rt, so, f.listener("tcp"),
                                       std::make_shared<ParkingEchoHandler>(std::move(probe), ready, idle));
  REQUIRE_FALSE(svc->start());
  f.services.push_back(svc);
  return svc;
}

// Polls cond (bounded): the service reaches its next state a moment after the client's read.
template <class F>
bool becomes(F cond) {
  const auto limit = std::chrono::steady_clock::now() + 5s;
  for (int i = 0; i < 1000 && std::chrono::steady_clock::now() < limit; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

// True when the peer closes within the limit (EOF or reset).
bool closed_within(asio::ip::tcp::socket& s, std::chrono::milliseconds limit) {
  pollfd p{s.native_handle(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
  char c;
  return ::recv(s.native_handle(), &c, 1, 0) <= 0;
}
}  // namespace

TEST_CASE("a parked connection holds no coroutine and is resumed when its client sends", "[service][park]") {
  const bool ready = GENERATE(true, false);  // callback-style readiness, or a waiting coroutine
  CAPTURE(ready);
  Fixture f;
  auto probe = std::make_shared<ParkProbe>();
  auto svc = start_parking(f, probe, ready, 0ms);
  asio::io_context ctx;
  std::vector<asio::ip::tcp::socket> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(test::connect_blocking(ctx, svc->address().port));
  for (int round = 0; round < 3; ++round) {
    for (auto& s : clients) {
      const std::string msg = "m" + std::to_string(round);
      asio::write(s, asio::buffer(msg));
      std::string back(msg.size(), '\0');
      asio::read(s, asio::buffer(back));
      REQUIRE(back == msg);
    }
    // Between messages every connection is parked: alive, with none of the handler's coroutines.
    CHECK(becomes([&] { return probe->serving.load() == 0; }));
    CHECK(svc->stats().current_conns == 3);
  }
  CHECK(probe->resumes.load() == 6);
  asio::write(clients[0], asio::buffer(std::string_view("bye")));
  CHECK(closed_within(clients[0], 5000ms));
  CHECK(becomes([&] { return svc->stats().current_conns == 2; }));
}

TEST_CASE("a parked connection ends at its idle timeout, and when the service stops", "[service][park]") {
  const bool ready = GENERATE(true, false);
  CAPTURE(ready);
  Fixture f;
  auto probe = std::make_shared<ParkProbe>();
  asio::io_context ctx;
  // A service with the given idle timeout, and a client whose first message has been echoed.
  auto echoed_once = [&](std::chrono::milliseconds idle) {
    auto svc = start_parking(f, probe, ready, idle);
    auto s = test::connect_blocking(ctx, svc->address().port);
    asio::write(s, asio::buffer(std::string_view("x")));
    char c;
    asio::read(s, asio::buffer(&c, 1));
    return std::make_pair(svc, std::move(s));
  };
  SECTION("idle timeout") {
    auto [svc, s] = echoed_once(200ms);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(closed_within(s, 5000ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
    CHECK(becomes([&] { return svc->stats().current_conns == 0; }));
  }
  SECTION("stop") {
    auto [svc, s] = echoed_once(0ms);
    REQUIRE(becomes([&] { return probe->serving.load() == 0; }));
    svc->stop();
    CHECK(svc->wait_stopped(5s));
    CHECK(closed_within(s, 5000ms));
    CHECK(svc->stats().current_conns == 0);
  }
}
