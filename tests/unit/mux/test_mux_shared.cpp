// One smux session per node for the whole process: a 2-thread Runtime dialing one mtcp node
// from both threads shares one session (one TCP connection), streams opened from the thread
// that does not own the session run their I/O on the session's thread, and the session dying
// fails pending reads on both threads.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gost/core/handler.hpp"
#include "gost/core/registry.hpp"
#include "gost/core/service.hpp"
#include "gost/core/timeout.hpp"
#include "gost/mux/session.hpp"
#include "mux/foreign_stream.hpp"
#include "support.hpp"

namespace gost::mux {
void register_module(Registry& r);
}

using namespace gost;
using namespace std::chrono_literals;
using gost::test::use_tuple;

namespace {

asio::awaitable<void> echo_stream(StreamPtr s) {
  std::vector<std::uint8_t> buf(16384);
  for (;;) {
    auto r = co_await s->read_some(asio::buffer(buf));
    if (r.bytes == 0) break;
    if (co_await write_all(*s, asio::buffer(buf.data(), r.bytes))) co_return;
  }
  co_await s->shutdown_write();
}

// An smux echo server on its own thread that counts TCP connections and streams and can kill
// every session it has (the node going away under its clients).
class MuxEchoServer {
 public:
  MuxEchoServer() : acc_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ctx_, accept_loop(this), asio::detached);
    th_ = std::thread([this] { ctx_.run(); });
  }
  ~MuxEchoServer() {
    asio::post(ctx_, [this] {
      for (auto& s : sessions_) s->close();
      sessions_.clear();
      std::error_code ec;
      acc_.close(ec);
    });
    ctx_.stop();
    th_.join();
  }
  Address address() const { return Address("127.0.0.1", acc_.local_endpoint().port()); }
  std::size_t connections() const { return conns_.load(); }
  // Waits (bounded) until the server has accepted n connections: a client's connect completes
  // before the server's accept does.
  std::size_t wait_connections(std::size_t n, std::chrono::milliseconds limit = 5000ms) {
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait_for(g, limit, [&] { return conns_.load() >= n; });
    return conns_.load();
  }
  std::size_t streams() const { return streams_.load(); }
  // Closes every session (their TCP connections) and waits until done.
  void kill() {
    std::promise<void> p;
    asio::post(ctx_, [this, &p] {
      for (auto& s : sessions_) s->close();
      sessions_.clear();
      p.set_value();
    });
    p.get_future().wait();
  }

 private:
  static asio::awaitable<void> accept_loop(MuxEchoServer* self) {
    for (;;) {
      auto [ec, sock] = co_await self->acc_.async_accept(use_tuple);
      if (ec) co_return;
      {
        std::lock_guard<std::mutex> g(self->mu_);
        ++self->conns_;
      }
      self->cv_.notify_all();
      mux::Options o;
      auto sess = mux::Session::server(std::make_unique<TcpStream>(std::move(sock)), o);
      self->sessions_.push_back(sess);
      asio::co_spawn(self->ctx_, serve(self, sess), asio::detached);
    }
  }
  static asio::awaitable<void> serve(MuxEchoServer* self, mux::SessionPtr sess) {
    for (;;) {
      auto s = co_await sess->accept();
      if (!s) co_return;
      ++self->streams_;
      asio::co_spawn(self->ctx_, echo_stream(std::move(*s)), asio::detached);
    }
  }

  asio::io_context ctx_;
  asio::ip::tcp::acceptor acc_;
  std::thread th_;
  std::atomic<std::size_t> conns_{0}, streams_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<mux::SessionPtr> sessions_;  // on ctx_ only
};

DialerPtr make_mtcp_dialer(const Address& node) {
  Registry reg;
  gost::mux::register_module(reg);
  DialerArgs da;
  da.node_addr = node;
  auto d = (*reg.dialer("mtcp"))(da);
  REQUIRE(d);
  return *d;
}

asio::awaitable<Result<StreamPtr>> dial_node(DialerPtr d, Address a) {
  DialOptions o;
  o.timeout = 5000ms;
  auto s = co_await d->dial(a, o);
  if (!s) co_return s.error();
  co_return co_await d->handshake(std::move(*s), a);
}

