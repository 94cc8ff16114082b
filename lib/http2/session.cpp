// HTTP/2 session over a Stream, driven by nghttp2's memory API (mem_recv / mem_send).
//
// One reader coroutine feeds what the transport gives to nghttp2; one writer coroutine drains
// nghttp2's output into the transport whenever something was queued (kick()). nghttp2's
// callbacks only update per-stream state and wake waiters; they never suspend. Automatic
// WINDOW_UPDATEs are off: the window is given back by nghttp2_session_consume() when the
// application reads, which is what bounds every receive buffer.
#include "gost/http2/session.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>
#include <deque>
#include <map>

namespace gost::http2 {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<bool> was_cancelled() {
  auto cs = co_await asio::this_coro::cancellation_state;
  co_return cs.cancelled() != asio::cancellation_type::none;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A wake-up signal for coroutines on one executor: a timer that never expires by itself.
// notify() wakes every waiter; waiters re-check their condition.
class Signal {
 public:
  explicit Signal(const asio::any_io_executor& ex)
      : t_(ex, asio::steady_timer::time_point::max()) {}
  void notify() noexcept { t_.cancel(); }
  // False when the wait itself was cancelled (per-operation cancellation).
  asio::awaitable<bool> wait() {
    co_await t_.async_wait(use_tuple);
    co_return !(co_await was_cancelled());
  }

 private:
  asio::steady_timer t_;
};

struct StreamState {
  explicit StreamState(const asio::any_io_executor& ex) : rd(ex), wr(ex), hd(ex) {}
  std::int32_t id = -1;
  Headers req, resp, trailers_in, trailers_out;
  std::size_t header_bytes = 0;
  int status = 0;
  bool headers_done = false;  // final request (server) / response (client) headers complete
  bool responded = false;     // server: respond() called
  bool has_provider = false;  // a data provider is attached (request/response has a body)
  std::vector<std::uint8_t> in;
  std::size_t in_off = 0;
  bool in_eof = false;
  std::vector<std::uint8_t> out;
  std::size_t out_off = 0;
  bool out_eof = false;   // shutdown_write() called
  bool out_done = false;  // END_STREAM (or trailers) handed to nghttp2
  bool deferred = false;  // the provider returned DEFERRED: resume_data() needed
  bool end_sent = false;  // our END_STREAM went out
  bool closed = false;    // nghttp2 closed the stream
  std::uint32_t close_code = 0;
  bool detached = false;  // the Exchange handle is gone
  Signal rd, wr, hd;

  std::size_t in_size() const noexcept { return in.size() - in_off; }
  std::size_t out_size() const noexcept { return out.size() - out_off; }
};
using StatePtr = std::shared_ptr<StreamState>;

class SessionImpl;

class ExchangeImpl final : public Exchange {
 public:
  ExchangeImpl(std::shared_ptr<SessionImpl> s, StatePtr st)
      : s_(std::move(s)), st_(std::move(st)) {}
  ~ExchangeImpl() override { close(); }

  asio::any_io_executor get_executor() override;
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override;
  asio::awaitable<std::error_code> shutdown_write() override;
  asio::awaitable<std::error_code> wait_readable() override;
  void close() noexcept override;
  Address local_address() const override;
  Address remote_address() const override;

  std::int32_t id() const noexcept override { return st_->id; }
  const Headers& request_headers() const noexcept override { return st_->req; }
  const Headers& response_headers() const noexcept override { return st_->resp; }
  int status() const noexcept override { return st_->status; }
  const Headers& trailers() const noexcept override { return st_->trailers_in; }
  std::error_code respond(int status, Headers headers, bool end_stream) override;
  void set_trailers(Headers trailers) override { st_->trailers_out = std::move(trailers); }
  void reset(std::uint32_t error_code) noexcept override;
  asio::awaitable<std::error_code> wait_response() override;

 private:
  std::shared_ptr<SessionImpl> s_;
  StatePtr st_;
  bool closed_ = false;
};

class SessionImpl final : public Session, public std::enable_shared_from_this<SessionImpl> {
 public:
  SessionImpl(StreamPtr conn, Options opts, bool server)
      : conn_(std::move(conn)),
        ex_(conn_->get_executor()),
        opts_(opts),
        server_(server),
        write_sig_(ex_),
        accept_sig_(ex_) {}
  ~SessionImpl() override {
    if (ng_) nghttp2_session_del(ng_);
  }

