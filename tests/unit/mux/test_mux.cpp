#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <vector>

#include "gost/core/timeout.hpp"
#include "gost/mux/session.hpp"
#include "mux/codec.hpp"
#include "support.hpp"

using namespace gost;
using namespace std::chrono_literals;
using gost::test::use_tuple;

namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> l) {
  std::vector<std::uint8_t> v;
  for (int x : l) v.push_back(static_cast<std::uint8_t>(x));
  return v;
}

// A connected pair of TCP streams on the calling executor.
asio::awaitable<std::pair<StreamPtr, StreamPtr>> tcp_pair() {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::acceptor acc(ex, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket c(ex);
  co_await c.async_connect(acc.local_endpoint(), use_tuple);
  auto [ec, s] = co_await acc.async_accept(use_tuple);
  co_return std::make_pair(StreamPtr(std::make_unique<TcpStream>(std::move(c))),
                           StreamPtr(std::make_unique<TcpStream>(std::move(s))));
}

asio::awaitable<void> echo_stream(StreamPtr s) {
  std::vector<std::uint8_t> buf(8192);
  for (;;) {
    auto r = co_await s->read_some(asio::buffer(buf));
    if (r.bytes == 0) break;
    if (co_await write_all(*s, asio::buffer(buf.data(), r.bytes))) co_return;
  }
  co_await s->shutdown_write();
}

asio::awaitable<void> echo_server(mux::SessionPtr sess) {
  for (;;) {
    auto s = co_await sess->accept();
    if (!s) co_return;
    asio::co_spawn(sess->get_executor(), echo_stream(std::move(*s)), asio::detached);
  }
}

asio::awaitable<void> one_client(mux::SessionPtr sess, int i,
                                 std::shared_ptr<std::atomic<int>> ok) {
  auto s = co_await sess->open();
  if (!s) co_return;
  std::vector<std::uint8_t> data(1000 + static_cast<std::size_t>(i % 7) * 3000);
  for (std::size_t k = 0; k < data.size(); ++k)
    data[k] = static_cast<std::uint8_t>(k * 31 + static_cast<std::size_t>(i));
  if (co_await write_all(**s, asio::buffer(data))) co_return;
  if (co_await (*s)->shutdown_write()) co_return;
  std::vector<std::uint8_t> got;
  std::vector<std::uint8_t> buf(4096);
  for (;;) {
    auto r = co_await (*s)->read_some(asio::buffer(buf));
    if (r.bytes == 0) {
      if (r.ec != asio::error::eof) co_return;
      break;
    }
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
  }
  if (got == data) ++*ok;
}

asio::awaitable<int> many_streams(int version, int n) {
  auto [a, b] = co_await tcp_pair();
  mux::Options o;
  o.version = version;
  auto cli = mux::Session::client(std::move(a), o);
  auto srv = mux::Session::server(std::move(b), o);
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, echo_server(srv), asio::detached);
  auto ok = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < n; ++i) asio::co_spawn(ex, one_client(cli, i, ok), asio::detached);
  asio::steady_timer t(ex);
  for (int k = 0; k < 1500 && ok->load() < n; ++k) {
    t.expires_after(10ms);
    co_await t.async_wait(use_tuple);
  }
  // Every stream closed on both sides: nothing left in the sessions.
  for (int k = 0; k < 200 && (cli->num_streams() != 0 || srv->num_streams() != 0); ++k) {
    t.expires_after(10ms);
    co_await t.async_wait(use_tuple);
  }
  const bool clean = cli->num_streams() == 0 && srv->num_streams() == 0;
  cli->close();
  srv->close();
  co_return clean ? ok->load() : -1;
}

asio::awaitable<std::size_t> write_until_blocked(StreamPtr* s, std::chrono::milliseconds limit) {
  std::vector<std::uint8_t> chunk(4096, 0x5a);
  std::size_t total = 0;
  for (;;) {
    auto r = co_await with_timeout((*s)->write_some(asio::buffer(chunk)), limit);
    if (!r || r->ec) break;
    total += r->bytes;
    if (total > (64u << 20)) break;
  }
  co_return total;
}

asio::awaitable<std::size_t> drain(Stream* s, std::size_t want) {
  std::vector<std::uint8_t> buf(65536);
  std::size_t got = 0;
  while (got < want) {
    auto r = co_await s->read_some(asio::buffer(buf));
    if (r.bytes == 0) break;
    got += r.bytes;
  }
  co_return got;
}

