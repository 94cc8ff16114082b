// smux session: one reader, one writer (control frames first), keepalive, per-stream buffers.
//
// Flow control, as in xtaci/smux: a session-wide token bucket (maxReceiveBuffer) stops the
// reader while the streams hold that many unread bytes (v1 and v2); v2 adds per-stream windows:
// a reader announces what it consumed (UPD) and a writer keeps at most the peer's window in
// flight. Writes wait until their frame went out, so nothing queues without bound.
#include "gost/mux/session.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "core/buffer_pool.hpp"
#include "mux/codec.hpp"

namespace gost::mux {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
using core::VectorPool;

// Frame bytes (received payloads, frames to send) live in vectors parked per thread while
// unused, so steady traffic allocates nothing per frame.
std::vector<std::uint8_t> frame_vector() {
  std::vector<std::uint8_t> v;
  VectorPool::take(v);
  return v;
}
using Clock = asio::steady_timer::clock_type;

// A FIFO that keeps its storage: a std::deque frees and allocates a block each time its
// front and back cross a block boundary, which a queue that keeps emptying and refilling does
// every few dozen frames.
template <class T>
class Ring {
 public:
  bool empty() const noexcept { return n_ == 0; }
  std::size_t size() const noexcept { return n_; }
  T& front() noexcept { return buf_[head_]; }
  void push_back(T v) {
    if (n_ == buf_.size()) grow();
    buf_[(head_ + n_) & (buf_.size() - 1)] = std::move(v);
    ++n_;
  }
  void pop_front() {
    buf_[head_] = T{};  // drop what the slot holds now, not when it is reused
    head_ = (head_ + 1) & (buf_.size() - 1);
    --n_;
  }
  void clear() {
    while (n_ > 0) pop_front();
  }
  template <class F>
  void for_each(F f) {
    for (std::size_t i = 0; i < n_; ++i) f(buf_[(head_ + i) & (buf_.size() - 1)]);
  }

 private:
  void grow() {
    std::vector<T> b(buf_.empty() ? 4 : buf_.size() * 2);
    for (std::size_t i = 0; i < n_; ++i) b[i] = std::move(buf_[(head_ + i) & (buf_.size() - 1)]);
    buf_.swap(b);
    head_ = 0;
  }
  std::vector<T> buf_;  // size: a power of two
  std::size_t head_ = 0, n_ = 0;
};

// A wake-up for one waiter; a notify() with nobody waiting is kept for the next wait().
class Signal {
 public:
  explicit Signal(const asio::any_io_executor& ex) : timer_(ex, Clock::time_point::max()) {}
  void notify() {
    flag_ = true;
    timer_.cancel();
    if (cb_) {
      flag_ = false;
      auto f = std::move(cb_);
      cb_ = nullptr;
      asio::post(timer_.get_executor(), std::move(f));
    }
  }
  // The callback form of wait(): f is posted at the next notify(). An earlier notify() kept for
  // a wait is dropped (the caller has just looked at what it would have signalled).
  void on_notify(std::function<void()> f) {
    flag_ = false;
    cb_ = std::move(f);
  }
  // True when woken by notify(), false when the wait itself was cancelled.
  asio::awaitable<bool> wait() {
    if (!flag_) {
      timer_.expires_at(Clock::time_point::max());
      co_await timer_.async_wait(use_tuple);
    }
    const bool f = flag_;
    flag_ = false;
    co_return f;
  }

