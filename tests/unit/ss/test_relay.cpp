// The ss data path as a relay uses it: per-thread cipher contexts shared by
// interleaved streams, and bridge() between a TCP connection and an ss stream
// over TCP on loopback (the readiness relay: both sides offer
// Stream::async_wait_readable), with bulk data both ways, half-close, an idle
// limit and an abrupt close.
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <vector>

#include "gost/core/bridge.hpp"
#include "ss/crypto.hpp"
#include "ss/stream.hpp"

using namespace gost;
using namespace gost::ss;
using asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

std::shared_ptr<const Keys> make(const std::string& method) {
  auto k = make_keys(method, "relay-pass");
  REQUIRE(k.ok());
  auto keys = std::make_shared<Keys>(*k);
  keys->filter = std::make_shared<SaltFilter>();
  return keys;
}

std::vector<std::uint8_t> pattern(std::size_t n, unsigned seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * 131 + seed) % 251);
  return v;
}
}  // namespace

TEST_CASE("ss aead: streams interleaved on one thread each keep their own key") {
  for (const char* name : {"aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"}) {
    const Method* m = find_method(name);
    REQUIRE(m);
    std::vector<std::uint8_t> k1(m->key_size, 0x11), k2(m->key_size, 0x22);
    const auto msg = pattern(1000, 7);
    // Reference: k1 alone, two seals (nonces 0 and 1).
    std::vector<std::uint8_t> ref0(msg.size() + kTagSize), ref1(msg.size() + kTagSize);
    {
      Aead a;
      REQUIRE(a.init(*m, k1.data(), true));
      REQUIRE(a.seal(msg.data(), msg.size(), ref0.data()));
      REQUIRE(a.seal(msg.data(), msg.size(), ref1.data()));
    }
    // The same with another key's seal in between (the thread's context
    // switches keys).
    Aead a, b;
    REQUIRE(a.init(*m, k1.data(), true));
    REQUIRE(b.init(*m, k2.data(), true));
    std::vector<std::uint8_t> o0(msg.size() + kTagSize), o1(msg.size() + kTagSize),
        ob(msg.size() + kTagSize);
    REQUIRE(a.seal(msg.data(), msg.size(), o0.data()));
    REQUIRE(b.seal(msg.data(), msg.size(), ob.data()));
    REQUIRE(a.seal(msg.data(), msg.size(), o1.data()));
    CHECK(o0 == ref0);
    CHECK(o1 == ref1);
    CHECK(ob != ref0);
    // Openers interleaved the same way; a wrong key fails and does not disturb
    // the right one.
    Aead d1, d2;
    REQUIRE(d1.init(*m, k1.data(), false));
    REQUIRE(d2.init(*m, k2.data(), false));
    std::vector<std::uint8_t> p(msg.size());
    REQUIRE(d1.open(ref0.data(), ref0.size(), p.data()));
    CHECK(p == msg);
    CHECK_FALSE(d2.open(ref1.data(), ref1.size(),
                        p.data()));  // k2 cannot open k1's chunk
    REQUIRE(d1.open(ref1.data(), ref1.size(), p.data()));
    CHECK(p == msg);
    // An encrypting Aead does not open and a decrypting one does not seal.
    CHECK_FALSE(a.open(ref0.data(), ref0.size(), p.data()));
    CHECK_FALSE(d1.seal(msg.data(), msg.size(), o0.data()));
  }
}