struct Backpressure {
  std::size_t blocked_at = 0;
  std::size_t drained = 0;
  std::size_t after = 0;
};

asio::awaitable<Backpressure> backpressure(int version) {
  auto [a, b] = co_await tcp_pair();
  mux::Options o;
  o.version = version;
  o.max_stream_buffer = 65536;
  o.max_receive_buffer = 128 * 1024;
  auto cli = mux::Session::client(std::move(a), o);
  auto srv = mux::Session::server(std::move(b), o);
  auto s = co_await cli->open();
  auto w = std::move(*s);
  co_await write_all(*w, asio::buffer("x", 1));
  auto peer = co_await srv->accept();
  Backpressure bp;
  bp.blocked_at = 1 + co_await write_until_blocked(&w, 300ms);
  bp.drained = co_await drain(peer->get(), bp.blocked_at);
  // Reading resumed the writer.
  bp.after = co_await write_until_blocked(&w, 300ms);
  cli->close();
  srv->close();
  co_return bp;
}

asio::awaitable<std::pair<bool, int>> keepalive_dead_peer() {
  auto [a, b] = co_await tcp_pair();
  mux::Options o;
  o.keepalive_interval = 50ms;
  o.keepalive_timeout = 200ms;
  auto cli = mux::Session::client(std::move(a), o);
  // b never answers: a dead peer.
  auto start = std::chrono::steady_clock::now();
  auto r = co_await with_timeout(cli->accept(), 3000ms);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  (void)b;
  co_return std::make_pair(r.has_value() && !r->ok() && cli->is_closed(),
                           static_cast<int>(ms.count()));
}

asio::awaitable<bool> keepalive_live_peer() {
  auto [a, b] = co_await tcp_pair();
  mux::Options o;
  o.keepalive_interval = 50ms;
  o.keepalive_timeout = 200ms;
  auto cli = mux::Session::client(std::move(a), o);
  auto srv = mux::Session::server(std::move(b), o);
  asio::steady_timer t(co_await asio::this_coro::executor, 700ms);
  co_await t.async_wait(use_tuple);
  const bool alive = !cli->is_closed() && !srv->is_closed();
  cli->close();
  srv->close();
  co_return alive;
}

// The raw bytes the client session writes for open() + "hi" + shutdown_write().
asio::awaitable<std::vector<std::uint8_t>> client_wire(int version) {
  auto [a, b] = co_await tcp_pair();
  mux::Options o;
  o.version = version;
  o.keepalive_disabled = true;
  auto cli = mux::Session::client(std::move(a), o);
  auto s = co_await cli->open();
  co_await write_all(**s, asio::buffer("hi", 2));
  co_await (*s)->shutdown_write();
  std::vector<std::uint8_t> got(26);
  co_await read_exact(*b, asio::buffer(got));
  cli->close();
  co_return got;
}