  std::error_code init();
  std::error_code upgrade(const std::string& settings, Headers request);
  void start();

  asio::awaitable<Result<ExchangePtr>> request(Headers headers, bool end_stream) override;
  Result<ExchangePtr> open(Headers headers, bool end_stream) override;
  asio::awaitable<Result<ExchangePtr>> accept() override;
  void close() noexcept override { fail(make_error_code(errc::closed)); }
  void shutdown() noexcept override {
    if (closed_) return;
    goaway_ = true;
    nghttp2_session_terminate_session(ng_, NGHTTP2_NO_ERROR);
    kick();
  }
  bool is_closed() const noexcept override { return closed_; }
  bool can_open() const noexcept override { return !closed_ && !goaway_; }
  std::size_t num_streams() const noexcept override { return streams_.size(); }
  std::error_code error() const noexcept override { return error_; }
  asio::any_io_executor get_executor() override { return ex_; }
  Address local_address() const override { return conn_->local_address(); }
  Address remote_address() const override { return conn_->remote_address(); }

  // Used by ExchangeImpl.
  void kick() noexcept { write_sig_.notify(); }
  nghttp2_session* ng() noexcept { return ng_; }
  const Options& opts() const noexcept { return opts_; }
  bool server() const noexcept { return server_; }
  void consumed(StreamState& st, std::size_t n) noexcept;
  void detach(StreamState& st) noexcept;
  std::error_code submit_response(StreamState& st, int status, Headers headers, bool end_stream);
  void resume(StreamState& st) noexcept;

 private:
  static asio::awaitable<void> read_loop(std::shared_ptr<SessionImpl> self);
  static asio::awaitable<void> write_loop(std::shared_ptr<SessionImpl> self);
  static asio::awaitable<void> keepalive_loop(std::weak_ptr<SessionImpl> weak,
                                              asio::any_io_executor ex,
                                              std::chrono::milliseconds interval,
                                              std::chrono::milliseconds timeout);
  void fail(std::error_code ec) noexcept;
  void maybe_idle_close() noexcept;

  // nghttp2 callbacks.
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                       void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                           size_t len, void* user);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static ssize_t read_data(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                           uint32_t* data_flags, nghttp2_data_source* source, void* user);

  StreamState* state(std::int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  StreamPtr conn_;
  asio::any_io_executor ex_;
  Options opts_;
  bool server_;
  nghttp2_session* ng_ = nullptr;
  std::map<std::int32_t, StatePtr> streams_;
  std::deque<StatePtr> accept_q_;
  Signal write_sig_, accept_sig_;
  bool closed_ = false;
  bool had_stream_ = false;
  bool goaway_ = false;
  std::chrono::steady_clock::time_point last_recv_ = std::chrono::steady_clock::now();
  std::error_code error_;
};

std::vector<nghttp2_nv> make_nv(const Headers& h) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(h.size());
  for (const auto& x : h) {
    nghttp2_nv n{};
    n.name = reinterpret_cast<uint8_t*>(const_cast<char*>(x.name.data()));
    n.namelen = x.name.size();
    n.value = reinterpret_cast<uint8_t*>(const_cast<char*>(x.value.data()));
    n.valuelen = x.value.size();
    n.flags = NGHTTP2_NV_FLAG_NONE;
    nv.push_back(n);
  }
  return nv;
}

std::error_code ng_error(int rv) {
  if (rv == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) return make_error_code(errc::unsupported);
  if (rv == NGHTTP2_ERR_INVALID_ARGUMENT) return make_error_code(errc::bad_request);
  return make_error_code(errc::closed);
}

// --- SessionImpl ---------------------------------------------------------------------------

std::error_code SessionImpl::init() {
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0)
    return make_error_code(std::errc::not_enough_memory);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    return make_error_code(std::errc::not_enough_memory);
  }
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  int rv = server_ ? nghttp2_session_server_new2(&ng_, cbs, this, opt)
                   : nghttp2_session_client_new2(&ng_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return make_error_code(std::errc::not_enough_memory);

  nghttp2_settings_entry iv[4];
  std::size_t n = 0;
  iv[n++] = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opts_.max_concurrent_streams};
  iv[n++] = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, opts_.stream_window};
  iv[n++] = {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
             static_cast<uint32_t>(std::min<std::size_t>(opts_.max_header_bytes, 1u << 30))};
  if (!server_) iv[n++] = {NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
  rv = nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv, n);
  if (rv != 0) return ng_error(rv);
  if (opts_.connection_window > 65535) {
    rv = nghttp2_session_set_local_window_size(
        ng_, NGHTTP2_FLAG_NONE, 0,
        static_cast<int32_t>(std::min<std::uint32_t>(opts_.connection_window, 0x7fffffff)));
    if (rv != 0) return ng_error(rv);
  }
  return {};
}