 private:
  asio::steady_timer timer_;
  bool flag_ = false;
  std::function<void()> cb_;
};

struct StreamState {
  StreamState(std::uint32_t sid, const asio::any_io_executor& ex)
      : id(sid), read_sig(ex), write_sig(ex) {}
  std::uint32_t id;
  Ring<std::vector<std::uint8_t>> chunks;
  std::size_t front_off = 0;
  std::size_t buffered = 0;
  bool fin_recv = false;
  bool fin_sent = false;
  bool closed = false;     // closed locally
  bool peer_gone = false;  // a second FIN: the peer closed the stream for good (see reader())
  Signal read_sig;
  Signal write_sig;
  // Completion of this stream's queued data frame.
  bool write_pending = false;
  // v2 flow control (uint32 arithmetic wraps like smux's).
  std::uint32_t num_read = 0;
  std::uint32_t incr = 0;
  std::uint32_t num_written = 0;
  std::uint32_t peer_consumed = 0;
  std::uint32_t peer_window = kInitialPeerWindow;
  // A pending async_wait_readable(): its handler, and this state kept alive for the callback,
  // which holds only a plain pointer.
  Stream::ReadyHandler ready_h;
  std::shared_ptr<StreamState> keep;
};
using StatePtr = std::shared_ptr<StreamState>;

struct DataReq {
  std::vector<std::uint8_t> bytes;
  StatePtr owner;  // notified when written; null for FIN
};

class SessionImpl;

class MuxStream final : public Stream {
 public:
  MuxStream(std::shared_ptr<SessionImpl> sess, StatePtr st)
      : sess_(std::move(sess)), st_(std::move(st)) {}
  ~MuxStream() override { close(); }
  asio::any_io_executor get_executor() override;
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override;
  asio::awaitable<std::error_code> shutdown_write() override;
  asio::awaitable<std::error_code> wait_readable() override;
  bool has_ready_callback() noexcept override { return true; }
  void async_wait_readable(ReadyHandler h) override;
  void close() noexcept override;
  Address local_address() const override;
  Address remote_address() const override;

 private:
  std::shared_ptr<SessionImpl> sess_;
  StatePtr st_;
};

class SessionImpl final : public Session, public std::enable_shared_from_this<SessionImpl> {
 public:
  SessionImpl(StreamPtr conn, Options opts, bool client)
      : conn_(std::move(conn)),
        ex_(conn_->get_executor()),
        opts_(opts),
        version_(static_cast<std::uint8_t>(opts.version)),
        next_id_(client ? 1u : 0u),
        bucket_(static_cast<std::int64_t>(opts.max_receive_buffer)),
        writer_sig_(ex_),
        bucket_sig_(ex_),
        accept_sig_(ex_),
        accept_drained_(ex_),
        ka_timer_(ex_) {}

  void start() {
    auto self = shared_from_this();
    asio::co_spawn(ex_, reader(self), asio::detached);
    asio::co_spawn(ex_, writer(self), asio::detached);
    if (!opts_.keepalive_disabled) asio::co_spawn(ex_, keepalive(self), asio::detached);
  }

  asio::awaitable<Result<StreamPtr>> open() override {
    if (closed_) co_return make_error_code(errc::closed);
    if (go_away_) co_return make_error_code(errc::unsupported);
    next_id_ += 2;
    const std::uint32_t sid = next_id_;
    if (sid == sid % 2) {  // ids exhausted
      go_away_ = true;
      co_return make_error_code(errc::unsupported);
    }
    auto st = std::make_shared<StreamState>(sid, ex_);
    streams_[sid] = st;
    std::vector<std::uint8_t> f;
    serialize_header(version_, Cmd::syn, 0, sid, f);
    push_ctrl(std::move(f));
    co_return StreamPtr(std::make_unique<MuxStream>(shared_from_this(), std::move(st)));
  }

  asio::awaitable<Result<StreamPtr>> accept() override {
    for (;;) {
      if (!accepts_.empty()) {
        auto st = std::move(accepts_.front());
        accepts_.pop_front();
        accept_drained_.notify();
        co_return StreamPtr(std::make_unique<MuxStream>(shared_from_this(), std::move(st)));
      }
      if (closed_) co_return make_error_code(errc::closed);
      if (!co_await accept_sig_.wait() && !closed_ && accepts_.empty())
        co_return make_error_code(asio::error::operation_aborted);
    }
  }

