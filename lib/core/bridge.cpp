#include "gost/core/bridge.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>

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

// ---- splice(2) fast path: TCP to TCP through a pipe, no copy into user space.

// A pipe pair, pooled per thread: taken when a burst of data arrives, given back once it has
// been drained, so idle connections hold no pipe (two file descriptors each).
class Pipe {
 public:
  Pipe() {
    auto& f = free_list();
    if (!f.empty()) {
      fds_[0] = f.back().first;
      fds_[1] = f.back().second;
      f.pop_back();
    } else if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) == 0) {
      ::fcntl(fds_[1], F_SETPIPE_SZ, kPipeSize);
    } else {
      fds_[0] = fds_[1] = -1;
    }
  }
  ~Pipe() {
    if (fds_[0] < 0) return;
    if (clean_ && free_list().size() < 256) {
      free_list().emplace_back(fds_[0], fds_[1]);
    } else {
      ::close(fds_[0]);
      ::close(fds_[1]);
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool ok() const noexcept { return fds_[0] >= 0; }
  int rd() const noexcept { return fds_[0]; }
  int wr() const noexcept { return fds_[1]; }
  // A pipe that still holds bytes must not be reused.
  void set_clean(bool c) noexcept { clean_ = c; }
  static constexpr int kPipeSize = 256 * 1024;

 private:
  struct FreeList {
    std::vector<std::pair<int, int>> v;
    ~FreeList() {
      for (auto [r, w] : v) {
        ::close(r);
        ::close(w);
      }
    }
  };
  static std::vector<std::pair<int, int>>& free_list() {
    thread_local FreeList fl;
    return fl.v;
  }
  int fds_[2] = {-1, -1};
  bool clean_ = false;
};

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

asio::awaitable<void> splice_dir(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to, std::uint64_t& count,
                                 std::error_code& err, Shared& sh, std::chrono::milliseconds idle) {
  const int in = from.native_handle(), out = to.native_handle();
  for (;;) {
    std::error_code wec;
    if (idle.count() > 0) {
      auto r = co_await with_timeout(from.async_wait(asio::ip::tcp::socket::wait_read, use_tuple), idle);
      if (!r) {
        // Idle in this direction: end only when the other direction is idle too.
        if (sh.done || clock_type::now() - sh.last_activity >= idle) break;
        continue;
      }
      wec = std::get<0>(*r);
    } else {
      auto [e] = co_await from.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
      wec = e;
    }
    if (wec) {
      if (!benign(wec)) err = wec;
      break;
    }
    Pipe pipe;
    if (!pipe.ok()) {
      err = std::error_code(errno, std::system_category());
      break;
    }
    bool eof = false, failed = false;
    std::size_t pending = 0;
    // Move what is ready now: socket -> pipe -> socket; a bounded number of rounds so one busy
    // connection cannot starve the others on its thread.
    for (int round = 0; round < 16; ++round) {
      ssize_t n = ::splice(in, nullptr, pipe.wr(), nullptr, Pipe::kPipeSize, kSpliceFlags);
      if (n == 0) {
        eof = true;
      } else if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          std::error_code ec(errno, std::system_category());
          if (!benign(ec)) err = ec;
          failed = true;
        }
      } else {
        pending += static_cast<std::size_t>(n);
        sh.last_activity = clock_type::now();
      }
      while (pending > 0) {
        ssize_t m = ::splice(pipe.rd(), nullptr, out, nullptr, pending, kSpliceFlags);
        if (m > 0) {
          pending -= static_cast<std::size_t>(m);
          count += static_cast<std::uint64_t>(m);
          continue;
        }
        if (m < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
          // Backpressure: wait until the peer can take more.
          auto [ec2] = co_await to.async_wait(asio::ip::tcp::socket::wait_write, use_tuple);
          if (!ec2) continue;
          if (!benign(ec2)) err = ec2;
        } else if (m < 0) {
          std::error_code ec(errno, std::system_category());
          if (!benign(ec)) err = ec;
        }
        failed = true;
        break;
      }
      if (eof || failed || n <= 0) break;
    }
    pipe.set_clean(pending == 0);
    if (failed) break;
    if (eof) {
      std::error_code ec;
      to.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
      co_return;  // half-close: the other direction keeps going
    }
  }
  sh.done = true;
  std::error_code ec;
  from.close(ec);
  to.close(ec);
}

asio::awaitable<BridgeResult> splice_bridge(asio::ip::tcp::socket& a, asio::ip::tcp::socket& b,
                                            std::chrono::milliseconds idle) {
  using namespace asio::experimental::awaitable_operators;
  BridgeResult res;
  std::error_code e1, e2;
  std::error_code ec;
  a.native_non_blocking(true, ec);
  b.native_non_blocking(true, ec);
  Shared sh;
  co_await (splice_dir(a, b, res.a_to_b, e1, sh, idle) && splice_dir(b, a, res.b_to_a, e2, sh, idle));
  res.ec = e1 ? e1 : e2;
  co_return res;
}
}  // namespace

asio::awaitable<BridgeResult> bridge(Stream& a, Stream& b) {
  BridgeOptions opts;
  return bridge(a, b, opts);
}

asio::awaitable<BridgeResult> bridge(Stream& a, Stream& b, BridgeOptions opts) {
  using namespace asio::experimental::awaitable_operators;
  auto* ta = a.tcp_socket();
  auto* tb = b.tcp_socket();
  if (ta && tb && !a.is_datagram() && !b.is_datagram()) {
    auto res = co_await splice_bridge(*ta, *tb, opts.idle_timeout);
    a.close();
    b.close();
    co_return res;
  }
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
