// TLS over any Stream. The library reads ciphertext through a BIO of ours that serves it from
// a pooled buffer we fill from the inner stream, and writes ciphertext through one that appends
// it to a pooled buffer we drain to the inner stream. Neither buffer is held while empty.
#include "tls/stream.hpp"

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <climits>
#include <cerrno>
#include <sys/socket.h>
#include <cstring>

#include "gost/core/timeout.hpp"
#include "tls/ssl.hpp"

namespace gost::tls {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
// Plaintext handed to one SSL_write: one full record, whose ciphertext fits an empty output
// buffer, so a write never has to stop half-way for the buffer to drain.
constexpr std::size_t kMaxWrite = 16 * 1024;

bool is_ip_literal(const std::string& h) {
  if (h.find(':') != std::string::npos) return true;
  return !h.empty() && h.find_first_not_of("0123456789.") == std::string::npos;
}

std::string strip_brackets(std::string h) {
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') return h.substr(1, h.size() - 2);
  return h;
}

// The BIO method: reads and writes go to the TlsStream set as the BIO's data. FLUSH succeeds
// (the stream sends what was written after every library call); nothing else is supported.
int bio_read_cb(BIO* b, char* out, int len) {
  return static_cast<TlsStream*>(BIO_get_data(b))->bio_read(out, len);
}
int bio_write_cb(BIO* b, const char* data, int len) {
  return static_cast<TlsStream*>(BIO_get_data(b))->bio_write(data, len);
}
long bio_ctrl_cb(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
int bio_create_cb(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}
int bio_destroy_cb(BIO*) { return 1; }

BIO_METHOD* bio_method() {
  static BIO_METHOD* const m = [] {
    BIO_METHOD* x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gost stream");
    if (x) {
      BIO_meth_set_read(x, bio_read_cb);
      BIO_meth_set_write(x, bio_write_cb);
      BIO_meth_set_ctrl(x, bio_ctrl_cb);
      BIO_meth_set_create(x, bio_create_cb);
      BIO_meth_set_destroy(x, bio_destroy_cb);
    }
    return x;
  }();
  return m;
}

BIO* new_bio(TlsStream* s) {
  BIO_METHOD* m = bio_method();
  BIO* b = m ? BIO_new(m) : nullptr;
  if (b) BIO_set_data(b, s);
  return b;
}
}  // namespace

TlsStream::TlsStream(StreamPtr inner, SslPtr ssl)
    : inner_(std::move(inner)),
      ssl_(std::move(ssl)),
      flush_done_(inner_->get_executor(), asio::steady_timer::time_point::max()) {
  BIO* rbio = new_bio(this);
  BIO* wbio = new_bio(this);
  if (!rbio || !wbio) {
    // Out of memory: an SSL without BIOs fails its handshake with an error.
    if (rbio) BIO_free(rbio);
    if (wbio) BIO_free(wbio);
    return;
  }
  SSL_set_bio(ssl_.get(), rbio, wbio);  // the SSL owns both now
}

TlsStream::~TlsStream() {
  if (ready_ && ready_->pending) {
    ready_->stream = nullptr;
    (void)ready_.release();  // the pending callback frees it
  }
}

int TlsStream::bio_read(char* out, int len) noexcept {
  BIO* b = SSL_get_rbio(ssl_.get());
  BIO_clear_retry_flags(b);
  const std::size_t avail = in_end_ - in_pos_;
  if (avail == 0 || len <= 0) {
    BIO_set_retry_read(b);  // no more now: SSL_ERROR_WANT_READ, and fill() reads on
    return -1;
  }
  const std::size_t n = std::min(avail, static_cast<std::size_t>(len));
  std::memcpy(out, in_->data() + in_pos_, n);
  track_records(in_->data() + in_pos_, n);
  in_pos_ += n;
  return static_cast<int>(n);
}

void TlsStream::track_records(const unsigned char* p, std::size_t n) noexcept {
  while (n > 0) {
    if (body_left_ > 0) {
      const std::size_t k = std::min<std::size_t>(body_left_, n);
      body_left_ -= static_cast<std::uint32_t>(k);
      p += k;
      n -= k;
      continue;
    }
    const std::size_t k = std::min<std::size_t>(sizeof hdr_ - hdr_got_, n);
    std::memcpy(hdr_ + hdr_got_, p, k);
    hdr_got_ = static_cast<unsigned char>(hdr_got_ + k);
    p += k;
    n -= k;
    if (hdr_got_ == sizeof hdr_) {  // type, version, length: the body follows
      body_left_ = static_cast<std::uint32_t>(hdr_[3]) << 8 | hdr_[4];
      hdr_got_ = 0;
    }
  }
}

int TlsStream::bio_write(const char* data, int len) noexcept {
  BIO* b = SSL_get_wbio(ssl_.get());
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  if (!out_) out_.emplace();
  const std::size_t room = CipherBuf::kSize - out_len_;
  if (room == 0) {
    BIO_set_retry_write(b);  // full: SSL_ERROR_WANT_WRITE, and the caller flushes and retries
    return -1;
  }
  const std::size_t n = std::min(room, static_cast<std::size_t>(len));
  std::memcpy(out_->data() + out_len_, data, n);
  out_len_ += n;
  return static_cast<int>(n);
}

// Reads more ciphertext from the inner stream. The library consumed everything buffered (it
// asks for more only then). Between records, unless the last read was bulk or wait_readable()
// just saw data, it first waits for the inner stream to be readable, so a stream waiting for
// its peer holds no buffer.
asio::awaitable<std::error_code> TlsStream::fill() {
  if (in_pos_ < in_end_) co_return std::error_code{};  // unread bytes: nothing to wait for
  in_pos_ = in_end_ = 0;
  if (!in_bulk_ && !ready_hint_ && !mid_record()) {
    in_.reset();
#ifndef OPENSSL_IS_BORINGSSL
    // OpenSSL takes its record buffer (about 17 KiB) when asked to read and keeps it while it
    // waits for the next record, even with SSL_MODE_RELEASE_BUFFERS: hand it back before
    // waiting (refused, harmlessly, while it holds bytes). BoringSSL releases it by itself.
    SSL_free_buffers(ssl_.get());
#endif
    if (auto ec = co_await inner_->wait_readable()) co_return ec;
  }
  ready_hint_ = false;
  if (!in_) in_.emplace();
  auto r = co_await inner_->read_some(asio::buffer(in_->data(), CipherBuf::kSize));
  in_end_ = r.bytes;
  in_bulk_ = r.bytes == CipherBuf::kSize;
  if (r.bytes == 0) in_.reset();
  if (r.ec && r.bytes == 0) {
    if (r.ec == asio::error::eof) in_eof_ = true;
    co_return r.ec;
  }
  if (r.ec == asio::error::eof) in_eof_ = true;  // the bytes first; the next fill reports it
  co_return std::error_code{};
}

asio::awaitable<std::error_code> TlsStream::flush() {
  // The flusher drains everything queued, including what the other direction
  // adds meanwhile (appended behind the bytes being written).
  struct Done {
    TlsStream* s;
    ~Done() {
      s->flushing_ = false;
      s->flush_done_.cancel();
    }
  };
  flushing_ = true;
  Done done{this};
  while (out_len_ > 0) {
    const std::size_t n = out_len_;
    auto ec = co_await write_all(*inner_, asio::buffer(out_->data(), n));
    if (ec) {
      write_err_ = ec;
      co_return ec;
    }
    if (out_len_ > n) std::memmove(out_->data(), out_->data() + n, out_len_ - n);
    out_len_ -= n;
  }
  out_.reset();
  co_return std::error_code{};
}

// Writers wait for a flush started by the read side (alerts, key updates) and
// then flush.
asio::awaitable<std::error_code> TlsStream::flush_all() {
  while (flushing_) {
    flush_done_.expires_at(asio::steady_timer::time_point::max());
    co_await flush_done_.async_wait(use_tuple);
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
      co_return make_error_code(asio::error::operation_aborted);
  }
  if (write_err_) co_return write_err_;
  co_return co_await flush();
}

asio::awaitable<std::error_code> TlsStream::handshake(std::chrono::milliseconds timeout) {
  auto r = co_await with_timeout(handshake_loop(), timeout);
  if (!r) co_return make_error_code(errc::timeout);
  co_return *r;
}

asio::awaitable<std::error_code> TlsStream::handshake_loop() {
  if (!SSL_get_rbio(ssl_.get())) co_return make_error_code(std::errc::not_enough_memory);
  for (;;) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), rc);
    std::error_code fail;
    if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      long v = SSL_get_verify_result(ssl_.get());
      fail = v != X509_V_OK ? std::error_code(static_cast<int>(v), verify_category())
                            : last_error(make_error_code(errc::bad_request));
    }
    // Send what the library produced (our flight, or the alert that explains a
    // failure).
    if (out_len_ > 0) {
      if (auto ec = co_await flush(); ec && !fail) co_return ec;
    }
    if (fail) co_return fail;
    if (err == SSL_ERROR_NONE) {
      release_in();
      co_return std::error_code{};
    }
    if (err == SSL_ERROR_WANT_WRITE) continue;  // a flight larger than the buffer: sent, go on
    if (auto ec = co_await fill()) {
      if (ec == asio::error::eof) co_return make_error_code(asio::error::connection_reset);
      co_return ec;
    }
  }
}