// Starts a coroutine on ex; the future gives its result.
template <class T>
std::future<T> start_on(asio::any_io_executor ex, asio::awaitable<T> aw) {
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  asio::co_spawn(ex, std::move(aw), [p](std::exception_ptr e, T v) {
    if (e)
      p->set_exception(e);
    else
      p->set_value(std::move(v));
  });
  return f;
}

template <class T>
T get(std::future<T>& f, std::chrono::seconds limit = 30s) {
  if (f.wait_for(limit) != std::future_status::ready)
    throw std::runtime_error("test coroutine timed out");
  return f.get();
}

struct Tally {
  explicit Tally(const asio::any_io_executor& ex)
      : done(ex, asio::steady_timer::time_point::max()) {}
  int pending = 0;
  int ok = 0;         // data came back intact
  int on_caller = 0;  // the stream was bound to the dialing coroutine's executor
  asio::steady_timer done;
};

// Dials a stream, sends a pattern both ways (writer and reader at once) and checks it.
asio::awaitable<void> one_client(DialerPtr d, Address node, int i, std::shared_ptr<Tally> t) {
  auto ex = co_await asio::this_coro::executor;
  auto s = co_await dial_node(d, node);
  if (s) {
    if (mux::same_context((*s)->get_executor(), ex)) ++t->on_caller;
    std::vector<std::uint8_t> data(3000 + static_cast<std::size_t>(i % 11) * 1777);
    for (std::size_t k = 0; k < data.size(); ++k)
      data[k] = static_cast<std::uint8_t>(k * 131 + static_cast<std::size_t>(i) * 7);
    bool ok = !co_await write_all(**s, asio::buffer(data)) && !co_await (*s)->shutdown_write();
    std::vector<std::uint8_t> got(data.size() + 1);
    std::size_t n = 0;
    while (ok) {
      auto r = co_await (*s)->read_some(asio::buffer(got.data() + n, got.size() - n));
      n += r.bytes;
      if (r.ec == asio::error::eof) break;
      if (r.ec || n == got.size()) ok = false;
    }
    got.resize(n);
    if (ok && got == data) ++t->ok;
  }
  if (--t->pending == 0) t->done.cancel();
}

struct Counts {
  int ok = 0, on_caller = 0;
};

// n concurrent clients on the calling thread.
asio::awaitable<Counts> many_clients(DialerPtr d, Address node, int n, int base) {
  auto ex = co_await asio::this_coro::executor;
  auto t = std::make_shared<Tally>(ex);
  t->pending = n;
  for (int i = 0; i < n; ++i) asio::co_spawn(ex, one_client(d, node, base + i, t), asio::detached);
  t->done.expires_after(20s);
  while (t->pending > 0) {
    auto [ec] = co_await t->done.async_wait(use_tuple);
    if (!ec) break;  // expired
  }
  co_return Counts{t->ok, t->on_caller};
}

struct Pending {
  bool echoed = false;
  bool failed = false;  // the pending read completed with an error (not by the 5 s guard)
  bool foreign = false;
  bool write_failed = false;
};

// Opens a stream, checks an echo, then blocks in read_some until the session dies.
asio::awaitable<Pending> read_until_death(DialerPtr d, Address node,
                                          std::shared_ptr<std::promise<void>> reading) {
  Pending p;
  auto s = co_await dial_node(d, node);
  if (!s) {
    reading->set_value();
    co_return p;
  }
  p.foreign = mux::is_foreign_stream(**s);
  std::string msg = "ping", got(4, '\0');
  p.echoed = !co_await write_all(**s, asio::buffer(msg)) &&
             !co_await read_exact(**s, asio::buffer(got)) && got == msg;
  reading->set_value();
  char buf[16];
  auto r = co_await with_timeout((*s)->read_some(asio::buffer(buf)), 5000ms);
  p.failed = r && r->ec && r->bytes == 0;
  // Writes fail too (a foreign stream reports a write-behind failure at the next write).
  for (int i = 0; i < 3 && !p.write_failed; ++i)
    p.write_failed = static_cast<bool>(co_await write_all(**s, asio::buffer(msg)));
  co_return p;
}

// The stream opened here belongs to a session on another thread: a timed-out read leaves the
// stream usable, and close() wakes a pending read.
struct ForeignChecks {
  bool is_foreign = false;
  bool timeout_ok = false;
  bool usable_after = false;
  bool close_wakes = false;
};

