#include "gost/core/bridge.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <vector>

#include <asio/associated_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/detached.hpp>
#include <asio/async_result.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>

#include "core/buffer_pool.hpp"
#include "core/transports.hpp"

namespace gost {

namespace {
using clock_type = std::chrono::steady_clock;
using core::sys_error;

struct Shared {
  clock_type::time_point last_activity = clock_type::now();
  bool done = false;
  int ended = 0;                          // directions that finished
  asio::steady_timer* watchdog = nullptr;  // the idle watch, while it runs
};

bool benign(const std::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::operation_aborted ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::bad_descriptor;
}

void direction_ended(Shared& sh) {
  if (++sh.ended == 2 && sh.watchdog) sh.watchdog->cancel();
}

// One direction. No timer per read: the idle limit is kept by idle_watch(), which closes both
// streams when nothing moved for the whole period (so a datagram costs no timer set-up).
asio::awaitable<void> copy_stream(Stream& from, Stream& to, std::uint64_t& count, std::error_code& err,
                                  Shared& sh) {
  const bool datagram = from.is_datagram() || to.is_datagram();
  std::optional<core::PooledBuffer> buf;  // in place: taking one from the pool allocates nothing
  bool bulk = false;  // the last read filled the buffer: more data is likely already waiting
  for (;;) {
    if (!bulk && !datagram) {
      buf.reset();  // idle connections hold no buffer
      std::error_code ec = co_await from.wait_readable();
      if (ec) {
        if (!benign(ec) && !sh.done) err = ec;
        break;
      }
    }
    if (!buf) buf.emplace();
    IoResult r = co_await from.read_some(asio::buffer(buf->data(), buf->size()));
    if (r.bytes > 0) {
      sh.last_activity = clock_type::now();
      std::error_code wec;
      if (datagram) {
        wec = (co_await to.write_some(asio::buffer(buf->data(), r.bytes))).ec;
      } else {
        wec = co_await write_all(to, asio::buffer(buf->data(), r.bytes));
      }
      if (wec) {
        if (!benign(wec) && !sh.done) err = wec;
        break;
      }
      count += r.bytes;
      bulk = r.bytes == buf->size();
    }
    if (r.ec) {
      if (!benign(r.ec) && !sh.done) err = r.ec;
      if (r.ec == asio::error::eof && !datagram) {
        co_await to.shutdown_write();  // half-close: the other direction keeps going
        direction_ended(sh);
        co_return;
      }
      break;
    }
  }
  // An error, an idle session or a cancelled read ends both directions.
  sh.done = true;
  from.close();
  to.close();
  direction_ended(sh);
}

asio::awaitable<void> idle_watch(Stream& a, Stream& b, Shared& sh, std::chrono::milliseconds idle) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  sh.watchdog = &timer;
  while (sh.ended < 2) {
    timer.expires_at(sh.last_activity + idle);
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (sh.ended >= 2) break;
    if (clock_type::now() - sh.last_activity >= idle) {
      sh.done = true;  // idle in both directions for the whole period
      a.close();
      b.close();
      break;
    }
  }
  sh.watchdog = nullptr;
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

constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

// A TCP-to-TCP relay driven by completion handlers rather than coroutines: an idle
// connection pair costs this object and two pending readiness waits, no coroutine frames and
// no buffers or pipes (a pipe is taken from the thread's pool only while bytes are in flight).
// Everything runs on the sockets' executor (one thread), so no locking.
template <class Handler>
class SpliceRelay final : public std::enable_shared_from_this<SpliceRelay<Handler>> {
 public:
  SpliceRelay(asio::ip::tcp::socket& a, asio::ip::tcp::socket& b, std::chrono::milliseconds idle, Handler h)
      : idle_(idle), timer_(a.get_executor()), handler_(std::move(h)) {
    dirs_[0].from = &a;
    dirs_[0].to = &b;
    dirs_[1].from = &b;
    dirs_[1].to = &a;
  }

  void start(bool a_has_data) {
    std::error_code ec;
    for (auto& d : dirs_) {
      if (!d.from->native_non_blocking() && !d.from->non_blocking()) d.from->native_non_blocking(true, ec);
    }
    if (idle_.count() > 0) arm_timer(idle_);
    // Begin from a handler of its own: readiness the reactor has already collected for these
    // sockets (the client's first bytes, read by the handler) is queued ahead of it and finds no
    // wait to end, instead of ending the first wait with a read that finds nothing. A wait
    // re-arms the descriptor, so bytes that are there now are still reported.
    asio::post(timer_.get_executor(), [self = this->shared_from_this(), a_has_data] {
      self->wait_read(1);
      if (a_has_data) {
        self->pump(0);
      } else {
        self->wait_read(0);
      }
    });
  }