asio::awaitable<IoResult> TlsStream::read_some(asio::mutable_buffer buf) {
  if (buf.size() == 0) co_return IoResult{};
  const int want = static_cast<int>(std::min<std::size_t>(buf.size(), INT_MAX));
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(ssl_.get(), buf.data(), want);
    if (n > 0) {
      // More records already here (or, in bulk or inside a record, on the TCP socket now) fill
      // the rest of the buffer, so a relay moves a burst in one pass; whatever stops that is met
      // again by the next read.
      std::size_t got = static_cast<std::size_t>(n);
      while (got < buf.size() && (SSL_pending(ssl_.get()) > 0 || in_pos_ < in_end_ ||
                                  ((in_bulk_ || mid_record()) && fill_now()))) {
        ERR_clear_error();
        const int m = SSL_read(ssl_.get(), static_cast<char*>(buf.data()) + got,
                               static_cast<int>(std::min<std::size_t>(buf.size() - got, INT_MAX)));
        if (m <= 0) break;
        got += static_cast<std::size_t>(m);
      }
      ERR_clear_error();
      release_in();
      co_return IoResult{{}, got};
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_ZERO_RETURN) {
      release_in();
      co_return IoResult{asio::error::eof, 0};
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      // An answer (key update, alert) found the output buffer full: send it, then read on.
      if (auto ec = co_await flush_all()) co_return IoResult{ec, 0};
      continue;
    }
    if (err != SSL_ERROR_WANT_READ) {
      release_in();
      if (in_eof_) co_return IoResult{asio::error::eof, 0};
      co_return IoResult{last_error(make_error_code(errc::bad_request)), 0};
    }
    // Post-handshake messages (key update answers) wait in the output buffer; a
    // running flush will send them.
    if (!flushing_ && out_len_ > 0) {
      if (auto ec = co_await flush()) co_return IoResult{ec, 0};
    }
    // A peer that closes the transport without close_notify ends the stream too
    // (as most TLS stacks accept truncation at this layer).
    if (in_eof_) {
      release_in();
      co_return IoResult{asio::error::eof, 0};
    }
    if (auto ec = co_await fill()) co_return IoResult{ec, 0};
  }
}

