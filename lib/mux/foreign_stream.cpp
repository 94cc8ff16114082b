#include "mux/foreign_stream.hpp"

#include "core/buffer_pool.hpp"

#include <algorithm>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <cstring>
#include <utility>
#include <vector>

namespace gost::mux {
namespace {

asio::awaitable<IoResult> do_read(std::shared_ptr<Stream> s, asio::mutable_buffer b) {
  co_return co_await s->read_some(b);
}
// The whole buffer in one hop (a mux stream takes at most one frame per write_some).
asio::awaitable<IoResult> do_write(std::shared_ptr<Stream> s, asio::const_buffer b, bool all) {
  if (!all) co_return co_await s->write_some(b);
  std::size_t n = 0;
  while (n < b.size()) {
    auto r = co_await s->write_some(b + n);
    n += r.bytes;
    if (r.ec) co_return IoResult{r.ec, n};
  }
  co_return IoResult{{}, n};
}

// What a read-ahead hop brings back: the bytes read on home (allocated there once data is
// ready, so an idle stream holds no buffer) or the error that ended the stream.
struct Fill {
  std::error_code ec;       // from wait_readable: nothing was read
  std::error_code read_ec;  // from read_some (eof...): returned by the next read
  std::vector<std::uint8_t> data;
};
constexpr std::size_t kReadAhead = 64 * 1024;

// Waits with no buffer, then reads into one of home's pooled buffers and brings back only the
// bytes read. A handshake's read waits a round trip for the reply: a burst of new connections
// would otherwise hold 64 KiB each meanwhile, and leave that peak in the heap afterwards.
using ReadAheadBuffer = core::Pooled<kReadAhead, 64>;
asio::awaitable<Fill> do_fill(std::shared_ptr<Stream> s, bool wait_first) {
  Fill f;
  if (auto ec = co_await s->wait_readable()) {
    (wait_first ? f.ec : f.read_ec) = ec;  // a read's error comes back as the read's
    co_return f;
  }
  ReadAheadBuffer buf;
  auto r = co_await s->read_some(asio::buffer(buf.data(), ReadAheadBuffer::kSize));
  f.data.assign(buf.data(), buf.data() + r.bytes);
  if (r.bytes == 0) f.read_ec = r.ec ? r.ec : make_error_code(asio::error::eof);
  co_return f;
}
asio::awaitable<std::error_code> do_shutdown(std::shared_ptr<Stream> s) {
  co_return co_await s->shutdown_write();
}
asio::awaitable<std::error_code> do_wait(std::shared_ptr<Stream> s) {
  co_return co_await s->wait_readable();
}

// Write-behind: write_some() copies the caller's bytes and returns while home writes them, so
// the caller reads its next chunk meanwhile. One write in flight; the next write (or
// shutdown_write) waits for it, so the order is kept, and its error is reported there.
// Touched on the caller's executor only (the completion is posted there).
struct WriteSlot {
  explicit WriteSlot(const asio::any_io_executor &ex)
      : wake(ex, asio::steady_timer::time_point::max()) {}
  bool busy = false;
  std::error_code err;  // sticky: the stream is broken once a write failed
  asio::steady_timer wake;
};
using WriteSlotPtr = std::shared_ptr<WriteSlot>;

asio::awaitable<IoResult> do_write_owned(std::shared_ptr<Stream> s, std::vector<std::uint8_t> d) {
  co_return co_await do_write(std::move(s), asio::buffer(d), true);
}

// co_spawn's completion on home for a write-behind: marks the slot free on the caller's
// executor. The slot (a timer of the caller's context) is only ever released there, or parked
// when that context is gone.
class WriteDone {
 public:
  WriteDone(WriteSlotPtr slot, asio::any_io_executor caller, detail::LifePtr life)
      : slot_(std::move(slot)), caller_(std::move(caller)), life_(std::move(life)) {}
  WriteDone(WriteDone &&o) noexcept
      : slot_(std::move(o.slot_)), caller_(std::move(o.caller_)), life_(std::move(o.life_)) {}
  WriteDone &operator=(WriteDone &&) = delete;
  ~WriteDone() {
    if (slot_ && life_ && !life_->alive) detail::park_object(std::move(slot_));
  }
  void operator()(std::exception_ptr, IoResult r) {
    auto f = [s = std::move(slot_), ec = r.ec] {
      s->busy = false;
      if (ec && !s->err) s->err = ec;
      s->wake.cancel();
    };
    if (!detail::post_if_alive(life_, caller_, std::move(f))) detail::park_object(std::move(f));
  }

