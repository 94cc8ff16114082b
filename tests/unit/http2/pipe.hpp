#pragma once
// An in-memory, bounded, bidirectional byte pipe: two Streams on one executor.

#include <algorithm>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>
#include <memory>
#include <vector>

#include "gost/core/error.hpp"
#include "gost/core/stream.hpp"

namespace gost::test {

struct PipeBuf {
  explicit PipeBuf(asio::any_io_executor ex, std::size_t capacity)
      : cap(capacity),
        rd(ex, asio::steady_timer::time_point::max()),
        wr(ex, asio::steady_timer::time_point::max()) {}
  std::vector<unsigned char> data;
  std::size_t cap;
  bool eof = false;
  bool closed = false;
  std::size_t total = 0;  // bytes ever written
  asio::steady_timer rd, wr;
};

class PipeStream final : public Stream {
 public:
  PipeStream(asio::any_io_executor ex, std::shared_ptr<PipeBuf> in, std::shared_ptr<PipeBuf> out)
      : ex_(std::move(ex)), in_(std::move(in)), out_(std::move(out)) {}
  ~PipeStream() override { close(); }
  asio::any_io_executor get_executor() override { return ex_; }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    auto in = in_;
    for (;;) {
      if (closed_) co_return IoResult{asio::error::operation_aborted, 0};
      if (!in->data.empty()) {
        std::size_t n = std::min(b.size(), in->data.size());
        std::memcpy(b.data(), in->data.data(), n);
        in->data.erase(in->data.begin(), in->data.begin() + static_cast<std::ptrdiff_t>(n));
        in->wr.cancel();
        co_return IoResult{{}, n};
      }
      if (in->closed) co_return IoResult{asio::error::connection_reset, 0};
      if (in->eof) co_return IoResult{asio::error::eof, 0};
      co_await in->rd.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none)
        co_return IoResult{asio::error::operation_aborted, 0};
    }
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    auto out = out_;
    for (;;) {
      if (closed_ || out->closed || out->eof) co_return IoResult{asio::error::broken_pipe, 0};
      if (out->data.size() < out->cap) break;
      co_await out->wr.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none)
        co_return IoResult{asio::error::operation_aborted, 0};
    }
    std::size_t n = std::min(b.size(), out->cap - out->data.size());
    auto p = static_cast<const unsigned char*>(b.data());
    out->data.insert(out->data.end(), p, p + n);
    out->total += n;
    out->rd.cancel();
    co_return IoResult{{}, n};
  }
  asio::awaitable<std::error_code> shutdown_write() override {
    out_->eof = true;
    out_->rd.cancel();
    co_return std::error_code{};
  }
  void close() noexcept override {
    if (closed_) return;
    closed_ = true;
    out_->closed = true;
    in_->closed = true;
    out_->rd.cancel();
    in_->wr.cancel();
    in_->rd.cancel();
    out_->wr.cancel();
  }

 private:
  asio::any_io_executor ex_;
  std::shared_ptr<PipeBuf> in_, out_;
  bool closed_ = false;
};

struct PipePair {
  StreamPtr a, b;
  std::shared_ptr<PipeBuf> a_to_b, b_to_a;
};

inline PipePair make_pipe(asio::any_io_executor ex, std::size_t cap = 64 * 1024) {
  auto ab = std::make_shared<PipeBuf>(ex, cap);
  auto ba = std::make_shared<PipeBuf>(ex, cap);
  PipePair p;
  p.a = std::make_unique<PipeStream>(ex, ba, ab);
  p.b = std::make_unique<PipeStream>(ex, ab, ba);
  p.a_to_b = ab;
  p.b_to_a = ba;
  return p;
}

}  // namespace gost::test
