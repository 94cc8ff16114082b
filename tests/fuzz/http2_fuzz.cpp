// Feeds bytes into an HTTP/2 server session (as a client connection would), with an accept loop
// that answers every request and reads its body as the tunnel listener does; also runs the
// gRPC Chunk parser over the same bytes. The session must end (not hang, not crash) on any
// input.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gost/http2/session.hpp"
#include "http2/grpc_codec.hpp"

namespace {

// Yields the input in pieces of varying size, then EOF; swallows writes.
class InputStream final : public gost::Stream {
 public:
  InputStream(asio::any_io_executor ex, std::vector<std::uint8_t> in)
      : ex_(std::move(ex)), in_(std::move(in)) {}
  asio::any_io_executor get_executor() override { return ex_; }
  asio::awaitable<gost::IoResult> read_some(asio::mutable_buffer b) override {
    if (closed_) co_return gost::IoResult{asio::error::operation_aborted, 0};
    if (off_ >= in_.size()) co_return gost::IoResult{asio::error::eof, 0};
    std::size_t piece = 1 + (in_[off_] % 97) * 7;
    std::size_t n = std::min({b.size(), in_.size() - off_, piece});
    std::memcpy(b.data(), in_.data() + off_, n);
    off_ += n;
    co_return gost::IoResult{{}, n};
  }
  asio::awaitable<gost::IoResult> write_some(asio::const_buffer b) override {
    if (closed_) co_return gost::IoResult{asio::error::broken_pipe, 0};
    co_return gost::IoResult{{}, b.size()};
  }
  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }
  void close() noexcept override { closed_ = true; }

 private:
  asio::any_io_executor ex_;
  std::vector<std::uint8_t> in_;
  std::size_t off_ = 0;
  bool closed_ = false;
};

asio::awaitable<void> serve_one(gost::http2::ExchangePtr ex) {
  ex->respond(200, {{"content-type", "application/grpc"}}, false);
  ex->set_trailers({{"grpc-status", "0"}});
  char buf[4096];
  for (int i = 0; i < 64; ++i) {
    auto [ec, n] = co_await ex->read_some(asio::buffer(buf));
    if (n) co_await gost::write_all(*ex, asio::buffer(buf, n));
    if (ec) break;
  }
  co_await ex->shutdown_write();
}

asio::awaitable<void> accept_loop(gost::http2::SessionPtr s) {
  for (;;) {
    auto r = co_await s->accept();
    if (!r) co_return;
    asio::co_spawn(s->get_executor(), serve_one(std::move(*r)), asio::detached);
  }
}

const std::uint8_t kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    auto p = gost::http2::grpc::parse_chunk(gost::Bytes(data, size), 1 << 16);
    if (p.ok() && (p.value.offset + p.value.length > size || p.consumed > size)) __builtin_trap();
  }
  asio::io_context ctx;
  // Half of the inputs get a valid preface so the frame parser is reached.
  std::vector<std::uint8_t> in;
  if (size > 0 && (data[0] & 1)) in.assign(kPreface, kPreface + sizeof(kPreface) - 1);
  in.insert(in.end(), data, data + size);
  auto s = gost::http2::Session::server(
      std::make_unique<InputStream>(ctx.get_executor(), std::move(in)));
  if (!s) return 0;
  asio::co_spawn(ctx, accept_loop(*s), asio::detached);
  // Bounded: the input is finite, so the session ends at EOF.
  for (int i = 0; i < 2000 && !ctx.stopped(); ++i) ctx.run_for(std::chrono::milliseconds(5));
  if (!(*s)->is_closed()) (*s)->close();
  ctx.restart();
  ctx.run_for(std::chrono::milliseconds(50));
  return 0;
}
