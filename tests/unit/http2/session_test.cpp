// HTTP/2 session over an in-memory stream pair: requests, many concurrent streams, flow
// control (backpressure), resets and bad input.
#include "gost/http2/session.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <iostream>

#include "gost/core/timeout.hpp"
#include "unit/http2/pipe.hpp"

using namespace gost;
using namespace gost::http2;
using gost::test::make_pipe;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Runs the io_context until done is set (bounded).
void run_until(asio::io_context& ctx, const bool& done,
               std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    ctx.run_for(std::chrono::milliseconds(50));
    if (ctx.stopped()) ctx.restart();
  }
}

Headers post_headers(std::string path = "/x") {
  return {
      {":method", "POST"}, {":scheme", "http"}, {":authority", "test"}, {":path", std::move(path)}};
}

asio::awaitable<std::string> read_all(Stream& s) {
  std::string out;
  char buf[8192];
  for (;;) {
    auto [ec, n] = co_await s.read_some(asio::buffer(buf));
    out.append(buf, n);
    if (ec) break;
  }
  co_return out;
}

// Server: echoes every request body back with status 200.
asio::awaitable<void> echo_one(ExchangePtr ex) {
  ex->respond(200, {{"x-echo", "1"}}, false);
  char buf[8192];
  for (;;) {
    auto [ec, n] = co_await ex->read_some(asio::buffer(buf));
    if (n) {
      if (co_await write_all(*ex, asio::buffer(buf, n))) co_return;
    }
    if (ec) break;
  }
  co_await ex->shutdown_write();
}

asio::awaitable<void> echo_server(SessionPtr s) {
  for (;;) {
    auto r = co_await s->accept();
    if (!r) co_return;
    asio::co_spawn(s->get_executor(), echo_one(std::move(*r)), asio::detached);
  }
}

// Accepts one request, answers it and leaves the exchange in *slot.
asio::awaitable<void> accept_respond(SessionPtr srv, std::shared_ptr<ExchangePtr> slot, int status,
                                     bool end) {
  auto r = co_await srv->accept();
  if (!r) co_return;
  (*r)->respond(status, {}, end);
  *slot = std::move(*r);
}

asio::awaitable<std::pair<Result<ExchangePtr>, ExchangePtr>> open_pair(SessionPtr cli,
                                                                       SessionPtr srv, bool end,
                                                                       int status = 200) {
  auto slot = std::make_shared<ExchangePtr>();
  asio::co_spawn(srv->get_executor(), accept_respond(srv, slot, status, end), asio::detached);
  auto r = co_await cli->request(post_headers(), end);
  co_return std::make_pair(std::move(r), std::move(*slot));
}

std::string pattern(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 31 + static_cast<std::size_t>(seed)) & 0xff);
  return s;
}

asio::awaitable<void> client_echo(SessionPtr c, std::string body, int* ok) {
  auto r = co_await c->request(post_headers(), false);
  if (!r) {
    std::cerr << "request failed: " << r.error().message() << "\n";
    co_return;
  }
  auto ex = std::move(*r);
  auto* h = find_header(ex->response_headers(), "X-Echo");
  if (ex->status() != 200 || !h || *h != "1") {
    std::cerr << "bad response " << ex->status() << "\n";
    co_return;
  }
  // Write and read concurrently, as a relay does.
  std::string got;
  std::size_t off = 0;
  char buf[8192];
  while (off < body.size()) {
    auto [ec, n] = co_await ex->write_some(
        asio::buffer(body.data() + off, std::min<std::size_t>(body.size() - off, 20000)));
    if (ec) {
      std::cerr << "write " << ec.message() << "\n";
      co_return;
    }
    off += n;
    // Drain what is there without blocking forever: the echo may lag behind.
    while (got.size() + 65536 < off) {
      auto [rec, rn] = co_await ex->read_some(asio::buffer(buf));
      got.append(buf, rn);
      if (rec) {
        std::cerr << "read " << rec.message() << "\n";
        co_return;
      }
    }
  }
  co_await ex->shutdown_write();
  got += co_await read_all(*ex);
  if (got == body)
    ++*ok;
  else
    std::cerr << "echo mismatch " << got.size() << " vs " << body.size() << "\n";
}

}  // namespace