std::error_code SessionImpl::upgrade(const std::string& settings, Headers request) {
  const std::string* m = find_header(request, ":method");
  int rv = nghttp2_session_upgrade2(ng_, reinterpret_cast<const uint8_t*>(settings.data()),
                                    settings.size(), m && *m == "HEAD" ? 1 : 0, nullptr);
  if (rv != 0) return make_error_code(errc::bad_request);
  auto st = std::make_shared<StreamState>(ex_);
  st->id = 1;
  st->req = std::move(request);
  st->headers_done = true;
  st->in_eof = true;
  streams_[1] = st;
  had_stream_ = true;
  accept_q_.push_back(std::move(st));
  return {};
}

void SessionImpl::start() {
  auto self = shared_from_this();
  asio::co_spawn(ex_, read_loop(self), asio::detached);
  asio::co_spawn(ex_, write_loop(self), asio::detached);
  if (opts_.keepalive_interval.count() > 0)
    asio::co_spawn(ex_,
                   keepalive_loop(self, ex_, opts_.keepalive_interval, opts_.keepalive_timeout),
                   asio::detached);
}

// Holds the session weakly so an idle session with no users can still go away.
asio::awaitable<void> SessionImpl::keepalive_loop(std::weak_ptr<SessionImpl> weak,
                                                  asio::any_io_executor ex,
                                                  std::chrono::milliseconds interval,
                                                  std::chrono::milliseconds timeout) {
  asio::steady_timer t(ex);
  bool pinged = false;
  auto ping_at = std::chrono::steady_clock::now();
  auto next = std::chrono::steady_clock::now() + interval;
  for (;;) {
    t.expires_at(next);
    co_await t.async_wait(use_tuple);
    auto self = weak.lock();
    if (!self || self->closed_) co_return;
    const auto now = std::chrono::steady_clock::now();
    if (pinged) {
      if (self->last_recv_ <= ping_at) {
        // Nothing at all (not even the PING ACK) since the PING.
        self->fail(make_error_code(errc::timeout));
        co_return;
      }
      pinged = false;
    }
    if (now - self->last_recv_ >= interval) {
      nghttp2_submit_ping(self->ng_, NGHTTP2_FLAG_NONE, nullptr);
      self->kick();
      pinged = true;
      ping_at = now;
      next = now + timeout;
    } else {
      next = self->last_recv_ + interval;
    }
  }
}

void SessionImpl::fail(std::error_code ec) noexcept {
  if (closed_) return;
  closed_ = true;
  error_ = ec;
  conn_->close();
  for (auto& [id, st] : streams_) {
    st->closed = true;
    if (st->close_code == 0) st->close_code = NGHTTP2_CANCEL;
    st->rd.notify();
    st->wr.notify();
    st->hd.notify();
  }
  // The states stay alive through their Exchange handles; nghttp2 is not used any more.
  streams_.clear();
  for (auto& st : accept_q_) st->hd.notify();
  accept_q_.clear();
  accept_sig_.notify();
  write_sig_.notify();
}

void SessionImpl::maybe_idle_close() noexcept {
  if (opts_.close_when_idle && had_stream_ && streams_.empty() && !closed_) shutdown();
}