 private:
  struct Dir {
    asio::ip::tcp::socket* from = nullptr;
    asio::ip::tcp::socket* to = nullptr;
    std::optional<Pipe> pipe;  // inline: taking one from the pool allocates nothing
    std::size_t pending = 0;  // bytes in the pipe not yet written out
    std::uint64_t count = 0;
    bool finished = false;
  };

  // drained: the last read of this direction came back would-block (core/reactor.hpp).
  void wait_read(int d, bool drained = false) {
    core::async_wait_read(*dirs_[d].from, drained,
                          [self = this->shared_from_this(), d](std::error_code ec) { self->on_read(d, ec); });
  }
  void wait_write(int d) {
    dirs_[d].to->async_wait(asio::ip::tcp::socket::wait_write,
                            [self = this->shared_from_this(), d](std::error_code ec) { self->on_write(d, ec); });
  }

  void on_read(int d, std::error_code ec) {
    if (ec) return fail(d, ec);
    pump(d);
  }
  void on_write(int d, std::error_code ec) {
    if (ec) return fail(d, ec);
    pump(d);
  }

  // Drains the pipe, then moves what is ready now (a bounded number of rounds so one busy
  // connection cannot starve the others on its thread), then waits for the next event.
  void pump(int d) {
    Dir& x = dirs_[d];
    const int in = x.from->native_handle(), out = x.to->native_handle();
    bool eof = false, last = false, drained = false;
    for (int round = 0; round < 16; ++round) {
      while (x.pending > 0) {
        ssize_t m = ::splice(x.pipe->rd(), nullptr, out, nullptr, x.pending, kSpliceFlags);
        if (m > 0) {
          x.pending -= static_cast<std::size_t>(m);
          x.count += static_cast<std::uint64_t>(m);
          continue;
        }
        if (m < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
          return wait_write(d);  // backpressure: read no more until the peer takes this
        }
        return fail(d, m < 0 ? sys_error(errno) : make_error_code(asio::error::broken_pipe));
      }
      if (eof || last) break;
      // The first read of a burst goes through a small per-thread buffer with recv/send: for the
      // short messages of request/response traffic that is the same two syscalls as splicing,
      // with less kernel work than passing page references through a pipe, and takes no pipe.
      // A read that fills the buffer means bulk: the rest of the burst is spliced.
      const bool copy = round == 0;
      if (!copy && !take_pipe(d)) return;
      unsigned char* const scratch = copy ? small_buffer() : nullptr;
      ssize_t n = copy ? ::recv(in, scratch, kSmallRead, MSG_DONTWAIT)
                       : ::splice(in, nullptr, x.pipe->wr(), nullptr, Pipe::kPipeSize, kSpliceFlags);
      if (n == 0) {
        eof = true;
        break;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          drained = true;
          break;
        }
        if (errno == EINTR) break;
        return fail(d, sys_error(errno));
      }
      if (idle_.count() > 0) last_activity_ = clock_type::now();
      // A short read has most likely drained the socket: once it is written out, wait for
      // readiness instead of spending a syscall on EAGAIN (the re-armed wait reports bytes that
      // arrived meanwhile).
      // Not "drained" for the wait (core/reactor.hpp): the peer's FIN may have come with these
      // bytes, and it raises no edge of its own once they are read; the re-armed wait reports it.
      if (static_cast<std::size_t>(n) < kSmallRead) last = true;
      if (!copy) {
        x.pending = static_cast<std::size_t>(n);
        continue;
      }
      ssize_t w = ::send(out, scratch, static_cast<std::size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return fail(d, sys_error(errno));
        w = 0;
      }
      x.count += static_cast<std::uint64_t>(w);
      if (w < n) {
        // The peer is slow: park the rest in the (empty) pipe and wait until it takes it.
        if (!take_pipe(d)) return;
        const auto rest = static_cast<std::size_t>(n - w);
        if (::write(x.pipe->wr(), scratch + w, rest) != static_cast<ssize_t>(rest)) {
          return fail(d, sys_error(errno ? errno : EIO));
        }
        x.pending = rest;
        return wait_write(d);
      }
    }
    // The pipe is empty here: give it back so an idle direction holds none.
    if (x.pipe) {
      x.pipe->set_clean(true);
      x.pipe.reset();
    }
    if (eof) {
      std::error_code ignore;
      x.to->shutdown(asio::ip::tcp::socket::shutdown_send, ignore);  // half-close
      x.finished = true;
      return maybe_done();
    }
    wait_read(d, drained);
  }