TEST_CASE("http2 session: one request echoed", "[http2]") {
  asio::io_context ctx;
  auto p = make_pipe(ctx.get_executor());
  auto srv = Session::server(std::move(p.b));
  auto cli = Session::client(std::move(p.a));
  REQUIRE(srv);
  REQUIRE(cli);
  asio::co_spawn(ctx, echo_server(*srv), asio::detached);
  int ok = 0;
  bool done = false;
  auto body = pattern(300000, 1);
  asio::co_spawn(ctx, client_echo(*cli, body, &ok), [&](std::exception_ptr) { done = true; });
  run_until(ctx, done);
  REQUIRE(done);
  CHECK(ok == 1);
  (*cli)->close();
  (*srv)->close();
  ctx.run_for(std::chrono::milliseconds(50));
}

TEST_CASE("http2 session: many concurrent streams", "[http2]") {
  asio::io_context ctx;
  auto p = make_pipe(ctx.get_executor());
  Options o;
  o.max_concurrent_streams = 200;
  auto srv = Session::server(std::move(p.b), o);
  auto cli = Session::client(std::move(p.a), o);
  REQUIRE(srv);
  REQUIRE(cli);
  asio::co_spawn(ctx, echo_server(*srv), asio::detached);
  constexpr int kStreams = 64;
  int ok = 0;
  int finished = 0;
  bool done = false;
  for (int i = 0; i < kStreams; ++i) {
    asio::co_spawn(ctx,
                   client_echo(*cli, pattern(50000 + static_cast<std::size_t>(i) * 1000, i), &ok),
                   [&](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (std::exception& x) {
                         WARN(x.what());
                       }
                     }
                     if (++finished == kStreams) done = true;
                   });
  }
  run_until(ctx, done, std::chrono::seconds(60));
  REQUIRE(done);
  CHECK(ok == kStreams);
  CHECK((*srv)->num_streams() == 0);
  CHECK((*cli)->num_streams() == 0);
  (*cli)->close();
  (*srv)->close();
  ctx.run_for(std::chrono::milliseconds(50));
}

namespace {
asio::awaitable<void> backpressure(SessionPtr cli, SessionPtr srv,
                                   std::shared_ptr<gost::test::PipeBuf> wire,
                                   std::size_t* accepted_while_blocked,
                                   std::size_t* wire_while_blocked, bool* all_ok) {
  // The server accepts and answers, then does not read for a while.
  auto pr = co_await open_pair(cli, srv, false);
  auto& r = pr.first;
  auto& server_ex = pr.second;
  if (!r || !server_ex) co_return;
  auto ex = std::move(*r);
  // Write until write_some blocks for 300 ms.
  std::string chunk(16384, 'a');
  std::size_t written = 0;
  for (;;) {
    auto w =
        co_await with_timeout(ex->write_some(asio::buffer(chunk)), std::chrono::milliseconds(300));
    if (!w) break;
    if (w->ec) co_return;
    written += w->bytes;
    if (written > 64 * 1024 * 1024) co_return;  // never blocked: no flow control
  }
  *accepted_while_blocked = written;
  *wire_while_blocked = wire->total;
  // Now the server reads everything; the client finishes writing a known total.
  std::size_t total = written + 1000000;
  std::size_t read = 0;
  bool writer_done = false;
  std::size_t left = total - written;
  // Interleave: the server reads in its own coroutine.
  struct Reader {
    static asio::awaitable<void> run(std::shared_ptr<Exchange> e, std::shared_ptr<std::size_t> got,
                                     std::shared_ptr<bool> done) {
      char buf[8192];
      for (;;) {
        auto [ec, n] = co_await e->read_some(asio::buffer(buf));
        *got += n;
        if (ec) break;
      }
      *done = true;
    }
  };
  auto reader_done = std::make_shared<bool>(false);
  auto got = std::make_shared<std::size_t>(0);
  asio::co_spawn(co_await asio::this_coro::executor,
                 Reader::run(std::shared_ptr<Exchange>(std::move(server_ex)), got, reader_done),
                 asio::detached);
  while (left > 0) {
    auto [ec, n] =
        co_await ex->write_some(asio::buffer(chunk.data(), std::min(left, chunk.size())));
    if (ec) co_return;
    left -= n;
  }
  co_await ex->shutdown_write();
  writer_done = true;
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 200 && !*reader_done; ++i) {
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(tuple);
  }
  read = *got;
  *all_ok = writer_done && *reader_done && read == total;
}
}  // namespace