asio::awaitable<void> SessionImpl::read_loop(std::shared_ptr<SessionImpl> self) {
  std::vector<std::uint8_t> buf(16 * 1024);
  while (!self->closed_) {
    auto [ec, n] = co_await self->conn_->read_some(asio::buffer(buf));
    if (self->closed_) break;
    if (ec) {
      self->fail(ec);
      break;
    }
    self->last_recv_ = std::chrono::steady_clock::now();
    auto rv = nghttp2_session_mem_recv(self->ng_, buf.data(), n);
    if (rv < 0) {
      // nghttp2 has queued a GOAWAY for protocol errors; give the writer a chance to send it,
      // then the writer closes (want_read/want_write are both false now).
      nghttp2_session_terminate_session(self->ng_, NGHTTP2_PROTOCOL_ERROR);
      self->error_ = make_error_code(errc::bad_request);
      self->kick();
      break;
    }
    self->kick();
    if (!nghttp2_session_want_read(self->ng_) && !nghttp2_session_want_write(self->ng_)) {
      self->fail(make_error_code(errc::closed));
      break;
    }
  }
}

asio::awaitable<void> SessionImpl::write_loop(std::shared_ptr<SessionImpl> self) {
  std::vector<std::uint8_t> batch;
  batch.reserve(64 * 1024);
  while (!self->closed_) {
    batch.clear();
    while (batch.size() < 64 * 1024) {
      const uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(self->ng_, &data);
      if (n < 0) {
        self->fail(make_error_code(errc::bad_request));
        co_return;
      }
      if (n == 0) break;
      batch.insert(batch.end(), data, data + n);
    }
    if (self->closed_) break;
    if (!batch.empty()) {
      auto ec = co_await write_all(*self->conn_, asio::buffer(batch));
      if (ec) {
        self->fail(ec);
        break;
      }
      continue;
    }
    if (!nghttp2_session_want_read(self->ng_) && !nghttp2_session_want_write(self->ng_)) {
      // GOAWAY sent and nothing left to do (or a fatal protocol error): close cleanly.
      if (!self->error_) self->error_ = make_error_code(errc::closed);
      self->fail(self->error_);
      break;
    }
    co_await self->write_sig_.wait();
  }
}

Result<ExchangePtr> SessionImpl::open(Headers headers, bool end_stream) {
  if (server_) return errc::unsupported;
  if (closed_ || goaway_) return errc::closed;
  auto st = std::make_shared<StreamState>(ex_);
  st->req = std::move(headers);
  auto nv = make_nv(st->req);
  nghttp2_data_provider prd{};
  prd.source.ptr = st.get();
  prd.read_callback = read_data;
  if (end_stream) {
    st->out_eof = st->out_done = true;
  } else {
    st->has_provider = true;
  }
  int32_t id = nghttp2_submit_request(ng_, nullptr, nv.data(), nv.size(),
                                      end_stream ? nullptr : &prd, st.get());
  if (id < 0) return ng_error(id);
  st->id = id;
  streams_[id] = st;
  had_stream_ = true;
  kick();
  return ExchangePtr(std::make_unique<ExchangeImpl>(shared_from_this(), st));
}

asio::awaitable<Result<ExchangePtr>> SessionImpl::request(Headers headers, bool end_stream) {
  auto r = open(std::move(headers), end_stream);
  if (!r) co_return r.error();
  auto ex = std::move(*r);
  if (auto ec = co_await ex->wait_response()) co_return ec;
  co_return std::move(ex);
}

asio::awaitable<Result<ExchangePtr>> SessionImpl::accept() {
  if (!server_) co_return errc::unsupported;
  auto self = shared_from_this();
  for (;;) {
    if (!accept_q_.empty()) {
      auto st = std::move(accept_q_.front());
      accept_q_.pop_front();
      co_return ExchangePtr(std::make_unique<ExchangeImpl>(self, std::move(st)));
    }
    if (closed_) co_return errc::closed;
    if (!co_await accept_sig_.wait()) co_return make_error_code(asio::error::operation_aborted);
  }
}

void SessionImpl::consumed(StreamState& st, std::size_t n) noexcept {
  if (closed_ || n == 0) return;
  if (!st.closed && st.id > 0) {
    nghttp2_session_consume(ng_, st.id, n);
  } else {
    nghttp2_session_consume_connection(ng_, n);
  }
  kick();
}