struct ReadState {
  explicit ReadState(const asio::any_io_executor& ex)
      : done(ex, asio::steady_timer::time_point::max()) {}
  bool finished = false;
  std::error_code ec;
  asio::steady_timer done;
};

asio::awaitable<void> read_into(std::shared_ptr<Stream> s, std::shared_ptr<ReadState> st) {
  char buf[64];
  auto r = co_await s->read_some(asio::buffer(buf));
  st->finished = true;
  st->ec = r.ec;
  st->done.cancel();
}

asio::awaitable<ForeignChecks> foreign_checks(DialerPtr d, Address node) {
  ForeignChecks c;
  auto ex = co_await asio::this_coro::executor;
  auto s = co_await dial_node(d, node);
  if (!s) co_return c;
  c.is_foreign = mux::is_foreign_stream(**s);
  // A read cancelled by a timeout completes promptly.
  char buf[16];
  const auto t0 = std::chrono::steady_clock::now();
  auto r = co_await with_timeout((*s)->read_some(asio::buffer(buf)), 100ms);
  c.timeout_ok = !r && std::chrono::steady_clock::now() - t0 < 3s;
  // ... and the stream still works afterwards.
  std::string msg = "after-timeout", got(msg.size(), '\0');
  c.usable_after = !co_await write_all(**s, asio::buffer(msg)) &&
                   !co_await read_exact(**s, asio::buffer(got)) && got == msg;
  // close() from the caller's side wakes a read pending on the session's thread.
  std::shared_ptr<Stream> sp(std::move(*s));
  auto st = std::make_shared<ReadState>(ex);
  asio::co_spawn(ex, read_into(sp, st), asio::detached);
  co_await asio::post(ex, asio::use_awaitable);
  sp->close();
  st->done.expires_after(5s);
  while (!st->finished) {
    auto [ec] = co_await st->done.async_wait(use_tuple);
    if (!ec) break;
  }
  c.close_wakes = st->finished && st->ec;
  co_return c;
}

}  // namespace

TEST_CASE("mtcp dialer: one session per node shared by two runtime threads") {
  MuxEchoServer server;
  const auto node = server.address();
  auto d = make_mtcp_dialer(node);
  gost::Runtime rt(2);
  rt.start();

  // Concurrent first dials from both threads, many streams each.
  constexpr int n = 40;
  auto f0 = start_on(rt.executor(0), many_clients(d, node, n, 0));
  auto f1 = start_on(rt.executor(1), many_clients(d, node, n, 1000));
  auto c0 = get(f0);
  auto c1 = get(f1);
  CHECK(c0.ok == n);
  CHECK(c1.ok == n);
  CHECK(c0.on_caller == n);  // every stream is usable from (bound to) its dialing thread
  CHECK(c1.on_caller == n);
  CHECK(server.connections() == 1);
  CHECK(server.streams() == 2 * n);

  SECTION("a foreign stream: per-operation cancellation and close() wake it") {
    // Which thread owns the session depends on who dialed first: run the checks on both (one
    // gets a plain mux stream, the other a foreign one).
    int foreign = 0;
    for (std::size_t i = 0; i < 2; ++i) {
      auto f = start_on(rt.executor(i), foreign_checks(d, node));
      auto c = get(f);
      foreign += c.is_foreign ? 1 : 0;
      CHECK(c.timeout_ok);
      CHECK(c.usable_after);
      CHECK(c.close_wakes);
    }
    CHECK(foreign == 1);
    CHECK(server.connections() == 1);
  }

  SECTION("the session dies under pending reads on both threads; the next dial replaces it") {
    auto r0 = std::make_shared<std::promise<void>>();
    auto r1 = std::make_shared<std::promise<void>>();
    auto w0 = r0->get_future();
    auto w1 = r1->get_future();
    auto p0 = start_on(rt.executor(0), read_until_death(d, node, r0));
    auto p1 = start_on(rt.executor(1), read_until_death(d, node, r1));
    REQUIRE(w0.wait_for(10s) == std::future_status::ready);
    REQUIRE(w1.wait_for(10s) == std::future_status::ready);
    server.kill();
    auto a = get(p0);
    auto b = get(p1);
    CHECK(a.echoed);
    CHECK(b.echoed);
    CHECK(a.failed);
    CHECK(b.failed);
    CHECK(a.foreign != b.foreign);
    CHECK(a.write_failed);
    CHECK(b.write_failed);
    CHECK(server.connections() == 1);
    // A replacement session, again shared by both threads.
    auto g0 = start_on(rt.executor(0), many_clients(d, node, 10, 0));
    auto g1 = start_on(rt.executor(1), many_clients(d, node, 10, 500));
    CHECK(get(g0).ok == 10);
    CHECK(get(g1).ok == 10);
    CHECK(server.connections() == 2);
  }

  rt.stop();
  rt.join();
}