  void close() noexcept override { shutdown(make_error_code(errc::closed)); }
  bool is_closed() const noexcept override { return closed_; }
  std::size_t num_streams() const noexcept override { return closed_ ? 0 : streams_.size(); }
  asio::any_io_executor get_executor() override { return ex_; }
  Address local_address() const override { return conn_->local_address(); }
  Address remote_address() const override { return conn_->remote_address(); }

  // ---- used by MuxStream ----
  std::error_code error() const { return err_ ? err_ : make_error_code(errc::closed); }
  bool closed() const { return closed_; }
  const Options& opts() const { return opts_; }
  std::uint8_t version() const { return version_; }

  void push_ctrl(std::vector<std::uint8_t> f) {
    if (closed_) return;
    ctrl_.push_back(std::move(f));
    writer_sig_.notify();
  }
  void push_data(std::vector<std::uint8_t> f, StatePtr owner) {
    if (closed_) return;
    data_.push_back(DataReq{std::move(f), std::move(owner)});
    writer_sig_.notify();
  }
  void return_tokens(std::size_t n) {
    bucket_ += static_cast<std::int64_t>(n);
    if (bucket_ > 0) bucket_sig_.notify();
  }
  void stream_closed(const StatePtr& st) {
    auto it = streams_.find(st->id);
    if (it != streams_.end() && it->second == st) {
      streams_.erase(it);
      if (!st->fin_recv && !closed_) {  // the peer may still write
        // Bounded: a peer that opens streams and never finishes them must not grow this for
        // the session's life. The oldest (smallest id of that side) goes first; late data for
        // it then gets no second FIN.
        if (closed_open_.size() >= kMaxClosedOpen) closed_open_.erase(closed_open_.begin());
        closed_open_.insert(st->id);
      }
    }
    if (st->buffered > 0) {
      return_tokens(st->buffered);
      st->chunks.clear();
      st->buffered = 0;
    }
  }

 private:
  void shutdown(std::error_code ec) noexcept {
    if (closed_) return;
    closed_ = true;
    err_ = ec;
    conn_->close();
    ka_timer_.cancel();
    writer_sig_.notify();
    bucket_sig_.notify();
    accept_sig_.notify();
    accept_drained_.notify();
    for (auto& [id, st] : streams_) {
      st->read_sig.notify();
      st->write_sig.notify();
    }
    data_.for_each([](DataReq& r) {
      if (r.owner) r.owner->write_sig.notify();
    });
    data_.clear();
    ctrl_.clear();
    accepts_.clear();
  }

  static asio::awaitable<void> reader(std::shared_ptr<SessionImpl> self) {
    co_await self->read_loop();
  }
  static asio::awaitable<void> writer(std::shared_ptr<SessionImpl> self) {
    co_await self->write_loop();
  }
  static asio::awaitable<void> keepalive(std::shared_ptr<SessionImpl> self) {
    co_await self->keepalive_loop();
  }