asio::awaitable<IoResult> TlsStream::write_some(asio::const_buffer buf) {
  if (write_shut_) co_return IoResult{asio::error::broken_pipe, 0};
  if (write_err_) co_return IoResult{write_err_, 0};
  if (buf.size() == 0) co_return IoResult{};
  const int n = static_cast<int>(std::min(buf.size(), kMaxWrite));
  // Start from an empty output buffer (the read side may have queued an answer), so the
  // record fits and SSL_write completes at once.
  if (out_len_ > 0 || flushing_) {
    if (auto ec = co_await flush_all()) co_return IoResult{ec, 0};
  }
  int rc;
  for (;;) {
    ERR_clear_error();
    rc = SSL_write(ssl_.get(), buf.data(), n);
    if (rc > 0) break;
    if (SSL_get_error(ssl_.get(), rc) != SSL_ERROR_WANT_WRITE)
      co_return IoResult{last_error(make_error_code(asio::error::broken_pipe)), 0};
    if (auto ec = co_await flush_all()) co_return IoResult{ec, 0};  // then the same call again
  }
  if (auto ec = co_await flush_all()) co_return IoResult{ec, 0};
  co_return IoResult{{}, static_cast<std::size_t>(rc)};
}

asio::awaitable<std::error_code> TlsStream::shutdown_write() {
  if (write_shut_) co_return std::error_code{};
  write_shut_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // queues close_notify; reading goes on until the peer's
  if (auto ec = co_await flush_all()) co_return ec;
  co_return co_await inner_->shutdown_write();
}