 private:
  WriteSlotPtr slot_;
  asio::any_io_executor caller_;
  detail::LifePtr life_;
};

class ForeignStream final : public Stream {
 public:
  ForeignStream(StreamPtr inner, asio::any_io_executor caller)
      : inner_(std::move(inner)),
        home_(inner_->get_executor()),
        caller_(std::move(caller)),
        home_life_(detail::life_of(home_)),
        caller_life_(detail::life_of(caller_)),
        local_(inner_->local_address()),
        remote_(inner_->remote_address()),
        datagram_(inner_->is_datagram()) {}

  ~ForeignStream() override {
    // The inner stream's last reference (and its close()) belongs on home: a
    // pending operation holds its own reference, so whichever is last destroys
    // it there.
    auto f = [s = std::move(inner_), close = !closed_]() mutable {
      if (close) s->close();
      s.reset();
    };
    if (!detail::post_if_alive(home_life_, home_, std::move(f))) detail::park_object(std::move(f));
  }

  asio::any_io_executor get_executor() override { return caller_; }

  // Reads: every hop brings back up to 64 KiB (whatever the session holds for the stream), and
  // later reads are served from it without a hop. wait_readable() reads ahead as well, so a
  // relay's wait-then-read costs one hop, not two.
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    if (closed_) co_return IoResult{make_error_code(asio::error::operation_aborted), 0};
    if (direct_) {
      if (take_ready()) co_return take(b);
      co_return co_await inner_->read_some(b);
    }
    if (!take_ready() && !datagram_ && b.size() < kReadAhead) {
      auto f = co_await run_on(home_, home_life_, caller_, caller_life_, do_fill(inner_, false));
      keep(std::move(f));
    }
    if (rbuf_.size() > roff_ || read_ec_) co_return take(b);
    co_return co_await run_on(home_, home_life_, caller_, caller_life_, do_read(inner_, b));
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    if (closed_) co_return IoResult{make_error_code(asio::error::broken_pipe), 0};
    if (direct_) {
      if (wslot_->err) co_return IoResult{wslot_->err, 0};
      co_return co_await inner_->write_some(b);
    }
    if (datagram_)
      co_return co_await run_on(home_, home_life_, caller_, caller_life_,
                                do_write(inner_, b, false));
    if (auto ec = co_await drain()) co_return IoResult{ec, 0};
    if (b.size() == 0) co_return IoResult{};
    if (closed_) co_return IoResult{make_error_code(asio::error::broken_pipe), 0};
    std::vector<std::uint8_t> d(static_cast<const std::uint8_t *>(b.data()),
                                static_cast<const std::uint8_t *>(b.data()) + b.size());
    wslot_->busy = true;
    asio::co_spawn(home_, do_write_owned(inner_, std::move(d)),
                   WriteDone(wslot_, caller_, caller_life_));
    co_return IoResult{{}, b.size()};
  }
  asio::awaitable<std::error_code> shutdown_write() override {
    if (closed_) co_return make_error_code(asio::error::broken_pipe);
    if (direct_) co_return wslot_->err ? wslot_->err : co_await inner_->shutdown_write();
    if (auto ec = co_await drain()) co_return ec;
    co_return co_await run_on(home_, home_life_, caller_, caller_life_, do_shutdown(inner_));
  }
  asio::awaitable<std::error_code> wait_readable() override {
    if (closed_) co_return make_error_code(asio::error::operation_aborted);
    if (take_ready()) co_return std::error_code{};
    if (direct_) co_return co_await inner_->wait_readable();
    if (datagram_)
      co_return co_await run_on(home_, home_life_, caller_, caller_life_, do_wait(inner_));
    auto f = co_await run_on(home_, home_life_, caller_, caller_life_, do_fill(inner_, true));
    if (f.ec) co_return f.ec;
    if (f.read_ec == asio::error::operation_aborted) co_return f.read_ec;  // cancelled
    keep(std::move(f));
    co_return std::error_code{};
  }
  // Once moved home (direct), the inner stream's callback serves; read-ahead bytes first.
  bool has_ready_callback() noexcept override { return direct_ && inner_->has_ready_callback(); }
  void async_wait_readable(ReadyHandler h) override {
    if (!direct_) return Stream::async_wait_readable(std::move(h));
    if (closed_ || take_ready())
      return post_ready(caller_, std::move(h),
                        closed_ ? make_error_code(asio::error::operation_aborted) : std::error_code{});
    inner_->async_wait_readable(std::move(h));
  }
  void close() noexcept override {
    if (closed_) return;
    closed_ = true;
    if (direct_) {
      inner_->close();
      return;
    }
    detail::post_if_alive(home_life_, home_, [s = inner_] { s->close(); });
  }