  asio::awaitable<void> read_loop() {
    std::vector<std::uint8_t> buf(kHeaderSize + 65535 + 8 + 64 * 1024);
    std::size_t start = 0, end = 0;
    while (!closed_) {
      auto p = parse_frame_view(std::span<const std::uint8_t>(buf.data() + start, end - start),
                                version_);
      if (p.failed()) {
        shutdown(make_error_code(errc::bad_request));
        co_return;
      }
      if (p.need_more()) {
        if (start > 0) {
          std::memmove(buf.data(), buf.data() + start, end - start);
          end -= start;
          start = 0;
        }
        auto r = co_await conn_->read_some(asio::buffer(buf.data() + end, buf.size() - end));
        if (r.bytes == 0) {
          shutdown(r.ec ? r.ec : make_error_code(asio::error::eof));
          co_return;
        }
        end += r.bytes;
        continue;
      }
      data_ready_ = true;
      const FrameView f = p.value;  // its payload stays valid until the next read into buf
      switch (f.cmd) {
        case Cmd::nop:
          break;
        case Cmd::syn:
          if (!streams_.count(f.sid)) {
            while (accepts_.size() >= opts_.accept_backlog && !closed_)
              co_await accept_drained_.wait();
            if (closed_) co_return;
            auto st = std::make_shared<StreamState>(f.sid, ex_);
            streams_[f.sid] = st;
            accepts_.push_back(std::move(st));
            accept_sig_.notify();
          }
          break;
        case Cmd::fin:
          // smux has no reset: a FIN ends the peer's writes, and this side may go on writing
          // (half-close). When the peer then closes for good while data still comes, it sends
          // FIN again for the stream (below, for PSH to a stream closed here), and writes end:
          // a relay would otherwise pump a download into a stream nobody reads.
          if (auto it = streams_.find(f.sid); it != streams_.end()) {
            auto& st = *it->second;
            if (st.fin_recv) {
              st.peer_gone = true;
              st.write_sig.notify();
            }
            st.fin_recv = true;
            st.read_sig.notify();
          } else {
            closed_open_.erase(f.sid);  // the peer has finished too
          }
          break;
        case Cmd::psh:
          if (f.payload.empty()) break;
          while (bucket_ <= 0 && !closed_) co_await bucket_sig_.wait();
          if (closed_) co_return;
          if (auto it = streams_.find(f.sid); it != streams_.end() && !it->second->closed) {
            auto& st = *it->second;
            const std::size_t n = f.payload.size();
            auto chunk = frame_vector();
            chunk.assign(f.payload.begin(), f.payload.end());
            st.buffered += n;
            st.chunks.push_back(std::move(chunk));
            bucket_ -= static_cast<std::int64_t>(n);
            st.read_sig.notify();
          } else if (closed_open_.erase(f.sid) > 0) {
            std::vector<std::uint8_t> fin;  // gone: the second FIN (see Cmd::fin)
            serialize_header(version_, Cmd::fin, 0, f.sid, fin);
            push_ctrl(std::move(fin));
          }
          break;
        case Cmd::upd:
          if (auto it = streams_.find(f.sid); it != streams_.end()) {
            it->second->peer_consumed = f.consumed;
            it->second->peer_window = f.window;
            it->second->write_sig.notify();
          }
          break;
      }
      start += p.consumed;  // only now: f.payload points into buf until here
    }
  }

  asio::awaitable<void> write_loop() {
    std::vector<std::uint8_t> out;
    std::vector<StatePtr> done;
    while (!closed_) {
      if (ctrl_.empty() && data_.empty()) {
        co_await writer_sig_.wait();
        continue;
      }
      out.clear();
      done.clear();
      // Control frames first, then data frames, coalesced up to ~64 KiB per write.
      while (!ctrl_.empty() && out.size() < 64 * 1024) {
        out.insert(out.end(), ctrl_.front().begin(), ctrl_.front().end());
        VectorPool::give_back(ctrl_.front());
        ctrl_.pop_front();
      }
      while (!data_.empty() && out.size() < 64 * 1024) {
        auto& r = data_.front();
        out.insert(out.end(), r.bytes.begin(), r.bytes.end());
        VectorPool::give_back(r.bytes);
        if (r.owner) done.push_back(std::move(r.owner));
        data_.pop_front();
      }
      auto ec = co_await write_all(*conn_, asio::buffer(out));
      if (ec) {
        for (auto& st : done) st->write_sig.notify();
        shutdown(ec);
        co_return;
      }
      for (auto& st : done) {
        st->write_pending = false;
        st->write_sig.notify();
      }
    }
  }