  // Takes a pipe from the thread's pool for direction d (false: failed, and the relay ends).
  bool take_pipe(int d) {
    Dir& x = dirs_[d];
    if (x.pipe) return true;
    x.pipe.emplace();
    if (x.pipe->ok()) return true;
    const int e = errno;
    x.pipe.reset();
    fail(d, sys_error(e));
    return false;
  }

  // Scratch space for pump(): used only within one call, so one per thread serves every relay.
  static unsigned char* small_buffer() {
    thread_local std::unique_ptr<unsigned char[]> buf(new unsigned char[kSmallRead]);
    return buf.get();
  }

  // An error or a cancelled wait ends both directions.
  void fail(int d, std::error_code ec) {
    if (ec && !benign(ec) && !err_) err_ = ec;
    // A pipe with nothing left in it (the usual end: a read fails with a reset) goes back to the
    // pool; one still holding bytes is closed.
    if (dirs_[d].pipe) dirs_[d].pipe->set_clean(dirs_[d].pending == 0);
    dirs_[d].pipe.reset();
    dirs_[d].finished = true;
    if (ec == asio::error::connection_reset && !closed_) {
      // One side aborted: abort the other too (RST), as it would see had the two been one
      // connection. It also spares both ends the FIN exchange and this side the TIME_WAIT.
      std::error_code ignore;
      dirs_[d].to->set_option(asio::socket_base::linger(true, 0), ignore);
    }
    close_both();
    maybe_done();
  }

  void close_both() {
    if (closed_) return;
    closed_ = true;
    std::error_code ignore;
    dirs_[0].from->close(ignore);
    dirs_[1].from->close(ignore);
    timer_.cancel();
  }

  void arm_timer(std::chrono::steady_clock::duration after) {
    timer_.expires_after(after);
    timer_.async_wait([self = this->shared_from_this()](std::error_code ec) { self->on_timer(ec); });
  }
  void on_timer(std::error_code ec) {
    if (ec || completed_) return;
    auto quiet = clock_type::now() - last_activity_;
    if (quiet >= idle_) {
      close_both();  // both directions idle for the whole period: pending waits end aborted
      return;
    }
    arm_timer(idle_ - quiet);
  }

  void maybe_done() {
    if (completed_ || !dirs_[0].finished || !dirs_[1].finished) return;
    completed_ = true;
    close_both();  // bridge() closes both streams at the end
    BridgeResult res;
    res.a_to_b = dirs_[0].count;
    res.b_to_a = dirs_[1].count;
    res.ec = err_;
    // Resume the awaiting coroutine from a fresh handler, not from inside this call chain.
    auto ex = asio::get_associated_executor(*handler_, timer_.get_executor());
    asio::post(ex, [h = std::move(*handler_), res]() mutable { std::move(h)(res); });
    handler_.reset();
  }

  static constexpr std::size_t kSmallRead = 16 * 1024;
  std::chrono::milliseconds idle_;
  asio::steady_timer timer_;
  std::optional<Handler> handler_;
  Dir dirs_[2];
  clock_type::time_point last_activity_ = clock_type::now();
  std::error_code err_;
  bool closed_ = false;
  bool completed_ = false;
};

struct InitSplice {
  template <class Handler>
  void operator()(Handler&& h, asio::ip::tcp::socket* a, asio::ip::tcp::socket* b, BridgeOptions opts) const {
    auto r = std::make_shared<SpliceRelay<std::decay_t<Handler>>>(*a, *b, opts.idle_timeout,
                                                                    std::forward<Handler>(h));
    r->start(opts.a_has_data);
  }
};

asio::awaitable<BridgeResult> splice_bridge(asio::ip::tcp::socket& a, asio::ip::tcp::socket& b,
                                            BridgeOptions opts) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(BridgeResult)>(InitSplice{}, asio::use_awaitable,
                                                                                  &a, &b, opts);
}

// ---- readiness relay: any two byte streams with a ready callback (Stream::async_wait_readable),
// e.g. a Shadowsocks stream over TCP and a TCP connection. While idle it holds this object and
// two pending readiness waits; when bytes arrive, a short-lived coroutine copies them (with a
// pooled buffer) until a read comes back short, then the direction waits again.

