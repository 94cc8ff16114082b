#pragma once
// Internal: the TLS Stream (memory BIOs over an inner Stream).

#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "tls/ssl.hpp"

namespace gost::tls {

// Reads and writes may run at the same time (one of each), as the Stream
// contract allows: SSL calls never suspend, and writes to the inner stream are
// serialized by `flushing_`.
class TlsStream final : public Stream {
 public:
  TlsStream(StreamPtr inner, SslPtr ssl);
  ~TlsStream() override;

  // Runs the handshake (connect or accept state set on the SSL), bounded by
  // timeout (0: none).
  asio::awaitable<std::error_code> handshake(std::chrono::milliseconds timeout);

  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override;
  // Sends close_notify, then half-closes the inner stream. Reading goes on.
  asio::awaitable<std::error_code> shutdown_write() override;
  asio::awaitable<std::error_code> wait_readable() override;
  void close() noexcept override;
  Address local_address() const override { return inner_->local_address(); }
  Address remote_address() const override { return inner_->remote_address(); }

  std::string alpn() const;
  std::string sni() const;
  SSL* ssl() const noexcept { return ssl_.get(); }

 private:
  asio::awaitable<std::error_code> handshake_loop();
  asio::awaitable<std::error_code> fill();
  asio::awaitable<std::error_code> flush();
  asio::awaitable<std::error_code> flush_all();

  StreamPtr inner_;
  SslPtr ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  std::unique_ptr<unsigned char[]> in_buf_;
  std::unique_ptr<unsigned char[]> out_buf_;
  asio::steady_timer flush_done_;
  std::error_code write_err_;
  bool flushing_ = false;
  bool in_eof_ = false;
  bool write_shut_ = false;
};

}  // namespace gost::tls