  asio::awaitable<void> keepalive_loop() {
    auto next_ping = Clock::now() + opts_.keepalive_interval;
    auto next_check = Clock::now() + opts_.keepalive_timeout;
    while (!closed_) {
      ka_timer_.expires_at(std::min(next_ping, next_check));
      co_await ka_timer_.async_wait(use_tuple);
      if (closed_) co_return;
      const auto now = Clock::now();
      if (now >= next_ping) {
        std::vector<std::uint8_t> f;
        serialize_header(version_, Cmd::nop, 0, 0, f);
        push_ctrl(std::move(f));
        next_ping = now + opts_.keepalive_interval;
      }
      if (now >= next_check) {
        if (data_ready_) {
          data_ready_ = false;
        } else if (bucket_ > 0) {  // a reader stopped by the bucket is not a dead peer
          shutdown(make_error_code(errc::timeout));
          co_return;
        }
        next_check = now + opts_.keepalive_timeout;
      }
    }
  }

  StreamPtr conn_;
  asio::any_io_executor ex_;
  Options opts_;
  std::uint8_t version_;
  std::uint32_t next_id_;
  bool go_away_ = false;
  std::atomic<bool> closed_{false};
  std::error_code err_;
  bool data_ready_ = false;
  std::int64_t bucket_;
  std::map<std::uint32_t, StatePtr> streams_;
  // Streams closed here before the peer's FIN: data that still comes for one gets a second FIN.
  static constexpr std::size_t kMaxClosedOpen = 4096;
  std::set<std::uint32_t> closed_open_;
  std::deque<StatePtr> accepts_;
  Ring<std::vector<std::uint8_t>> ctrl_;
  Ring<DataReq> data_;
  Signal writer_sig_;
  Signal bucket_sig_;
  Signal accept_sig_;
  Signal accept_drained_;
  asio::steady_timer ka_timer_;
};

asio::any_io_executor MuxStream::get_executor() { return sess_->get_executor(); }
Address MuxStream::local_address() const { return sess_->local_address(); }
Address MuxStream::remote_address() const { return sess_->remote_address(); }

asio::awaitable<IoResult> MuxStream::read_some(asio::mutable_buffer buf) {
  auto& st = *st_;
  for (;;) {
    if (st.closed) co_return IoResult{make_error_code(asio::error::operation_aborted), 0};
    if (st.buffered > 0) {
      if (buf.size() == 0) co_return IoResult{};
      auto* out = static_cast<std::uint8_t*>(buf.data());
      std::size_t n = 0;
      while (n < buf.size() && !st.chunks.empty()) {
        auto& c = st.chunks.front();
        const std::size_t k = std::min(buf.size() - n, c.size() - st.front_off);
        std::memcpy(out + n, c.data() + st.front_off, k);
        n += k;
        st.front_off += k;
        if (st.front_off == c.size()) {
          VectorPool::give_back(c);
          st.chunks.pop_front();
          st.front_off = 0;
        }
      }
      st.buffered -= n;
      sess_->return_tokens(n);
      if (sess_->version() == 2 && !sess_->closed()) {
        st.num_read += static_cast<std::uint32_t>(n);
        st.incr += static_cast<std::uint32_t>(n);
        // Announce at the first read (the peer starts from a 256 KiB guess) and after every
        // half window, as smux does.
        if (st.incr >= static_cast<std::uint32_t>(sess_->opts().max_stream_buffer / 2) ||
            st.num_read == static_cast<std::uint32_t>(n)) {
          auto f = frame_vector();
          serialize_upd(2, st.id, st.num_read,
                        static_cast<std::uint32_t>(sess_->opts().max_stream_buffer), f);
          sess_->push_ctrl(std::move(f));
          st.incr = 0;
        }
      }
      co_return IoResult{{}, n};
    }
    if (st.fin_recv) co_return IoResult{make_error_code(asio::error::eof), 0};
    if (sess_->closed()) co_return IoResult{sess_->error(), 0};
    if (!co_await st.read_sig.wait() && st.buffered == 0 && !st.fin_recv && !sess_->closed())
      co_return IoResult{make_error_code(asio::error::operation_aborted), 0};
  }
}

asio::awaitable<IoResult> MuxStream::write_some(asio::const_buffer buf) {
  auto& st = *st_;
  if (buf.size() == 0) co_return IoResult{};
  for (;;) {
    if (st.closed || st.fin_sent || st.peer_gone)
      co_return IoResult{make_error_code(asio::error::broken_pipe), 0};
    if (sess_->closed()) co_return IoResult{sess_->error(), 0};
    std::size_t n = std::min(buf.size(), sess_->opts().max_frame_size);
    if (sess_->version() == 2) {
      const auto inflight = static_cast<std::int32_t>(st.num_written - st.peer_consumed);
      if (inflight < 0) co_return IoResult{make_error_code(errc::bad_request), 0};
      const std::int64_t win = static_cast<std::int64_t>(st.peer_window) - inflight;
      if (win <= 0) {
        if (!co_await st.write_sig.wait() && !sess_->closed() && !st.closed)
          co_return IoResult{make_error_code(asio::error::operation_aborted), 0};
        continue;
      }
      n = std::min<std::size_t>(n, static_cast<std::size_t>(win));
    }
    auto f = frame_vector();
    f.reserve(kHeaderSize + n);
    serialize_header(sess_->version(), Cmd::psh, static_cast<std::uint16_t>(n), st.id, f);
    f.insert(f.end(), static_cast<const std::uint8_t*>(buf.data()),
             static_cast<const std::uint8_t*>(buf.data()) + n);
    st.write_pending = true;
    sess_->push_data(std::move(f), st_);
    st.num_written += static_cast<std::uint32_t>(n);
    while (st.write_pending && !sess_->closed() && !st.closed) {
      if (!co_await st.write_sig.wait() && st.write_pending && !sess_->closed())
        co_return IoResult{make_error_code(asio::error::operation_aborted), 0};
    }
    if (st.write_pending)
      co_return IoResult{
          sess_->closed() ? sess_->error() : make_error_code(asio::error::broken_pipe), 0};
    co_return IoResult{{}, n};
  }
}

asio::awaitable<std::error_code> MuxStream::shutdown_write() {
  auto& st = *st_;
  if (st.fin_sent || st.closed) co_return std::error_code{};
  if (sess_->closed()) co_return sess_->error();
  st.fin_sent = true;
  std::vector<std::uint8_t> f;
  serialize_header(sess_->version(), Cmd::fin, 0, st.id, f);
  sess_->push_data(std::move(f), nullptr);  // in order after this stream's data
  co_return std::error_code{};
}

asio::awaitable<std::error_code> MuxStream::wait_readable() {
  auto& st = *st_;
  while (st.buffered == 0 && !st.fin_recv && !st.closed && !sess_->closed()) {
    if (!co_await st.read_sig.wait() && st.buffered == 0 && !st.fin_recv && !sess_->closed())
      co_return make_error_code(asio::error::operation_aborted);
  }
  co_return std::error_code{};
}

// Every read_sig.notify() means readable: data, the peer's FIN, this stream or the session
// closed. The handler gets an error only when this stream was closed.
void MuxStream::async_wait_readable(ReadyHandler h) {
  auto& st = *st_;
  if (st.buffered > 0 || st.fin_recv || st.closed || sess_->closed()) {
    return post_ready(get_executor(), std::move(h),
                      st.closed ? make_error_code(asio::error::operation_aborted) : std::error_code{});
  }
  st.ready_h = std::move(h);
  st.keep = st_;
  st.read_sig.on_notify([p = &st]() {
    auto self = std::move(p->keep);  // may be the last owner: nothing touches *p after h
    auto ready = std::move(p->ready_h);
    p->ready_h = nullptr;
    ready(p->closed ? make_error_code(asio::error::operation_aborted) : std::error_code{});
  });
}

void MuxStream::close() noexcept {
  auto& st = *st_;
  if (st.closed) return;
  st.closed = true;
  if (!st.fin_sent && !sess_->closed()) {
    st.fin_sent = true;
    std::vector<std::uint8_t> f;
    serialize_header(sess_->version(), Cmd::fin, 0, st.id, f);
    sess_->push_data(std::move(f), nullptr);
  }
  sess_->stream_closed(st_);
  st.read_sig.notify();
  st.write_sig.notify();
}

}  // namespace