// A peer that speaks raw smux v2 bytes: SYN, PSH "abc", then reads our UPD after we consume.
asio::awaitable<std::vector<std::uint8_t>> server_upd_wire() {
  auto [a, b] = co_await tcp_pair();
  mux::Options o;
  o.version = 2;
  o.keepalive_disabled = true;
  o.max_stream_buffer = 65536;
  auto srv = mux::Session::server(std::move(b), o);
  auto in = bytes({2, 0, 0, 0, 3, 0, 0, 0, 2, 2, 3, 0, 3, 0, 0, 0, 'a', 'b', 'c'});
  co_await write_all(*a, asio::buffer(in));
  auto s = co_await srv->accept();
  std::vector<std::uint8_t> buf(16);
  auto r = co_await (*s)->read_some(asio::buffer(buf));
  std::vector<std::uint8_t> got(16);
  co_await read_exact(*a, asio::buffer(got));
  got.insert(got.begin(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
  srv->close();
  co_return got;
}

}  // namespace

// Runs make(version) on a fresh one-thread runtime for smux v1 and v2 and hands each result to
// check.
template <class Make, class Check>
void each_version(Make make, Check check) {
  for (int version : {1, 2}) {
    INFO("version " << version);
    gost::Runtime rt(1);
    rt.start();
    check(test::run_on(rt.executor(0), make(version)));
    rt.stop();
    rt.join();
  }
}

namespace {
using test::ReadyProbe;
using test::start_wait;
using test::wait_probe;

// A client and a server session over TCP (smux `version`), and a stream the client opened
// and sent `first` on (so the server can accept it).
struct MuxPair {
  mux::SessionPtr cli, srv;
  StreamPtr c;
};
asio::awaitable<MuxPair> open_pair(int version, const std::string* first) {
  auto [a, b] = co_await tcp_pair();
  mux::Options o;
  o.version = version;
  MuxPair p;
  p.cli = mux::Session::client(std::move(a), o);
  p.srv = mux::Session::server(std::move(b), o);
  auto opened = co_await p.cli->open();
  if (!opened) co_return p;
  p.c = std::move(*opened);
  if (co_await write_all(*p.c, asio::buffer(*first))) p.c.reset();
  co_return p;
}

struct ReadyMux {
  bool has_callback = false;
  bool idle_quiet = false;  // no callback while the peer sent nothing
  std::optional<std::error_code> data_ready;
  std::string data;
  bool window_quiet = false;  // a window update from the peer is no readiness
  std::optional<std::error_code> fin_ready;
  std::error_code after_fin;
  std::optional<std::error_code> aborted;  // a wait pending when the stream is closed
};

// A stream's readiness callback (the readiness relay's wait): once for data, once for the
// peer's FIN, never while idle; close() ends a pending wait with an error.
asio::awaitable<ReadyMux> mux_readiness(int version) {
  ReadyMux out;
  const std::string hello = "hello";
  auto [cli, srv, c] = co_await open_pair(version, &hello);
  if (!c) co_return out;
  auto accepted = co_await srv->accept();
  if (!accepted) co_return out;
  StreamPtr s = std::move(*accepted);
  std::string got(hello.size(), '\0');
  co_await read_exact(*s, asio::buffer(got));  // the server stream is drained
  out.has_callback = s->has_ready_callback();
  if (!out.has_callback) co_return out;

  auto p = std::make_shared<ReadyProbe>();
  start_wait(*s, p);
  co_await wait_probe(p, 100ms);
  out.idle_quiet = !p->result;
  const std::string more = "more";
  co_await write_all(*c, asio::buffer(more));
  co_await wait_probe(p, 5000ms);
  out.data_ready = p->result;
  char buf[64];
  auto r = co_await s->read_some(asio::buffer(buf));
  out.data.assign(buf, r.bytes);

  auto q = std::make_shared<ReadyProbe>();
  start_wait(*s, q);
  // The server writes and the client reads: v2 sends window updates back to the server.
  const std::string back(40000, 'b');
  co_await write_all(*s, asio::buffer(back));
  std::string echoed(back.size(), '\0');
  co_await read_exact(*c, asio::buffer(echoed));
  co_await wait_probe(q, 100ms);
  out.window_quiet = !q->result;
  co_await c->shutdown_write();
  co_await wait_probe(q, 5000ms);
  out.fin_ready = q->result;
  out.after_fin = (co_await s->read_some(asio::buffer(buf))).ec;

  auto opened2 = co_await cli->open();
  if (!opened2) co_return out;
  StreamPtr c2 = std::move(*opened2);
  co_await write_all(*c2, asio::buffer(hello));
  auto accepted2 = co_await srv->accept();
  if (!accepted2) co_return out;
  StreamPtr s2 = std::move(*accepted2);
  co_await read_exact(*s2, asio::buffer(got));
  auto w = std::make_shared<ReadyProbe>();
  start_wait(*s2, w);
  s2->close();
  co_await wait_probe(w, 5000ms);
  out.aborted = w->result;
  cli->close();
  srv->close();
  co_return out;
}
}  // namespace

TEST_CASE("smux stream: the readiness callback comes for data and FIN, not while idle") {
  each_version(mux_readiness, [](const ReadyMux& r) {
    REQUIRE(r.has_callback);
    CHECK(r.idle_quiet);
    REQUIRE(r.data_ready);
    CHECK_FALSE(*r.data_ready);
    CHECK(r.data == "more");
    CHECK(r.window_quiet);
    REQUIRE(r.fin_ready);
    CHECK_FALSE(*r.fin_ready);
    CHECK(r.after_fin == asio::error::eof);
    REQUIRE(r.aborted);
    CHECK(*r.aborted);
  });
}

namespace {
struct GoneResult {
  bool half_close_ok = false;  // after the client's FIN the server still writes, the client reads
  bool write_failed = false;   // after the client's close, the server's writes end
  int writes_after_close = 0;
};

// The client half-closes, reads the server's answer, then closes for good while the server
// keeps writing (a download nobody reads any more): the server's writes must end.
asio::awaitable<GoneResult> peer_gone(int version) {
  GoneResult out;
  const std::string hello = "hello";
  auto [cli, srv, c] = co_await open_pair(version, &hello);
  if (!c) co_return out;
  co_await c->shutdown_write();
  auto accepted = co_await srv->accept();
  if (!accepted) co_return out;
  StreamPtr s = std::move(*accepted);
  std::string got(hello.size(), '\0');
  co_await read_exact(*s, asio::buffer(got));
  char one;
  auto eof = co_await s->read_some(asio::buffer(&one, 1));
  const std::string answer = "answer";
  const bool wrote = !co_await write_all(*s, asio::buffer(answer));
  std::string back(answer.size(), '\0');
  const bool read_back = !co_await read_exact(*c, asio::buffer(back));
  out.half_close_ok = got == hello && eof.ec == asio::error::eof && wrote && read_back && back == answer;
  c->close();
  std::vector<std::uint8_t> chunk(4096, 0x42);
  for (int i = 0; i < 2000; ++i) {
    auto r = co_await with_timeout(s->write_some(asio::buffer(chunk)), 5000ms);
    if (!r || r->ec) {
      out.write_failed = r && r->ec == asio::error::broken_pipe;
      break;
    }
    ++out.writes_after_close;
  }
  cli->close();
  srv->close();
  co_return out;
}
}  // namespace

TEST_CASE("smux session: writes end once the peer has closed the stream for good") {
  each_version(peer_gone, [](const GoneResult& r) {
    CHECK(r.half_close_ok);
    CHECK(r.write_failed);
    CHECK(r.writes_after_close < 2000);
  });
}

TEST_CASE("smux codec: v1 frames from xtaci/smux's layout") {
  // SYN sid 3 (the client's first stream: nextStreamID 1, += 2 before use).
  auto syn = bytes({1, 0, 0, 0, 3, 0, 0, 0});
  auto p = mux::parse_frame(syn, 1);
  REQUIRE(p.ok());
  CHECK(p.consumed == 8);
  CHECK(p.value.cmd == mux::Cmd::syn);
  CHECK(p.value.sid == 3);

  // PSH sid 0x01020305, "hello": length 5 little-endian at [2:4], sid LE at [4:8].
  auto psh = bytes({1, 2, 5, 0, 5, 3, 2, 1, 'h', 'e', 'l', 'l', 'o', 0xEE});
  p = mux::parse_frame(psh, 1);
  REQUIRE(p.ok());
  CHECK(p.consumed == 13);
  CHECK(p.value.sid == 0x01020305u);
  CHECK(std::string(p.value.data.begin(), p.value.data.end()) == "hello");
  std::vector<std::uint8_t> out;
  mux::serialize_frame(p.value, out);
  CHECK(out == std::vector<std::uint8_t>(psh.begin(), psh.begin() + 13));

  // The in-place parse the session uses: the payload is a view into the input.
  auto v = mux::parse_frame_view(psh, 1);
  REQUIRE(v.ok());
  CHECK(v.consumed == 13);
  CHECK(v.value.payload.data() == psh.data() + 8);
  CHECK(v.value.payload.size() == 5);
  CHECK(mux::parse_frame_view(std::span(psh.data(), 12), 1).need_more());
  CHECK(mux::parse_frame_view(bytes({1, 5, 0, 0, 3, 0, 0, 0}), 1).failed());

  // Partial input asks for more; a PSH with a large LE length.
  auto big = bytes({1, 2, 0x00, 0x01, 7, 0, 0, 0});
  CHECK(mux::parse_frame(big, 1).need_more());
  big.resize(8 + 256);
  CHECK(mux::parse_frame(big, 1).ok());
  CHECK(mux::parse_frame(std::span(psh.data(), 7), 1).need_more());

  // NOP, FIN: no payload even with a length (smux reads none).
  auto nop = bytes({1, 3, 4, 0, 0, 0, 0, 0, 9, 9, 9, 9});
  p = mux::parse_frame(nop, 1);
  REQUIRE(p.ok());
  CHECK(p.consumed == 8);
  CHECK(p.value.cmd == mux::Cmd::nop);
  out.clear();
  mux::serialize_header(1, mux::Cmd::fin, 0, 3, out);
  CHECK(out == bytes({1, 1, 0, 0, 3, 0, 0, 0}));

  // Wrong version, unknown command.
  CHECK(mux::parse_frame(bytes({2, 0, 0, 0, 3, 0, 0, 0}), 1).failed());
  CHECK(mux::parse_frame(bytes({1, 5, 0, 0, 3, 0, 0, 0}), 1).failed());
}

TEST_CASE("smux codec: v2 window update (cmdUPD: consumed u32 LE, window u32 LE)") {
  std::vector<std::uint8_t> out;
  mux::serialize_upd(2, 5, 0x00012345, 65536, out);
  CHECK(out == bytes({2, 4, 8, 0, 5, 0, 0, 0, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00}));
  auto p = mux::parse_frame(out, 2);
  REQUIRE(p.ok());
  CHECK(p.consumed == 16);
  CHECK(p.value.cmd == mux::Cmd::upd);
  CHECK(p.value.consumed == 0x12345u);
  CHECK(p.value.window == 65536u);
  CHECK(mux::parse_frame(std::span(out.data(), 12), 2).need_more());
}

TEST_CASE("smux options: GOST's mux.* keys and smux's checks") {
  Metadata md;
  auto d = mux::options_from(md);
  REQUIRE(d.ok());
  CHECK(d->version == 1);
  CHECK(d->keepalive_interval == 10s);
  CHECK(d->keepalive_timeout == 30s);
  CHECK(d->max_frame_size == 32768);
  CHECK(d->max_receive_buffer == 4194304);
  CHECK(d->max_stream_buffer == 65536);
  md.set("mux.version", "2");
  md.set("mux.keepaliveInterval", "5s");
  md.set("mux.keepaliveTimeout", "15s");
  md.set("mux.maxFrameSize", "16384");
  md.set("mux.keepaliveDisabled", "true");
  auto o = mux::options_from(md);
  REQUIRE(o.ok());
  CHECK(o->version == 2);
  CHECK(o->keepalive_interval == 5s);
  CHECK(o->max_frame_size == 16384);
  CHECK(o->keepalive_disabled);
  md.set("mux.version", "3");
  CHECK(!mux::options_from(md).ok());
  md.set("mux.version", "1");
  md.set("mux.maxFrameSize", "70000");
  CHECK(!mux::options_from(md).ok());
}

TEST_CASE("smux session: wire bytes of a client stream (v1 and v2)") {
  gost::Runtime rt(1);
  rt.start();
  auto w1 = test::run_on(rt.executor(0), client_wire(1));
  CHECK(w1 ==
        bytes({1, 0, 0, 0, 3, 0, 0, 0, 1, 2, 2, 0, 3, 0, 0, 0, 'h', 'i', 1, 1, 0, 0, 3, 0, 0, 0}));
  auto w2 = test::run_on(rt.executor(0), client_wire(2));
  CHECK(w2 ==
        bytes({2, 0, 0, 0, 3, 0, 0, 0, 2, 2, 2, 0, 3, 0, 0, 0, 'h', 'i', 2, 1, 0, 0, 3, 0, 0, 0}));
  // v2: the first read announces consumed=3, window=maxStreamBuffer.
  auto u = test::run_on(rt.executor(0), server_upd_wire());
  CHECK(u == bytes({'a', 'b', 'c', 2, 4, 8, 0, 3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 1, 0}));
  rt.stop();
  rt.join();
}

TEST_CASE("smux session: 1000 concurrent streams echo through one session") {
  gost::Runtime rt(1);
  rt.start();
  CHECK(test::run_on(rt.executor(0), many_streams(1, 1000), std::chrono::seconds(60)) == 1000);
  CHECK(test::run_on(rt.executor(0), many_streams(2, 1000), std::chrono::seconds(60)) == 1000);
  rt.stop();
  rt.join();
}

TEST_CASE("smux session: flow control stops a writer whose reader does not read") {
  gost::Runtime rt(1);
  rt.start();
  // v2: the writer keeps at most the peer's window in flight (256 KiB before any update).
  auto bp2 = test::run_on(rt.executor(0), backpressure(2));
  CHECK(bp2.blocked_at <= 262144 + 4096);
  CHECK(bp2.blocked_at >= 65536);
  CHECK(bp2.drained >= bp2.blocked_at);
  CHECK(bp2.drained <= bp2.blocked_at + 4096);
  CHECK(bp2.after > 0);
  // v1: the receiving session stops reading at maxReceiveBuffer; what the writer got out is
  // bounded by that plus the socket buffers.
  auto bp1 = test::run_on(rt.executor(0), backpressure(1));
  CHECK(bp1.blocked_at < (32u << 20));
  // (a write cancelled by the timeout may still have gone out: at most one chunk more)
  CHECK(bp1.drained >= bp1.blocked_at);
  CHECK(bp1.drained <= bp1.blocked_at + 4096);
  CHECK(bp1.after > 0);
  rt.stop();
  rt.join();
}

TEST_CASE("smux session: keepalive timeout closes a session whose peer is silent") {
  gost::Runtime rt(1);
  rt.start();
  auto [closed, ms] = test::run_on(rt.executor(0), keepalive_dead_peer());
  CHECK(closed);
  CHECK(ms < 1500);
  CHECK(test::run_on(rt.executor(0), keepalive_live_peer()));
  rt.stop();
  rt.join();
}

#include "gost/core/registry.hpp"

namespace gost::mux {
void register_module(Registry& r);
}

namespace {

asio::awaitable<void> echo_accepts(Listener* l) {
  for (;;) {
    auto s = co_await l->accept();
    if (!s) co_return;
    auto ex = (*s)->get_executor();
    asio::co_spawn(ex, echo_stream(std::move(*s)), asio::detached);
  }
}

asio::awaitable<Result<StreamPtr>> dial_node(DialerPtr d, Address a) {
  DialOptions o;
  o.timeout = 5000ms;
  auto s = co_await d->dial(a, o);
  if (!s) co_return s.error();
  co_return co_await d->handshake(std::move(*s), a);
}

asio::awaitable<bool> echo_once(Stream* s, std::string msg) {
  if (co_await write_all(*s, asio::buffer(msg))) co_return false;
  std::string got(msg.size(), '\0');
  auto r = co_await with_timeout(read_exact(*s, asio::buffer(got)), 3000ms);
  co_return r && !*r && got == msg;
}

struct Reuse {
  bool first_ok = false, second_ok = false, shared = false, after_restart_ok = false,
       new_session = false;
};

asio::awaitable<Reuse> dialer_reuse(Runtime* rt) {
  Registry reg;
  gost::mux::register_module(reg);
  ListenerArgs la;
  la.runtime = rt;
  la.addr = Address("127.0.0.1", 0);
  Metadata md;
  md.set("mux.keepaliveDisabled", "true");
  la.metadata = md;
  auto l1 = (*reg.listener("mtcp"))(la);
  Reuse r;
  if (!l1 || (*l1)->listen()) co_return r;
  auto addr = (*l1)->address();
  asio::co_spawn((*l1)->get_executor(), echo_accepts(l1->get()), asio::detached);
  DialerArgs da;
  da.metadata = md;
  da.node_addr = addr;
  auto d = (*reg.dialer("mtcp"))(da);
  if (!d || !(*d)->multiplex()) co_return r;
  auto s1 = co_await dial_node(*d, addr);
  auto s2 = co_await dial_node(*d, addr);
  if (!s1 || !s2) co_return r;
  r.first_ok = co_await echo_once(s1->get(), "one");
  r.second_ok = co_await echo_once(s2->get(), "two");
  r.shared = (*s1)->local_address().to_string() == (*s2)->local_address().to_string();
  const auto old_local = (*s1)->local_address().to_string();
  // The server goes away: its listener closes; the next stream it is offered ends the session.
  (*l1)->close();
  auto s3 = co_await dial_node(*d, addr);  // still on the cached session, refused by the server
  if (s3) co_await echo_once(s3->get(), "x");
  la.addr = addr;
  auto l2 = (*reg.listener("mtcp"))(la);
  if (!l2 || (*l2)->listen()) co_return r;
  asio::co_spawn((*l2)->get_executor(), echo_accepts(l2->get()), asio::detached);
  // The dead session is dropped and the node dialed again.
  auto s4 = co_await dial_node(*d, addr);
  if (!s4) co_return r;
  r.after_restart_ok = co_await echo_once(s4->get(), "four");
  r.new_session = (*s4)->local_address().to_string() != old_local;
  (*l2)->close();
  co_return r;
}

}  // namespace

TEST_CASE("mtcp dialer: one session per node, re-dialed once it died") {
  gost::Runtime rt(1);
  rt.start();
  auto r = test::run_on(rt.executor(0), dialer_reuse(&rt));
  CHECK(r.first_ok);
  CHECK(r.second_ok);
  CHECK(r.shared);
  CHECK(r.after_restart_ok);
  CHECK(r.new_session);
  rt.stop();
  rt.join();
}
