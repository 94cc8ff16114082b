// SsStream over an in-memory transport: the target at the start (also when it spans chunks),
// reads into small and large buffers, and what the server writes back.
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <cstring>

#include "ss/stream.hpp"

using namespace gost;
using namespace gost::ss;

namespace {
class MemStream final : public Stream {
 public:
  MemStream(asio::any_io_executor ex, std::vector<std::uint8_t> in, std::size_t piece)
      : ex_(std::move(ex)), in_(std::move(in)), piece_(piece) {}
  asio::any_io_executor get_executor() override { return ex_; }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    if (pos_ == in_.size()) co_return IoResult{asio::error::eof, 0};
    std::size_t n = std::min({b.size(), piece_, in_.size() - pos_});
    std::memcpy(b.data(), in_.data() + pos_, n);
    pos_ += n;
    co_return IoResult{{}, n};
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    auto p = static_cast<const std::uint8_t*>(b.data());
    out->insert(out->end(), p, p + b.size());
    co_return IoResult{{}, b.size()};
  }
  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }
  void close() noexcept override {}
  std::shared_ptr<std::vector<std::uint8_t>> out = std::make_shared<std::vector<std::uint8_t>>();

 private:
  asio::any_io_executor ex_;
  std::vector<std::uint8_t> in_;
  std::size_t piece_;
  std::size_t pos_ = 0;
};

std::vector<std::uint8_t> enc(Encoder& e, const std::vector<std::uint8_t>& d) {
  std::vector<std::uint8_t> buf(80 * 1024);
  std::size_t used = 0;
  std::size_t w = e.encode(d.data(), d.size(), buf.data(), buf.size(), &used);
  REQUIRE(used == d.size());
  buf.resize(w);
  return buf;
}

struct Result2 {
  bool done = false;
  Address target;
  std::vector<std::uint8_t> data;
  std::error_code ec;
};

asio::awaitable<void> serve(SsStream* s, Result2* r, std::size_t bufsize) {
  auto t = co_await s->read_target();
  if (!t) {
    r->ec = t.error();
    r->done = true;
    co_return;
  }
  r->target = *t;
  std::vector<std::uint8_t> buf(bufsize);
  for (;;) {
    auto x = co_await s->read_some(asio::buffer(buf));
    r->data.insert(r->data.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(x.bytes));
    if (x.ec) {
      if (x.ec != asio::error::eof) r->ec = x.ec;
      break;
    }
  }
  std::vector<std::uint8_t> reply(40000, 0x77);
  auto w = co_await write_all(*s, asio::buffer(reply));
  if (w) r->ec = w;
  r->done = true;
}
}  // namespace

TEST_CASE("ss stream: target spanning two chunks, then data, any read size") {
  auto kr = make_keys("aes-128-gcm", "pw");
  REQUIRE(kr.ok());
  auto keys = std::make_shared<Keys>(*kr);
  // Server-role encoder output has the client stream's format for the AEAD edition (no
  // prefix), so the address can be split by hand: "\x03\x07exa" | "mple\x01\xbb" + data.
  Encoder e(keys.get(), Encoder::Role::server);
  std::vector<std::uint8_t> wire = enc(e, {0x03, 0x07, 'e', 'x', 'a'});
  std::vector<std::uint8_t> rest = {'m', 'p', 'l', 'e', 0x01, 0xbb};
  std::vector<std::uint8_t> data(50000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i % 253);
  rest.insert(rest.end(), data.begin(), data.end());
  auto w2 = enc(e, rest);
  wire.insert(wire.end(), w2.begin(), w2.end());

  for (std::size_t piece : {std::size_t(1) << 20, std::size_t(100), std::size_t(3)}) {
    for (std::size_t bufsize : {std::size_t(16384), std::size_t(7)}) {
      asio::io_context io;
      auto mem = std::make_unique<MemStream>(io.get_executor(), wire, piece);
      auto out = mem->out;
      SsStream s(std::move(mem), keys, SsStream::Role::server);
      Result2 r;
      asio::co_spawn(io, serve(&s, &r, bufsize), asio::detached);
      io.run();
      REQUIRE(r.done);
      REQUIRE(!r.ec);
      CHECK(r.target == Address("example", 443));
      CHECK(r.data == data);
      // The reply decodes with a client decoder.
      Decoder d(keys.get(), Decoder::Role::client);
      std::vector<std::uint8_t> got;
      std::size_t off = 0;
      for (;;) {
        auto st = d.step(out->data() + off, out->size() - off);
        if (st.status != ParseStatus::ok) break;
        got.insert(got.end(), out->begin() + static_cast<std::ptrdiff_t>(off + st.plain_off),
                   out->begin() + static_cast<std::ptrdiff_t>(off + st.plain_off + st.plain_len));
        off += st.consumed;
      }
      CHECK(off == out->size());
      CHECK(got == std::vector<std::uint8_t>(40000, 0x77));
    }
  }
}

TEST_CASE("ss stream: a garbage stream fails read_target without a crash") {
  auto kr = make_keys("chacha20-ietf-poly1305", "pw");
  REQUIRE(kr.ok());
  auto keys = std::make_shared<Keys>(*kr);
  asio::io_context io;
  std::vector<std::uint8_t> junk(500, 0x42);
  SsStream s(std::make_unique<MemStream>(io.get_executor(), junk, 50), keys,
             SsStream::Role::server);
  Result2 r;
  asio::co_spawn(io, serve(&s, &r, 100), asio::detached);
  io.run();
  CHECK(r.done);
  CHECK(r.ec);
}