namespace {

asio::awaitable<void> read_forever(std::shared_ptr<Stream> s,
                                   std::shared_ptr<std::promise<void>> started) {
  char b[16];
  started->set_value();
  co_await s->read_some(asio::buffer(b));
}

// Dials a stream and leaves a read pending on it (the runtime is then torn down under it).
asio::awaitable<bool> dial_and_leave_reading(DialerPtr d, Address node,
                                             std::shared_ptr<std::promise<void>> started) {
  auto ex = co_await asio::this_coro::executor;
  auto s = co_await dial_node(d, node);
  if (!s) {
    started->set_value();
    co_return false;
  }
  std::shared_ptr<Stream> sp(std::move(*s));
  asio::co_spawn(ex, read_forever(sp, started), asio::detached);
  co_return true;
}

}  // namespace

TEST_CASE("mtcp dialer: a runtime torn down under pending cross-thread reads") {
  // The Runtime destroys its io_contexts one after the other: whichever thread owns the
  // session, nothing may be posted to (or destroyed on) a context that is already gone.
  MuxEchoServer server;
  const auto node = server.address();
  auto d = make_mtcp_dialer(node);
  const std::size_t owner = GENERATE(0u, 1u);
  {
    gost::Runtime rt(2);
    rt.start();
    std::vector<std::future<void>> started;
    std::vector<std::future<bool>> dialed;
    for (std::size_t k = 0; k < 2; ++k) {
      const std::size_t i = k == 0 ? owner : 1 - owner;  // the owner dials first
      auto p = std::make_shared<std::promise<void>>();
      started.push_back(p->get_future());
      dialed.push_back(start_on(rt.executor(i), dial_and_leave_reading(d, node, p)));
      CHECK(get(dialed.back()));
      REQUIRE(started.back().wait_for(10s) == std::future_status::ready);
    }
    CHECK(server.wait_connections(1) == 1);
    rt.stop();
    rt.join();
  }
  SUCCEED("no crash, no hang");
}

// ---- A service relaying through the shared session: the relay moves to the session's thread.

namespace {

struct RelayThreads {
  std::mutex mu;
  std::thread::id session;          // the thread that owns the session
  int handlers_elsewhere = 0;       // handlers that ran on the other thread
  int ops_on_session = 0;           // upstream reads and writes of relays, by thread
  int ops_elsewhere = 0;
};

// The upstream as the relay sees it: forwards everything (moving too, unless told not to)
// and counts on which thread the relay reads and writes it.
class Probe final : public Stream {
 public:
  Probe(StreamPtr inner, std::shared_ptr<RelayThreads> t, bool allow_move)
      : inner_(std::move(inner)), t_(std::move(t)), allow_move_(allow_move) {}
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    note();
    return inner_->read_some(b);
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    note();
    return inner_->write_some(b);
  }
  asio::awaitable<std::error_code> shutdown_write() override { return inner_->shutdown_write(); }
  asio::awaitable<std::error_code> wait_readable() override { return inner_->wait_readable(); }
  void close() noexcept override { inner_->close(); }
  const asio::any_io_executor* io_home() const noexcept override { return inner_->io_home(); }
  bool movable() const noexcept override { return allow_move_ && inner_->movable(); }
  asio::awaitable<void> move_to(asio::any_io_executor ex) override { return inner_->move_to(std::move(ex)); }

 private:
  void note() {
    std::lock_guard<std::mutex> g(t_->mu);
    ++(std::this_thread::get_id() == t_->session ? t_->ops_on_session : t_->ops_elsewhere);
  }
  StreamPtr inner_;
  std::shared_ptr<RelayThreads> t_;
  bool allow_move_;
};