std::error_code Options::verify() const {
  if (version != 1 && version != 2) return make_error_code(errc::unsupported);
  if (!keepalive_disabled) {
    if (keepalive_interval.count() <= 0) return make_error_code(errc::config_error);
    if (keepalive_timeout < keepalive_interval) return make_error_code(errc::config_error);
  }
  if (max_frame_size == 0 || max_frame_size > 65535) return make_error_code(errc::config_error);
  if (max_receive_buffer == 0 || max_receive_buffer > (std::size_t{1} << 31))
    return make_error_code(errc::config_error);
  if (max_stream_buffer == 0 || max_stream_buffer > (std::size_t{1} << 31))
    return make_error_code(errc::config_error);
  if (accept_backlog == 0) return make_error_code(errc::config_error);
  return {};
}

Result<Options, ConfigError> options_from(const Metadata& md) {
  Options o;
  auto num = [&](std::string_view key, auto& out) -> std::optional<ConfigError> {
    auto v = md.get(key);
    if (!v || v->empty()) return std::nullopt;
    const auto n = md.get_int(key, -1);
    if (n < 0) return config_error("mux: " + std::string(key) + "=" + *v + " is not a number");
    if (n > 0) out = static_cast<std::remove_reference_t<decltype(out)>>(n);
    return std::nullopt;
  };
  auto dur = [&](std::string_view key,
                 std::chrono::milliseconds& out) -> std::optional<ConfigError> {
    auto v = md.get(key);
    if (!v || v->empty()) return std::nullopt;
    auto d = parse_duration(*v);
    if (!d) return config_error("mux: " + std::string(key) + "=" + *v + " is not a duration");
    if (d->count() > 0) out = *d;
    return std::nullopt;
  };
  if (auto e = num("mux.version", o.version)) return *e;
  if (auto e = dur("mux.keepaliveInterval", o.keepalive_interval)) return *e;
  if (auto e = dur("mux.keepaliveTimeout", o.keepalive_timeout)) return *e;
  o.keepalive_disabled = md.get_bool("mux.keepaliveDisabled", false);
  if (auto e = num("mux.maxFrameSize", o.max_frame_size)) return *e;
  if (auto e = num("mux.maxReceiveBuffer", o.max_receive_buffer)) return *e;
  if (auto e = num("mux.maxStreamBuffer", o.max_stream_buffer)) return *e;
  if (o.version != 1 && o.version != 2)
    return config_error("mux: mux.version=" + std::to_string(o.version) + " (want 1 or 2)");
  if (o.max_frame_size > 65535)
    return config_error("mux: mux.maxFrameSize=" + std::to_string(o.max_frame_size) +
                        " exceeds 65535");
  if (!o.keepalive_disabled && o.keepalive_timeout < o.keepalive_interval)
    return config_error("mux: mux.keepaliveTimeout must not be shorter than mux.keepaliveInterval");
  if (o.verify()) return config_error("mux: invalid mux.* settings");
  return o;
}

SessionPtr Session::client(StreamPtr conn, Options opts) {
  auto s = std::make_shared<SessionImpl>(std::move(conn), opts, true);
  s->start();
  return s;
}

SessionPtr Session::server(StreamPtr conn, Options opts) {
  auto s = std::make_shared<SessionImpl>(std::move(conn), opts, false);
  s->start();
  return s;
}

}  // namespace gost::mux