namespace {
struct Fixture {
  asio::io_context io;
  tcp::acceptor acc{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::pair<tcp::socket, tcp::socket> pair() {
    tcp::socket a(io), b(io);
    a.connect(acc.local_endpoint());
    acc.accept(b);
    return {std::move(a), std::move(b)};
  }
};

struct Outcome {
  bool bridged = false;
  BridgeResult res;
  bool far_done = false;
  Address target;
  std::vector<std::uint8_t> far_got;
  std::error_code far_ec;
  bool app_done = false;
  std::vector<std::uint8_t> app_got;
  std::error_code app_ec;
};

asio::awaitable<void> run_bridge(Stream* a, Stream* b, BridgeOptions o, Outcome* out) {
  out->res = co_await bridge(*a, *b, o);
  out->bridged = true;
}

// The ss server end: reads the target and everything up to EOF, then answers
// `reply` and half-closes.
asio::awaitable<void> far_end(SsStream* s, std::vector<std::uint8_t> reply, Outcome* out) {
  auto t = co_await s->read_target();
  if (!t) {
    out->far_ec = t.error();
    out->far_done = true;
    co_return;
  }
  out->target = *t;
  std::vector<std::uint8_t> buf(5000);
  for (;;) {
    auto r = co_await s->read_some(asio::buffer(buf));
    out->far_got.insert(out->far_got.end(), buf.begin(),
                        buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
    if (r.ec) {
      if (r.ec != asio::error::eof) out->far_ec = r.ec;
      break;
    }
  }
  if (auto ec = co_await write_all(*s, asio::buffer(reply))) out->far_ec = ec;
  co_await s->shutdown_write();
  out->far_done = true;
}

// The application behind the TCP side: sends `data`, half-closes, reads to EOF.
asio::awaitable<void> app_end(tcp::socket* s, std::vector<std::uint8_t> data, Outcome* out) {
  auto [ec, n] = co_await asio::async_write(*s, asio::buffer(data), use_tuple);
  if (ec) out->app_ec = ec;
  s->shutdown(tcp::socket::shutdown_send, ec);
  std::vector<std::uint8_t> buf(7000);
  for (;;) {
    auto [rec, m] = co_await s->async_read_some(asio::buffer(buf), use_tuple);
    out->app_got.insert(out->app_got.end(), buf.begin(),
                        buf.begin() + static_cast<std::ptrdiff_t>(m));
    if (rec) {
      if (rec != asio::error::eof) out->app_ec = rec;
      break;
    }
  }
  out->app_done = true;
}

// Runs io until pred() or the limit; true when pred() held.
template <class Pred>
bool run_until(asio::io_context& io, Pred pred,
               std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < end) {
    io.run_for(std::chrono::milliseconds(20));
    if (io.stopped()) io.restart();
  }
  return pred();
}
}  // namespace

TEST_CASE(
    "bridge: TCP <-> ss client stream over TCP relays bulk data both "
    "ways, half-closes") {
  for (const char* method : {"aes-128-gcm", "chacha20-ietf-poly1305"}) {
    Fixture f;
    auto keys = make(method);
    auto [app, app_peer] = f.pair();  // the application's connection to the proxy
    auto [up, up_peer] = f.pair();    // the proxy's connection to the ss server
    auto tcp_side = std::make_unique<TcpStream>(std::move(app_peer));
    auto ss_client = std::make_unique<SsStream>(std::make_unique<TcpStream>(std::move(up)), keys,
                                                SsStream::Role::client);
    REQUIRE(!ss_client->set_target(Address("example.com", 443)));
    SsStream far(std::make_unique<TcpStream>(std::move(up_peer)), keys, SsStream::Role::server);
    CHECK(tcp_side->has_ready_callback());
    CHECK(ss_client->has_ready_callback());

    const auto up_data = pattern(3 * 1024 * 1024 + 17, 1);
    const auto down_data = pattern(2 * 1024 * 1024 + 5, 2);
    Outcome out;
    asio::co_spawn(f.io, run_bridge(tcp_side.get(), ss_client.get(), {}, &out), asio::detached);
    asio::co_spawn(f.io, far_end(&far, down_data, &out), asio::detached);
    asio::co_spawn(f.io, app_end(&app, up_data, &out), asio::detached);
    REQUIRE(run_until(f.io, [&] { return out.bridged && out.far_done && out.app_done; }));
    CHECK(!out.far_ec);
    CHECK(!out.app_ec);
    CHECK(!out.res.ec);
    CHECK(out.target == Address("example.com", 443));
    CHECK(out.far_got == up_data);
    CHECK(out.app_got == down_data);
    CHECK(out.res.a_to_b == up_data.size());
    CHECK(out.res.b_to_a == down_data.size());
  }
}

TEST_CASE("bridge: readiness relay ends on the idle limit and on an abrupt close") {
  auto keys = make("aes-128-gcm");
  SECTION("idle limit") {
    Fixture f;
    auto [app, app_peer] = f.pair();
    auto [up, up_peer] = f.pair();
    auto tcp_side = std::make_unique<TcpStream>(std::move(app_peer));
    auto ss_client = std::make_unique<SsStream>(std::make_unique<TcpStream>(std::move(up)), keys,
                                                SsStream::Role::client);
    REQUIRE(!ss_client->set_target(Address("10.0.0.1", 80)));
    Outcome out;
    BridgeOptions o;
    o.idle_timeout = std::chrono::milliseconds(150);
    const auto t0 = std::chrono::steady_clock::now();
    asio::co_spawn(f.io, run_bridge(tcp_side.get(), ss_client.get(), o, &out), asio::detached);
    REQUIRE(run_until(
        f.io, [&] { return out.bridged; }, std::chrono::seconds(10)));
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(140));
    CHECK(out.res.a_to_b == 0);
    CHECK(out.res.b_to_a == 0);
    // Both streams are closed: the application sees the end.
    std::uint8_t b[4];
    std::error_code ec;
    app.read_some(asio::buffer(b), ec);
    CHECK(ec);
  }
  SECTION("the ss server side vanishes") {
    Fixture f;
    auto [app, app_peer] = f.pair();
    auto [up, up_peer] = f.pair();
    auto tcp_side = std::make_unique<TcpStream>(std::move(app_peer));
    auto ss_client = std::make_unique<SsStream>(std::make_unique<TcpStream>(std::move(up)), keys,
                                                SsStream::Role::client);
    REQUIRE(!ss_client->set_target(Address("10.0.0.1", 80)));
    Outcome out;
    asio::co_spawn(f.io, run_bridge(tcp_side.get(), ss_client.get(), {}, &out), asio::detached);
    f.io.run_for(std::chrono::milliseconds(50));
    f.io.restart();
    // Garbage instead of an ss stream from the server: the client's decoder
    // fails, the relay ends.
    std::vector<std::uint8_t> junk(200, 0x5A);
    asio::write(up_peer, asio::buffer(junk));
    REQUIRE(run_until(
        f.io, [&] { return out.bridged; }, std::chrono::seconds(10)));
    CHECK(out.res.ec);
    up_peer.close();
  }
}