// Ready means application bytes (or the end of the stream, or an error) for read_some: records
// that carry none (TLS 1.3 session tickets, key updates) are consumed here. A relay that waits
// here and then reads with a buffer of its own therefore never parks that buffer in a read
// that is left waiting for the peer after a ticket.
asio::awaitable<std::error_code> TlsStream::wait_readable() {
  for (;;) {
    if (read_ready_now()) {
      // An answer the library queued while reading (key update, alert) goes out here, and the
      // records are looked at again.
      if (out_len_ == 0 || flushing_) co_return std::error_code{};
      if (auto ec = co_await flush_all()) co_return ec;
      continue;
    }
    // At a record boundary fill() waits for readability before it takes a buffer; inside a
    // record (or in bulk) it reads at once.
    if (auto ec = co_await fill()) {
      // EOF or an error: read_some reports it.
      co_return ec == asio::error::eof ? std::error_code{} : ec;
    }
  }
}

bool TlsStream::read_ready_now() {
  // Records are looked at (SSL_peek) until one carries application bytes or all that is here
  // (or, in bulk or inside a record, on the TCP socket now) is consumed. Bounded: a peer cannot
  // keep this looping.
  for (int i = 0; i < 64; ++i) {
    if (SSL_pending(ssl_.get()) > 0 || in_eof_ || ready_hint_) return true;
    if (in_pos_ == in_end_ && !((in_bulk_ || mid_record()) && fill_now())) break;
    ERR_clear_error();
    unsigned char b;
    const int n = SSL_peek(ssl_.get(), &b, 1);
    if (n > 0) return true;
    // Errors, and answers to send (key updates) that no write is sending: the caller sends or
    // reports them.
    if (SSL_get_error(ssl_.get(), n) != SSL_ERROR_WANT_READ || (out_len_ > 0 && !flushing_)) return true;
    release_in();
    if (in_pos_ < in_end_) return true;
  }
  // Nothing to read now (perhaps the start of a record whose rest is on its way): wait.
  return in_eof_ || ready_hint_ || in_pos_ < in_end_;
}

void TlsStream::async_wait_readable(ReadyHandler h) {
  if (read_ready_now()) {
    post_ready(get_executor(), std::move(h));
    return;
  }
  arm_ready(std::move(h));
}

void TlsStream::arm_ready(ReadyHandler h) {
  in_.reset();
#ifndef OPENSSL_IS_BORINGSSL
  SSL_free_buffers(ssl_.get());  // as in fill(): an idle stream holds no record buffer
#endif
  if (!ready_) ready_ = std::make_unique<ReadyWait>(ReadyWait{this, nullptr});
  ready_->handler = std::move(h);
  ready_->pending = true;
  inner_->async_wait_readable([w = ready_.get()](std::error_code ec) {
    w->pending = false;
    ReadyHandler handler = std::move(w->handler);
    if (!w->stream) {  // the stream is gone
      delete w;
      handler(ec ? ec : make_error_code(asio::error::operation_aborted));
      return;
    }
    if (ec) return handler(ec);
    w->stream->on_inner_ready(std::move(handler));
  });
}