// Relay buffers, pooled per thread. 4 * 0x3FFF bytes: a whole number of Shadowsocks AEAD chunks,
// so a read from an ss stream can fill it and a write into one makes no runt chunk.
using RelayBuffer = core::Pooled<4 * 0x3FFF, 64>;

class ReadyRelay {
 public:
  ReadyRelay(Stream& a, Stream& b) {
    dirs_[0].from = &a;
    dirs_[1].from = &b;
  }
  virtual ~ReadyRelay() = default;
  ReadyRelay(const ReadyRelay&) = delete;
  ReadyRelay& operator=(const ReadyRelay&) = delete;

  // The relay owns itself from here on: it deletes itself once both directions have ended and
  // no handler refers to it any more.
  void start(std::chrono::milliseconds idle) {
    if (idle.count() > 0) {
      idle_ = std::make_unique<Idle>(executor(), idle);
      arm_timer(idle);
    }
    arm(0);
    arm(1);
  }

 protected:
  virtual void complete(BridgeResult res) = 0;
  asio::any_io_executor executor() { return dirs_[0].from->get_executor(); }

 private:
  struct Dir {
    Stream* from = nullptr;  // writes go to the other direction's `from`
    std::uint64_t count = 0;
    bool finished = false;
  };
  struct Idle {
    Idle(asio::any_io_executor ex, std::chrono::milliseconds l) : timer(std::move(ex)), limit(l) {}
    asio::steady_timer timer;
    std::chrono::milliseconds limit;
    clock_type::time_point last = clock_type::now();
    bool pending = false;  // a timer handler still refers to the relay
  };

  // The handler holds a plain pointer (it fits std::function's inline storage); the relay
  // lives until every direction has finished, which needs this handler to have run.
  void arm(int d) {
    dirs_[d].from->async_wait_readable([this, d](std::error_code ec) { on_ready(d, ec); });
  }

  void on_ready(int d, std::error_code ec) {
    if (!ec && closed_) ec = asio::error::operation_aborted;
    if (ec) return fail(d, ec);
    asio::co_spawn(executor(), burst(this, d), asio::detached);
  }

  static asio::awaitable<void> burst(ReadyRelay* self, int d) {
    Dir& x = self->dirs_[d];
    Stream& to = *self->dirs_[1 - d].from;
    {
      RelayBuffer buf;
      for (;;) {
        IoResult r = co_await x.from->read_some(asio::buffer(buf.data(), RelayBuffer::kSize));
        if (r.bytes > 0) {
          if (self->idle_) self->idle_->last = clock_type::now();
          std::error_code wec = co_await write_all(to, asio::buffer(buf.data(), r.bytes));
          if (wec) {
            self->fail(d, wec);
            co_return;
          }
          x.count += r.bytes;
        }
        if (r.ec) {
          if (r.ec == asio::error::eof && !self->closed_) {
            co_await to.shutdown_write();  // half-close: the other direction keeps going
            x.finished = true;
            self->maybe_done();
          } else {
            self->fail(d, r.ec);
          }
          co_return;
        }
        if (r.bytes < RelayBuffer::kSize) break;  // drained for now
      }
    }
    if (self->closed_) {
      self->fail(d, asio::error::operation_aborted);
      co_return;
    }
    self->arm(d);  // idle again: no buffer, no frame
  }

  // An error or a cancelled wait ends both directions.
  void fail(int d, std::error_code ec) {
    if (ec && !benign(ec) && !closed_ && !err_) err_ = ec;
    dirs_[d].finished = true;
    close_both();
    maybe_done();
  }

  void close_both() {
    if (closed_) return;
    closed_ = true;
    dirs_[0].from->close();
    dirs_[1].from->close();
    if (idle_) idle_->timer.cancel();
  }

  void arm_timer(clock_type::duration after) {
    idle_->pending = true;
    idle_->timer.expires_after(after);
    idle_->timer.async_wait([this](std::error_code ec) { on_timer(ec); });
  }
  void on_timer(std::error_code ec) {
    idle_->pending = false;
    if (completed_) {
      delete this;  // the last handler that knew the relay
      return;
    }
    if (ec || closed_) return;
    auto quiet = clock_type::now() - idle_->last;
    if (quiet >= idle_->limit) {
      close_both();  // both directions idle for the whole period: pending waits end aborted
      return;
    }
    arm_timer(idle_->limit - quiet);
  }