TEST_CASE("http2 session: flow control bounds buffering when the reader stalls", "[http2]") {
  asio::io_context ctx;
  auto p = make_pipe(ctx.get_executor(), 32 * 1024);
  Options o;
  o.stream_window = 128 * 1024;
  o.connection_window = 1024 * 1024;
  o.write_buffer = 32 * 1024;
  auto wire = p.a_to_b;
  auto srv = Session::server(std::move(p.b), o);
  auto cli = Session::client(std::move(p.a), o);
  REQUIRE(srv);
  REQUIRE(cli);
  std::size_t accepted = 0, on_wire = 0;
  bool ok = false, done = false;
  asio::co_spawn(ctx, backpressure(*cli, *srv, wire, &accepted, &on_wire, &ok),
                 [&](std::exception_ptr) { done = true; });
  run_until(ctx, done, std::chrono::seconds(30));
  REQUIRE(done);
  // Stream window + our write buffer + the pipe: nothing more may be taken.
  CHECK(accepted > 0);
  CHECK(accepted <= o.stream_window + o.write_buffer + 64 * 1024);
  CHECK(ok);
  (*cli)->close();
  (*srv)->close();
  ctx.run_for(std::chrono::milliseconds(50));
}

namespace {
asio::awaitable<void> reset_test(SessionPtr cli, SessionPtr srv, std::error_code* server_read_ec,
                                 bool* session_alive) {
  auto pr = co_await open_pair(cli, srv, false);
  auto& r = pr.first;
  auto& server_ex = pr.second;
  if (!r || !server_ex) co_return;
  (*r)->close();  // RST_STREAM CANCEL
  char buf[16];
  auto [ec, n] = co_await server_ex->read_some(asio::buffer(buf));
  *server_read_ec = ec;
  // The session still serves new streams.
  auto pr2 = co_await open_pair(cli, srv, true, 204);
  auto& r2 = pr2.first;
  *session_alive = r2 && (*r2)->status() == 204;
}
}  // namespace

TEST_CASE("http2 session: closing an exchange resets only that stream", "[http2]") {
  asio::io_context ctx;
  auto p = make_pipe(ctx.get_executor());
  auto srv = Session::server(std::move(p.b));
  auto cli = Session::client(std::move(p.a));
  REQUIRE(srv);
  REQUIRE(cli);
  std::error_code ec;
  bool alive = false, done = false;
  asio::co_spawn(ctx, reset_test(*cli, *srv, &ec, &alive),
                 [&](std::exception_ptr) { done = true; });
  run_until(ctx, done);
  REQUIRE(done);
  CHECK(ec == asio::error::connection_reset);
  CHECK(alive);
  (*cli)->close();
  (*srv)->close();
  ctx.run_for(std::chrono::milliseconds(50));
}