void SessionImpl::resume(StreamState& st) noexcept {
  if (closed_ || st.closed || !st.deferred) return;
  st.deferred = false;
  nghttp2_session_resume_data(ng_, st.id);
  kick();
}

void SessionImpl::detach(StreamState& st) noexcept {
  st.detached = true;
  // Give back the window of what nobody will read.
  auto left = st.in_size();
  st.in.clear();
  st.in_off = 0;
  consumed(st, left);
  if (closed_ || st.closed) return;
  // Like closing a TCP socket: what we still have queued drains and our side ends with
  // END_STREAM. If the peer has not finished sending, it is then told to stop: RST_STREAM
  // NO_ERROR right after our END_STREAM when we had ended our side (a complete response), or
  // CANCEL at once when we had not.
  if (!st.out_eof) {
    if (!st.in_eof) {
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_CANCEL);
      kick();
      return;
    }
    st.out_eof = true;
    if (server_ && !st.responded) {
      submit_response(st, 200, {}, true);
      return;
    }
    if (st.has_provider && st.deferred) {
      st.deferred = false;
      nghttp2_session_resume_data(ng_, st.id);
    }
    kick();
    return;
  }
  if (!st.in_eof && st.end_sent) {
    nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_NO_ERROR);
    kick();
  }
}

std::error_code SessionImpl::submit_response(StreamState& st, int status, Headers headers,
                                             bool end_stream) {
  if (!server_) return make_error_code(errc::unsupported);
  if (st.responded) return make_error_code(errc::bad_request);
  if (closed_ || st.closed) return make_error_code(errc::closed);
  if (status < 100 || status > 999) return make_error_code(errc::bad_request);
  st.responded = true;
  st.status = status;
  st.resp.clear();
  st.resp.push_back({":status", std::to_string(status)});
  for (auto& h : headers) st.resp.push_back(std::move(h));
  auto nv = make_nv(st.resp);
  nghttp2_data_provider prd{};
  prd.source.ptr = &st;
  prd.read_callback = read_data;
  if (end_stream) {
    st.out_eof = st.out_done = true;
  } else {
    st.has_provider = true;
  }
  int rv = nghttp2_submit_response(ng_, st.id, nv.data(), nv.size(), end_stream ? nullptr : &prd);
  if (rv != 0) return ng_error(rv);
  kick();
  return {};
}

int SessionImpl::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<SessionImpl*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || !self->server_) return 0;
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto st = std::make_shared<StreamState>(self->ex_);
  st->id = frame->hd.stream_id;
  self->streams_[st->id] = st;
  self->had_stream_ = true;
  return 0;
}

int SessionImpl::on_header(nghttp2_session* ng, const nghttp2_frame* frame, const uint8_t* name,
                           size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                           void* user) {
  auto* self = static_cast<SessionImpl*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto* st = self->state(frame->hd.stream_id);
  if (!st) return 0;
  st->header_bytes += namelen + valuelen + 32;
  if (st->header_bytes > self->opts_.max_header_bytes) {
    nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  Header h{std::string(reinterpret_cast<const char*>(name), namelen),
           std::string(reinterpret_cast<const char*>(value), valuelen)};
  if (st->headers_done) {
    st->trailers_in.push_back(std::move(h));
  } else if (self->server_) {
    st->req.push_back(std::move(h));
  } else {
    if (h.name == ":status") {
      int s = 0;
      for (char c : h.value) s = (c >= '0' && c <= '9') ? s * 10 + (c - '0') : s;
      st->status = s;
    }
    st->resp.push_back(std::move(h));
  }
  return 0;
}

int SessionImpl::on_frame_recv(nghttp2_session* ng, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<SessionImpl*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) self->goaway_ = true;
  auto* st = frame->hd.stream_id ? self->state(frame->hd.stream_id) : nullptr;
  if (!st) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS) {
    if (!st->headers_done) {
      if (!self->server_ && st->status >= 100 && st->status < 200) {
        // An interim response: wait for the final one.
        st->resp.clear();
        st->status = 0;
        st->header_bytes = 0;
      } else {
        st->headers_done = true;
        st->header_bytes = 0;
        if (self->server_) {
          if (self->accept_q_.size() >= self->opts_.accept_backlog) {
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
          } else {
            self->accept_q_.push_back(self->streams_[st->id]);
            self->accept_sig_.notify();
          }
        }
        st->hd.notify();
      }
    }
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    st->in_eof = true;
    st->rd.notify();
  }
  return 0;
}

