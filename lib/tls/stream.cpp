// TLS over any Stream through memory BIOs: the library reads ciphertext from
// one memory BIO that we fill from the inner stream, and writes ciphertext into
// another that we drain to it.
#include "tls/stream.hpp"

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <climits>

#include "gost/core/timeout.hpp"
#include "tls/ssl.hpp"

namespace gost::tls {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
// One TLS record plus overhead: what we read from the inner stream and drain to
// it at a time.
constexpr std::size_t kInSize = 16 * 1024 + 512;
constexpr std::size_t kOutSize = 16 * 1024 + 512;
// Plaintext handed to one SSL_write (bounds the ciphertext buffered before it
// is flushed).
constexpr std::size_t kMaxWrite = 64 * 1024;

bool is_ip_literal(const std::string& h) {
  if (h.find(':') != std::string::npos) return true;
  return !h.empty() && h.find_first_not_of("0123456789.") == std::string::npos;
}

std::string strip_brackets(std::string h) {
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') return h.substr(1, h.size() - 2);
  return h;
}
}  // namespace

TlsStream::TlsStream(StreamPtr inner, SslPtr ssl)
    : inner_(std::move(inner)),
      ssl_(std::move(ssl)),
      in_buf_(new unsigned char[kInSize]),
      out_buf_(new unsigned char[kOutSize]),
      flush_done_(inner_->get_executor(), asio::steady_timer::time_point::max()) {
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  // An empty memory BIO means "retry", not EOF.
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_mem_eof_return(wbio_, -1);
  SSL_set_bio(ssl_.get(), rbio_, wbio_);  // the SSL owns both now
}

TlsStream::~TlsStream() = default;

asio::awaitable<std::error_code> TlsStream::fill() {
  auto r = co_await inner_->read_some(asio::buffer(in_buf_.get(), kInSize));
  if (r.ec) {
    if (r.ec == asio::error::eof) in_eof_ = true;
    co_return r.ec;
  }
  if (r.bytes > 0 &&
      BIO_write(rbio_, in_buf_.get(), static_cast<int>(r.bytes)) != static_cast<int>(r.bytes))
    co_return make_error_code(std::errc::not_enough_memory);
  co_return std::error_code{};
}

asio::awaitable<std::error_code> TlsStream::flush() {
  // The flusher drains everything queued, including what the other direction
  // adds meanwhile.
  struct Done {
    TlsStream* s;
    ~Done() {
      s->flushing_ = false;
      s->flush_done_.cancel();
    }
  };
  flushing_ = true;
  Done done{this};
  while (BIO_ctrl_pending(wbio_) > 0) {
    int n = BIO_read(wbio_, out_buf_.get(), static_cast<int>(kOutSize));
    if (n <= 0) break;
    auto ec =
        co_await write_all(*inner_, asio::buffer(out_buf_.get(), static_cast<std::size_t>(n)));
    if (ec) {
      write_err_ = ec;
      co_return ec;
    }
  }
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
  for (;;) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), rc);
    std::error_code fail;
    if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ) {
      long v = SSL_get_verify_result(ssl_.get());
      fail = v != X509_V_OK ? std::error_code(static_cast<int>(v), verify_category())
                            : last_error(make_error_code(errc::bad_request));
    }
    // Send what the library produced (our flight, or the alert that explains a
    // failure).
    if (BIO_ctrl_pending(wbio_) > 0) {
      if (auto ec = co_await flush(); ec && !fail) co_return ec;
    }
    if (fail) co_return fail;
    if (err == SSL_ERROR_NONE) co_return std::error_code{};
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
    if (n > 0) co_return IoResult{{}, static_cast<std::size_t>(n)};
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_ZERO_RETURN) co_return IoResult{asio::error::eof, 0};
    if (err != SSL_ERROR_WANT_READ) {
      if (in_eof_) co_return IoResult{asio::error::eof, 0};
      co_return IoResult{last_error(make_error_code(errc::bad_request)), 0};
    }
    // Post-handshake messages (key update answers) wait in the write BIO; a
    // running flush will send them.
    if (!flushing_ && BIO_ctrl_pending(wbio_) > 0) {
      if (auto ec = co_await flush()) co_return IoResult{ec, 0};
    }
    // A peer that closes the transport without close_notify ends the stream too
    // (as most TLS stacks accept truncation at this layer).
    if (in_eof_) co_return IoResult{asio::error::eof, 0};
    if (auto ec = co_await fill()) co_return IoResult{ec, 0};
  }
}

asio::awaitable<IoResult> TlsStream::write_some(asio::const_buffer buf) {
  if (write_shut_) co_return IoResult{asio::error::broken_pipe, 0};
  if (write_err_) co_return IoResult{write_err_, 0};
  if (buf.size() == 0) co_return IoResult{};
  const int n = static_cast<int>(std::min(buf.size(), kMaxWrite));
  ERR_clear_error();
  int rc = SSL_write(ssl_.get(), buf.data(), n);
  if (rc <= 0) co_return IoResult{last_error(make_error_code(asio::error::broken_pipe)), 0};
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

asio::awaitable<std::error_code> TlsStream::wait_readable() {
  if (SSL_pending(ssl_.get()) > 0 || BIO_ctrl_pending(rbio_) > 0 || in_eof_)
    co_return std::error_code{};
  co_return co_await inner_->wait_readable();
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