  void maybe_done() {
    if (completed_ || !dirs_[0].finished || !dirs_[1].finished) return;
    completed_ = true;
    close_both();  // bridge() closes both streams at the end (this also cancels the timer)
    BridgeResult res;
    res.a_to_b = dirs_[0].count;
    res.b_to_a = dirs_[1].count;
    res.ec = err_;
    complete(res);
    if (!idle_ || !idle_->pending) delete this;  // else on_timer() does, when it runs
  }

  std::unique_ptr<Idle> idle_;  // only with an idle limit
  Dir dirs_[2];
  std::error_code err_;
  bool closed_ = false;
  bool completed_ = false;
};

template <class Handler>
class ReadyRelayFor final : public ReadyRelay {
 public:
  ReadyRelayFor(Stream& a, Stream& b, Handler h) : ReadyRelay(a, b), handler_(std::move(h)) {}

 private:
  void complete(BridgeResult res) override {
    // Resume the awaiting coroutine from a fresh handler, not from inside this call chain.
    auto ex = asio::get_associated_executor(*handler_, executor());
    asio::post(ex, [h = std::move(*handler_), res]() mutable { std::move(h)(res); });
    handler_.reset();
  }
  std::optional<Handler> handler_;
};

struct InitReady {
  template <class Handler>
  void operator()(Handler&& h, Stream* a, Stream* b, std::chrono::milliseconds idle) const {
    auto* r = new ReadyRelayFor<std::decay_t<Handler>>(*a, *b, std::forward<Handler>(h));
    r->start(idle);
  }
};

asio::awaitable<BridgeResult> ready_bridge(Stream& a, Stream& b, std::chrono::milliseconds idle) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(BridgeResult)>(
      InitReady{}, asio::use_awaitable, &a, &b, idle);
}
}  // namespace

asio::awaitable<BridgeResult> bridge(Stream& a, Stream& b) {
  BridgeOptions opts;
  return bridge(a, b, opts);
}

namespace {
asio::awaitable<BridgeResult> copy_bridge(Stream& a, Stream& b, BridgeOptions opts) {
  using namespace asio::experimental::awaitable_operators;
  BridgeResult res;
  Shared sh;
  std::error_code e1, e2;
  if (opts.idle_timeout.count() > 0) {
    co_await (copy_stream(a, b, res.a_to_b, e1, sh) && copy_stream(b, a, res.b_to_a, e2, sh) &&
              idle_watch(a, b, sh, opts.idle_timeout));
  } else {
    co_await (copy_stream(a, b, res.a_to_b, e1, sh) && copy_stream(b, a, res.b_to_a, e2, sh));
  }
  res.ec = e1 ? e1 : e2;
  a.close();
  b.close();
  co_return res;
}
}  // namespace

namespace {
// Which relay serves a and b: splice(2) between two plain TCP sockets, the readiness relay when
// both streams can report readiness by callback, the coroutine copy loop otherwise.
enum class RelayKind { splice, ready, copy };
RelayKind relay_kind(Stream& a, Stream& b) {
  const bool bytes = !a.is_datagram() && !b.is_datagram();
  if (!bytes) return RelayKind::copy;
  if (a.tcp_socket() && b.tcp_socket()) return RelayKind::splice;
  if (a.has_ready_callback() && b.has_ready_callback()) return RelayKind::ready;
  return RelayKind::copy;
}
}  // namespace

void start_bridge(Stream& a, Stream& b, BridgeOptions opts, std::function<void(BridgeResult)> done) {
  switch (relay_kind(a, b)) {
    case RelayKind::splice:
      return InitSplice{}(std::move(done), a.tcp_socket(), b.tcp_socket(), opts);
    case RelayKind::ready:
      return InitReady{}(std::move(done), &a, &b, opts.idle_timeout);
    case RelayKind::copy:
      break;
  }
  asio::co_spawn(a.get_executor(), copy_bridge(a, b, opts),
                 [done = std::move(done)](std::exception_ptr, BridgeResult r) { done(r); });
}

// Not a coroutine: the TCP path hands the awaiting coroutine straight to the splice relay, so
// no frame of its own is kept for the life of the connection.
asio::awaitable<BridgeResult> bridge(Stream& a, Stream& b, BridgeOptions opts) {
  switch (relay_kind(a, b)) {
    case RelayKind::splice:
      return splice_bridge(*a.tcp_socket(), *b.tcp_socket(), opts);
    case RelayKind::ready:
      return ready_bridge(a, b, opts.idle_timeout);
    case RelayKind::copy:
      break;
  }
  return copy_bridge(a, b, opts);
}

}  // namespace gost