  // Moving to home: once the write in flight (if any) has ended, operations run there directly,
  // with no hop. The read-ahead bytes stay and are served first.
  const asio::any_io_executor *io_home() const noexcept override { return direct_ ? nullptr : &home_; }
  bool movable() const noexcept override { return !closed_; }
  asio::awaitable<void> move_to(asio::any_io_executor ex) override {
    if (direct_ || !same_context(ex, home_)) co_return;
    const std::error_code err = co_await drain();  // reported by the next write
    // The slot's timer belongs to this (the caller's) context: it goes here, now, and one of
    // home's keeps the error, as the stream may now be destroyed on home, after this context.
    wslot_ = std::make_shared<WriteSlot>(home_);
    wslot_->err = err;
    caller_ = home_;
    caller_life_ = home_life_;
    direct_ = true;
  }
  Address local_address() const override { return local_; }
  Address remote_address() const override { return remote_; }
  bool is_datagram() const noexcept override { return datagram_; }

 private:
  std::shared_ptr<Stream> inner_;
  asio::any_io_executor home_;
  asio::any_io_executor caller_;
  detail::LifePtr home_life_, caller_life_;
  // Waits for the write in flight; its error (or an earlier one) is the result.
  asio::awaitable<std::error_code> drain() {
    auto slot = wslot_;  // the frame keeps it while waiting
    while (slot->busy) {
      slot->wake.expires_at(asio::steady_timer::time_point::max());
      co_await slot->wake.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      // Still busy: the wait itself was cancelled (the completion clears busy before waking).
      if (slot->busy) co_return make_error_code(asio::error::operation_aborted);
    }
    co_return slot->err;
  }

  // True when read-ahead bytes or a read error are waiting.
  bool take_ready() const noexcept { return rbuf_.size() > roff_ || read_ec_; }
  void keep(Fill f) {
    rbuf_ = std::move(f.data);
    roff_ = 0;
    read_ec_ = f.read_ec;
  }
  IoResult take(asio::mutable_buffer b) {
    if (rbuf_.size() > roff_) {
      const std::size_t n = std::min(b.size(), rbuf_.size() - roff_);
      std::memcpy(b.data(), rbuf_.data() + roff_, n);
      roff_ += n;
      if (roff_ == rbuf_.size()) {
        rbuf_ = {};  // drained: an idle stream holds no buffer
        roff_ = 0;
      }
      return IoResult{{}, n};
    }
    return IoResult{std::exchange(read_ec_, {}), 0};
  }

  Address local_, remote_;
  bool datagram_;
  bool closed_ = false;
  bool direct_ = false;  // moved to home: operations run on inner_ directly
  WriteSlotPtr wslot_ = std::make_shared<WriteSlot>(caller_);
  std::vector<std::uint8_t> rbuf_;
  std::size_t roff_ = 0;
  std::error_code read_ec_;
};

// Flips a context's Life to dead when the context's destruction begins (services are shut
// down before the handlers still queued are destroyed).
class LifeService final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;
  explicit LifeService(asio::execution_context &ctx)
      : asio::execution_context::service(ctx), life(std::make_shared<detail::Life>()) {}
  void shutdown() override {
    std::lock_guard<std::mutex> g(life->mu);
    life->alive = false;
  }
  detail::LifePtr life;
};
asio::execution_context::id LifeService::id;

}  // namespace

namespace detail {

LifePtr life_of(const asio::any_io_executor &ex) {
  return asio::use_service<LifeService>(asio::query(ex, asio::execution::context)).life;
}

void park(std::unique_ptr<Parked> p) {
  static std::mutex mu;
  // Never destroyed: reachable for the rest of the process.
  static auto *parked = new std::vector<std::unique_ptr<Parked>>;
  std::lock_guard<std::mutex> g(mu);
  parked->push_back(std::move(p));
}

}  // namespace detail

bool same_context(const asio::any_io_executor &a, const asio::any_io_executor &b) {
  return &asio::query(a, asio::execution::context) == &asio::query(b, asio::execution::context);
}

bool is_foreign_stream(const Stream &s) noexcept {
  return dynamic_cast<const ForeignStream *>(&s) != nullptr;
}

StreamPtr make_foreign_stream(StreamPtr inner, asio::any_io_executor caller) {
  if (same_context(inner->get_executor(), caller)) return inner;
  return std::make_unique<ForeignStream>(std::move(inner), std::move(caller));
}

}  // namespace gost::mux