int SessionImpl::on_data_chunk(nghttp2_session* ng, uint8_t, int32_t stream_id, const uint8_t* data,
                               size_t len, void* user) {
  auto* self = static_cast<SessionImpl*>(user);
  auto* st = self->state(stream_id);
  if (!st || st->detached) {
    nghttp2_session_consume(ng, stream_id, len);
    return 0;
  }
  if (st->in_off > 0 && st->in_off >= st->in.size() / 2) {
    st->in.erase(st->in.begin(), st->in.begin() + static_cast<std::ptrdiff_t>(st->in_off));
    st->in_off = 0;
  }
  st->in.insert(st->in.end(), data, data + len);
  st->rd.notify();
  return 0;
}

int SessionImpl::on_frame_send(nghttp2_session* ng, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<SessionImpl*>(user);
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  auto* st = self->state(frame->hd.stream_id);
  if (!st) return 0;
  st->end_sent = true;
  if (st->detached && !st->in_eof)
    nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
  return 0;
}

int SessionImpl::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                                 void* user) {
  auto* self = static_cast<SessionImpl*>(user);
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) return 0;
  auto st = it->second;
  self->streams_.erase(it);
  st->closed = true;
  st->close_code = error_code;
  st->rd.notify();
  st->wr.notify();
  st->hd.notify();
  self->maybe_idle_close();
  return 0;
}