void TlsStream::on_inner_ready(ReadyHandler h) {
  if (!inner_->tcp_socket()) {
    ready_hint_ = true;  // fill() reads at once
    return h(std::error_code{});
  }
  // Over TCP, read what is there now and look at it: records without application bytes are
  // consumed here and the wait goes on.
  fill_now();
  if (read_ready_now()) return h(std::error_code{});
  arm_ready(std::move(h));
}

bool TlsStream::fill_now() {
  if (in_pos_ < in_end_) return true;
  asio::ip::tcp::socket* sock = inner_->tcp_socket();
  if (!sock || in_eof_) return false;
  if (!in_) in_.emplace();
  const ssize_t n = ::recv(sock->native_handle(), in_->data(), CipherBuf::kSize, MSG_DONTWAIT);
  if (n <= 0) {
    in_.reset();
    in_pos_ = in_end_ = 0;
    in_bulk_ = false;
    if (n == 0) {
      in_eof_ = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      ready_hint_ = true;  // fill() reads again and reports the error
    }
    return false;
  }
  in_pos_ = 0;
  in_end_ = static_cast<std::size_t>(n);
  in_bulk_ = in_end_ == CipherBuf::kSize;
  return true;
}

void TlsStream::close() noexcept {
  inner_->close();
  flush_done_.cancel();
}

std::string TlsStream::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

std::string TlsStream::sni() const {
  const char* n = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return n ? std::string(n) : std::string();
}

asio::awaitable<Result<StreamPtr>> client_handshake(StreamPtr s, std::shared_ptr<ClientContext> ctx,
                                                    std::string host) {
  if (!s || !ctx) co_return make_error_code(std::errc::invalid_argument);
  SslPtr ssl(SSL_new(ctx->ctx.get()));
  if (!ssl) {
    s->close();
    co_return last_error(make_error_code(std::errc::not_enough_memory));
  }
  SSL_set_connect_state(ssl.get());
  std::string name = strip_brackets(ctx->opts.server_name.empty() ? host : ctx->opts.server_name);
  if (!name.empty()) {
    if (!is_ip_literal(name)) SSL_set_tlsext_host_name(ssl.get(), name.c_str());
    if (ctx->opts.secure) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
      int ok = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                                   : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
      if (ok != 1) {
        s->close();
        co_return last_error(make_error_code(std::errc::invalid_argument));
      }
    }
  }
  auto t = std::make_unique<TlsStream>(std::move(s), std::move(ssl));
  if (auto ec = co_await t->handshake(ctx->opts.handshake_timeout)) {
    t->close();
    co_return ec;
  }
  co_return StreamPtr(std::move(t));
}

asio::awaitable<Result<StreamPtr>> server_handshake(StreamPtr s,
                                                    std::shared_ptr<ServerContext> ctx) {
  if (!s || !ctx) co_return make_error_code(std::errc::invalid_argument);
  SslPtr ssl(SSL_new(ctx->ctx.get()));
  if (!ssl) {
    s->close();
    co_return last_error(make_error_code(std::errc::not_enough_memory));
  }
  SSL_set_accept_state(ssl.get());
  auto t = std::make_unique<TlsStream>(std::move(s), std::move(ssl));
  if (auto ec = co_await t->handshake(ctx->opts.handshake_timeout)) {
    t->close();
    co_return ec;
  }
  co_return StreamPtr(std::move(t));
}

std::string negotiated_alpn(const Stream& s) {
  auto* t = dynamic_cast<const TlsStream*>(&s);
  return t ? t->alpn() : std::string();
}

std::string server_name(const Stream& s) {
  auto* t = dynamic_cast<const TlsStream*>(&s);
  return t ? t->sni() : std::string();
}

}  // namespace gost::tls
