#include "gost/core/bridge.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include "core/buffer_pool.hpp"
#include "gost/core/timeout.hpp"

namespace gost {
namespace core {
namespace {
struct Pool {
  std::vector<std::unique_ptr<unsigned char[]>> free;
  ~Pool() = default;
};
thread_local Pool tl_pool;
constexpr std::size_t kMaxPooled = 1024;
}  // namespace

PooledBuffer::PooledBuffer() {
  auto& f = tl_pool.free;
  if (!f.empty()) {
    p_ = std::move(f.back());
    f.pop_back();
  } else {
    p_ = std::make_unique<unsigned char[]>(kSize);
  }
}

PooledBuffer::~PooledBuffer() {
  if (p_ && tl_pool.free.size() < kMaxPooled) tl_pool.free.push_back(std::move(p_));
}
}  // namespace core

namespace {
using clock_type = std::chrono::steady_clock;

struct Shared {
  clock_type::time_point last_activity = clock_type::now();
  bool done = false;
};

bool benign(const std::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::operation_aborted ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::bad_descriptor;
}

asio::awaitable<void> copy_stream(Stream& from, Stream& to, std::uint64_t& count, std::error_code& err,
                                  Shared& sh, std::chrono::milliseconds idle) {
  const bool datagram = from.is_datagram() || to.is_datagram();
  std::unique_ptr<core::PooledBuffer> buf;
  bool bulk = false;  // the last read filled the buffer: more data is likely already waiting
  for (;;) {
    if (!bulk && !datagram) {
      buf.reset();  // idle connections hold no buffer
      std::error_code ec;
      if (idle.count() > 0) {
        auto r = co_await with_timeout(from.wait_readable(), idle);
        if (!r) {
          if (sh.done || clock_type::now() - sh.last_activity >= idle) break;
          continue;
        }
        ec = *r;
      } else {
        ec = co_await from.wait_readable();
      }
      if (ec) {
        if (!benign(ec)) err = ec;
        break;
      }
    }
    if (!buf) buf = std::make_unique<core::PooledBuffer>();
    IoResult r;
    if (idle.count() > 0) {
      auto t = co_await with_timeout(from.read_some(asio::buffer(buf->data(), buf->size())), idle);
      if (!t) {
        if (sh.done || clock_type::now() - sh.last_activity >= idle) break;
        continue;
      }
      r = *t;
    } else {
      r = co_await from.read_some(asio::buffer(buf->data(), buf->size()));
    }
    if (r.bytes > 0) {
      sh.last_activity = clock_type::now();
      std::error_code wec;
      if (datagram) {
        wec = (co_await to.write_some(asio::buffer(buf->data(), r.bytes))).ec;
      } else {
        wec = co_await write_all(to, asio::buffer(buf->data(), r.bytes));
      }
      if (wec) {
        if (!benign(wec)) err = wec;
        break;
      }
      count += r.bytes;
      bulk = r.bytes == buf->size();
    }
    if (r.ec) {
      if (!benign(r.ec)) err = r.ec;
      if (r.ec == asio::error::eof && !datagram) {
        co_await to.shutdown_write();  // half-close: the other direction keeps going
        co_return;
      }
      break;
    }
  }
  // An error, an idle datagram session or a cancelled read ends both directions.
  sh.done = true;
  from.close();
  to.close();
}
}  // namespace

asio::awaitable<BridgeResult> bridge(Stream& a, Stream& b, BridgeOptions opts) {
  using namespace asio::experimental::awaitable_operators;
  BridgeResult res;
  Shared sh;
  std::error_code e1, e2;
  co_await (copy_stream(a, b, res.a_to_b, e1, sh, opts.idle_timeout) &&
            copy_stream(b, a, res.b_to_a, e2, sh, opts.idle_timeout));
  res.ec = e1 ? e1 : e2;
  a.close();
  b.close();
  co_return res;
}

}  // namespace gost