namespace {
// A transport that hands out `wire` in reads as large as asked, and whose readiness callback
// never fires (it only records that it was asked).
class StuckStream final : public Stream {
 public:
  StuckStream(asio::any_io_executor ex, std::vector<std::uint8_t> wire, bool* asked)
      : ex_(std::move(ex)), wire_(std::move(wire)), asked_(asked) {}
  asio::any_io_executor get_executor() override { return ex_; }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    if (pos_ == wire_.size()) co_return IoResult{asio::error::eof, 0};
    const std::size_t n = std::min(b.size(), wire_.size() - pos_);
    std::memcpy(b.data(), wire_.data() + pos_, n);
    pos_ += n;
    co_return IoResult{{}, n};
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    co_return IoResult{{}, b.size()};
  }
  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }
  void close() noexcept override {}
  bool has_ready_callback() noexcept override { return true; }
  void async_wait_readable(ReadyHandler) override { *asked_ = true; }

 private:
  asio::any_io_executor ex_;
  std::vector<std::uint8_t> wire_;
  std::size_t pos_ = 0;
  bool* asked_;
};

asio::awaitable<void> read_n(SsStream* s, std::size_t n, std::vector<std::uint8_t>* got) {
  std::vector<std::uint8_t> buf(4 * 0x3FFF);
  while (got->size() < n) {
    auto r = co_await s->read_some(asio::buffer(buf.data(), std::min(buf.size(), n - got->size())));
    got->insert(got->end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
    if (r.ec) break;
  }
}
}  // namespace

TEST_CASE("ss stream: readable while the transport may hold more than the last read could take") {
  // The first transport read fills the whole read buffer (72 KiB) and ends exactly on a chunk
  // boundary; the rest is still in the transport, which will signal nothing new. Once the
  // buffered chunks are read, the stream must still count as readable instead of waiting for a
  // readiness event that may never come.
  auto keys = make("aes-128-gcm");
  Encoder e(keys.get(), Encoder::Role::server);  // the server's side of a stream: salt, chunks
  const auto p1 = pattern(4 * 0x3FFF + 8010, 3);
  const auto p2 = pattern(100, 4);
  std::vector<std::uint8_t> wire(160 * 1024);
  std::size_t used = 0;
  std::size_t w = e.encode(p1.data(), p1.size(), wire.data(), wire.size(), &used);
  REQUIRE(used == p1.size());
  REQUIRE(w == PoolBuf::kSize);  // 16 + 5 * 34 + 73542
  std::size_t w2 = e.encode(p2.data(), p2.size(), wire.data() + w, wire.size() - w, &used);
  REQUIRE(used == p2.size());
  wire.resize(w + w2);

  asio::io_context io;
  bool asked = false;
  SsStream s(std::make_unique<StuckStream>(io.get_executor(), wire, &asked), keys,
             SsStream::Role::client);
  std::vector<std::uint8_t> got;
  asio::co_spawn(io, read_n(&s, p1.size(), &got), asio::detached);
  io.run();
  REQUIRE(got == p1);
  bool ready = false;
  s.async_wait_readable([&ready](std::error_code ec) { ready = !ec; });
  CHECK_FALSE(ready);  // never called from inside async_wait_readable
  io.restart();
  io.run();
  CHECK(ready);
  CHECK_FALSE(asked);
  got.clear();
  io.restart();
  asio::co_spawn(io, read_n(&s, p2.size(), &got), asio::detached);
  io.run();
  CHECK(got == p2);
  // Everything read and the transport drained by a short read: now it is the transport's turn.
  ready = false;
  s.async_wait_readable([&ready](std::error_code) { ready = true; });
  io.restart();
  io.run();
  CHECK_FALSE(ready);
  CHECK(asked);
}