ssize_t SessionImpl::read_data(nghttp2_session* ng, int32_t stream_id, uint8_t* buf, size_t length,
                               uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* st = static_cast<StreamState*>(source->ptr);
  std::size_t n = std::min(length, st->out_size());
  if (n > 0) {
    std::memcpy(buf, st->out.data() + st->out_off, n);
    st->out_off += n;
    if (st->out_off == st->out.size()) {
      st->out.clear();
      st->out_off = 0;
    }
    st->wr.notify();
  }
  if (st->out_size() == 0 && st->out_eof) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    st->out_done = true;
    if (!st->trailers_out.empty()) {
      auto nv = make_nv(st->trailers_out);
      if (nghttp2_submit_trailer(ng, stream_id, nv.data(), nv.size()) == 0)
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    st->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

// --- ExchangeImpl --------------------------------------------------------------------------

asio::any_io_executor ExchangeImpl::get_executor() { return s_->get_executor(); }
Address ExchangeImpl::local_address() const { return s_->local_address(); }
Address ExchangeImpl::remote_address() const { return s_->remote_address(); }

asio::awaitable<IoResult> ExchangeImpl::read_some(asio::mutable_buffer buf) {
  auto self_s = s_;
  auto st = st_;
  for (;;) {
    if (closed_) co_return IoResult{make_error_code(errc::closed), 0};
    if (st->in_size() > 0) {
      std::size_t n = std::min(buf.size(), st->in_size());
      std::memcpy(buf.data(), st->in.data() + st->in_off, n);
      st->in_off += n;
      if (st->in_off == st->in.size()) {
        st->in.clear();
        st->in_off = 0;
      }
      self_s->consumed(*st, n);
      co_return IoResult{{}, n};
    }
    if (buf.size() == 0) co_return IoResult{};
    if (st->in_eof) co_return IoResult{asio::error::eof, 0};
    if (st->closed || self_s->is_closed())
      co_return IoResult{make_error_code(asio::error::connection_reset), 0};
    if (!co_await st->rd.wait()) co_return IoResult{asio::error::operation_aborted, 0};
  }
}

asio::awaitable<std::error_code> ExchangeImpl::wait_readable() {
  auto self_s = s_;
  auto st = st_;
  for (;;) {
    if (closed_) co_return make_error_code(errc::closed);
    if (st->in_size() > 0 || st->in_eof || st->closed || self_s->is_closed())
      co_return std::error_code{};
    if (!co_await st->rd.wait()) co_return make_error_code(asio::error::operation_aborted);
  }
}

asio::awaitable<IoResult> ExchangeImpl::write_some(asio::const_buffer buf) {
  auto self_s = s_;
  auto st = st_;
  const std::size_t cap = std::max<std::size_t>(self_s->opts().write_buffer, 1);
  for (;;) {
    if (closed_) co_return IoResult{make_error_code(errc::closed), 0};
    if (st->out_eof || st->closed || self_s->is_closed() ||
        (self_s->server() && st->responded && !st->has_provider))
      co_return IoResult{make_error_code(asio::error::broken_pipe), 0};
    if (buf.size() == 0) co_return IoResult{};
    if (st->out_size() < cap) break;
    if (!co_await st->wr.wait()) co_return IoResult{asio::error::operation_aborted, 0};
  }
  std::size_t n = std::min(buf.size(), cap - st->out_size());
  auto p = static_cast<const std::uint8_t*>(buf.data());
  st->out.insert(st->out.end(), p, p + n);
  self_s->resume(*st);
  co_return IoResult{{}, n};
}

asio::awaitable<std::error_code> ExchangeImpl::shutdown_write() {
  if (closed_) co_return make_error_code(errc::closed);
  if (st_->out_eof) co_return std::error_code{};
  if (st_->closed || s_->is_closed()) co_return make_error_code(asio::error::broken_pipe);
  st_->out_eof = true;
  if (s_->server() && !st_->responded) {
    // Nothing answered yet: an empty 200 is the only sensible end.
    co_return s_->submit_response(*st_, 200, {}, true);
  }
  s_->resume(*st_);
  co_return std::error_code{};
}

std::error_code ExchangeImpl::respond(int status, Headers headers, bool end_stream) {
  if (closed_) return make_error_code(errc::closed);
  return s_->submit_response(*st_, status, std::move(headers), end_stream);
}

asio::awaitable<std::error_code> ExchangeImpl::wait_response() {
  auto self_s = s_;
  auto st = st_;
  while (!st->headers_done) {
    if (closed_) co_return make_error_code(errc::closed);
    if (st->closed || self_s->is_closed()) co_return make_error_code(asio::error::connection_reset);
    if (!co_await st->hd.wait()) co_return make_error_code(asio::error::operation_aborted);
  }
  co_return std::error_code{};
}

void ExchangeImpl::reset(std::uint32_t error_code) noexcept {
  if (closed_ || st_->closed || s_->is_closed()) return;
  nghttp2_submit_rst_stream(s_->ng(), NGHTTP2_FLAG_NONE, st_->id, error_code);
  st_->in_eof = true;
  st_->out_eof = st_->out_done = true;
  s_->kick();
}

void ExchangeImpl::close() noexcept {
  if (closed_) return;
  closed_ = true;
  s_->detach(*st_);
  st_->rd.notify();
  st_->wr.notify();
  st_->hd.notify();
}

Result<SessionPtr> make_session(StreamPtr conn, Options opts, bool server,
                                const std::string* settings = nullptr, Headers request = {}) {
  if (!conn) return errc::closed;
  auto s = std::make_shared<SessionImpl>(std::move(conn), opts, server);
  if (auto ec = s->init()) {
    s->close();
    return ec;
  }
  if (settings) {
    if (auto ec = s->upgrade(*settings, std::move(request))) {
      s->close();
      return ec;
    }
  }
  s->start();
  return SessionPtr(std::move(s));
}

}  // namespace

const std::string* find_header(const Headers& h, std::string_view name) noexcept {
  for (const auto& x : h)
    if (iequals(x.name, name)) return &x.value;
  return nullptr;
}

Result<SessionPtr> Session::client(StreamPtr conn, Options opts) {
  return make_session(std::move(conn), opts, false);
}

Result<SessionPtr> Session::server(StreamPtr conn, Options opts) {
  return make_session(std::move(conn), opts, true);
}

Result<SessionPtr> Session::server_upgrade(StreamPtr conn, Options opts, std::string settings,
                                           Headers request) {
  return make_session(std::move(conn), opts, true, &settings, std::move(request));
}

}  // namespace gost::http2