// Opens a stream of the shared session for every client and hands both to the service's relay.
class MuxRelayHandler final : public Handler {
 public:
  MuxRelayHandler(DialerPtr d, Address node, std::shared_ptr<RelayThreads> t, bool allow_move)
      : d_(std::move(d)), node_(std::move(node)), t_(std::move(t)), allow_move_(allow_move) {}
  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    {
      std::lock_guard<std::mutex> g(t_->mu);
      if (std::this_thread::get_id() != t_->session) ++t_->handlers_elsewhere;
    }
    auto up = co_await dial_node(d_, node_);
    if (!up) {
      rec.ec = up.error();
      co_return;
    }
    rec.relay(std::move(conn), std::make_unique<Probe>(std::move(*up), t_, allow_move_));
  }

 private:
  DialerPtr d_;
  Address node_;
  std::shared_ptr<RelayThreads> t_;
  bool allow_move_;
};

asio::awaitable<std::thread::id> this_thread_id() { co_return std::this_thread::get_id(); }

}  // namespace

TEST_CASE("service: a relay to a stream of a session on another thread runs on that thread") {
  MuxEchoServer server;
  const auto node = server.address();
  auto d = make_mtcp_dialer(node);
  const bool allow_move = GENERATE(true, false);
  // Connections spread by hash (not steered to the client's CPU), so both threads accept some.
  gost::RuntimeOptions ro{2, false, false};
  gost::Runtime rt(ro);
  rt.start();
  // The session is created by a dial from thread 0 and lives there.
  auto first = start_on(rt.executor(0), many_clients(d, node, 1, 0));
  REQUIRE(get(first).ok == 1);
  auto t = std::make_shared<RelayThreads>();
  auto tid = start_on(rt.executor(0), this_thread_id());
  t->session = get(tid);

  Registry reg;
  register_core(reg);
  ListenerArgs la;
  la.runtime = &rt;
  la.service = "svc";
  la.addr = Address("127.0.0.1", 0);
  auto l = (*reg.listener("tcp"))(la);
  REQUIRE(l);
  ServiceOptions so;
  so.name = "svc";
  so.logger = std::make_shared<Logger>(LogLevel::none);
  auto svc = std::make_shared<Service>(rt, so, std::move(*l),
                                       std::make_shared<MuxRelayHandler>(d, node, t, allow_move));
  REQUIRE_FALSE(svc->start());
  const auto port = svc->address().port;

  // Connections spread over both threads (one acceptor each, by hash): with 24 of them, some
  // are accepted by the thread that does not own the session.
  asio::io_context ctx;
  std::uint64_t sent = 0;
  for (int i = 0; i < 24; ++i) {
    auto s = test::connect_blocking(ctx, port);
    for (int k = 0; k < 4; ++k) {
      std::string msg(1000 + 97 * static_cast<std::size_t>(i) + static_cast<std::size_t>(k), char('a' + k));
      asio::write(s, asio::buffer(msg));
      std::string back(msg.size(), '\0');
      asio::read(s, asio::buffer(back));
      REQUIRE(back == msg);
      sent += msg.size();
    }
  }
  // Idle connections left open: stop() must reach them on whichever thread they run now.
  std::vector<asio::ip::tcp::socket> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(test::connect_blocking(ctx, port));
    asio::write(idle.back(), asio::buffer("ping", 4));
    char back[4];
    asio::read(idle.back(), asio::buffer(back));
    sent += 4;
  }
  svc->stop();
  REQUIRE(svc->wait_stopped(10s));
  for (auto& s : idle) {
    char c;
    std::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec);
    CHECK(ec);  // closed by the service
  }
  const auto st = svc->stats();
  CHECK(st.input_bytes == sent);
  CHECK(st.output_bytes == sent);
  CHECK(server.connections() == 1);
  {
    std::lock_guard<std::mutex> g(t->mu);
    CHECK(t->handlers_elsewhere > 0);
    CHECK(t->ops_on_session > 0);
    if (allow_move) {
      CHECK(t->ops_elsewhere == 0);  // every relay ran where the session is
    } else {
      CHECK(t->ops_elsewhere > 0);  // relays of the other thread's clients stayed there
    }
  }
  rt.stop();
  rt.join();
}