namespace {
asio::awaitable<void> garbage_test(StreamPtr raw, SessionPtr srv, bool* accept_failed,
                                   bool* raw_closed) {
  std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  co_await write_all(*raw, asio::buffer(junk));
  auto r = co_await with_timeout(srv->accept(), std::chrono::seconds(5));
  *accept_failed = r && !*r;
  // The server wrote at most its SETTINGS and a GOAWAY, then closed.
  char buf[512];
  for (int i = 0; i < 10; ++i) {
    auto rr = co_await with_timeout(raw->read_some(asio::buffer(buf)), std::chrono::seconds(5));
    if (!rr) co_return;
    if (rr->ec) {
      *raw_closed = true;
      co_return;
    }
  }
}
}  // namespace

TEST_CASE("http2 session: a bad preface closes the session", "[http2]") {
  asio::io_context ctx;
  auto p = make_pipe(ctx.get_executor());
  auto srv = Session::server(std::move(p.b));
  REQUIRE(srv);
  bool failed = false, closed = false, done = false;
  asio::co_spawn(ctx, garbage_test(std::move(p.a), *srv, &failed, &closed),
                 [&](std::exception_ptr) { done = true; });
  run_until(ctx, done);
  REQUIRE(done);
  CHECK(failed);
  CHECK(closed);
  CHECK((*srv)->is_closed());
}

namespace {
asio::awaitable<void> trailers_test(SessionPtr cli, SessionPtr srv, bool* ok) {
  auto pr = co_await open_pair(cli, srv, false);
  auto& r = pr.first;
  auto& s = pr.second;
  if (!r || !s) co_return;
  s->set_trailers({{"grpc-status", "0"}});
  auto c = std::move(*r);
  co_await write_all(*s, asio::buffer(std::string("hello")));
  co_await s->shutdown_write();
  auto body = co_await read_all(*c);
  auto* st = find_header(c->trailers(), "grpc-status");
  *ok = body == "hello" && st && *st == "0";
}
}  // namespace

TEST_CASE("http2 session: trailers end a response", "[http2]") {
  asio::io_context ctx;
  auto p = make_pipe(ctx.get_executor());
  auto srv = Session::server(std::move(p.b));
  auto cli = Session::client(std::move(p.a));
  REQUIRE(srv);
  REQUIRE(cli);
  bool ok = false, done = false;
  asio::co_spawn(ctx, trailers_test(*cli, *srv, &ok), [&](std::exception_ptr) { done = true; });
  run_until(ctx, done);
  REQUIRE(done);
  CHECK(ok);
  (*cli)->close();
  (*srv)->close();
  ctx.run_for(std::chrono::milliseconds(50));
}

namespace {
asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(tuple);
}

asio::awaitable<void> keepalive_test(SessionPtr live, SessionPtr dead, bool* live_ok,
                                     bool* dead_closed) {
  co_await sleep_for(std::chrono::milliseconds(700));
  *live_ok = !live->is_closed();
  if (!*live_ok) std::cerr << "live: " << live->error().message() << "\n";
  *dead_closed = dead->is_closed() && dead->error() == errc::timeout;
}
}  // namespace

TEST_CASE("http2 session: keepalive pings keep a live peer and drop a dead one", "[http2]") {
  asio::io_context ctx;
  Options o;
  o.keepalive_interval = std::chrono::milliseconds(100);
  o.keepalive_timeout = std::chrono::milliseconds(100);
  auto p = make_pipe(ctx.get_executor());
  auto srv = Session::server(std::move(p.b));
  auto live = Session::client(std::move(p.a), o);
  // The dead peer: a pipe whose other end nobody reads or writes.
  auto q = make_pipe(ctx.get_executor(), 1 << 20);
  auto dead = Session::client(std::move(q.a), o);
  REQUIRE(srv);
  REQUIRE(live);
  REQUIRE(dead);
  bool live_ok = false, dead_closed = false, done = false;
  asio::co_spawn(ctx, keepalive_test(*live, *dead, &live_ok, &dead_closed),
                 [&](std::exception_ptr) { done = true; });
  run_until(ctx, done);
  REQUIRE(done);
  CHECK(live_ok);
  CHECK(dead_closed);
  (*live)->close();
  (*srv)->close();
  ctx.run_for(std::chrono::milliseconds(50));
}
