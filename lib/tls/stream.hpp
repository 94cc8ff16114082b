#pragma once
// Internal: the TLS Stream (the library's BIOs read from and write to pooled buffers that this
// stream moves to and from an inner Stream).

#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/buffer_pool.hpp"
#include "tls/ssl.hpp"

namespace gost::tls {

// Ciphertext buffers: room for one whole record (16 KiB of plaintext plus the most any cipher
// suite adds), so full-size records go out in one write and come in with one read.
using CipherBuf = core::Pooled<16 * 1024 + 2048 + 5, 256>;

// Reads and writes may run at the same time (one of each), as the Stream
// contract allows: SSL calls never suspend, and writes to the inner stream are
// serialized by `flushing_`.
//
// Memory: ciphertext moves through two buffers from the thread's pool, taken while bytes are in
// them and given back when they are empty; the inner stream is waited on for readability before
// a read buffer is taken. An idle TLS stream holds no buffer of its own.
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
  // Ready means what wait_readable() means: application bytes, the end or an error. Over a TCP
  // socket, records without data are consumed in the callback and the wait goes on, so a relay
  // holds no frame or buffer while the peer sends only session tickets.
  bool has_ready_callback() noexcept override { return inner_->has_ready_callback(); }
  void async_wait_readable(ReadyHandler h) override;
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
  void release_in() noexcept {
    if (in_pos_ == in_end_) in_.reset();
  }
  // Whether read_some() would make progress without waiting for the peer; consumes buffered
  // records that carry no application bytes. Shared by wait_readable() and the callback wait.
  bool read_ready_now();
  // Waits on the inner stream (holding no buffer) until read_ready_now().
  void arm_ready(ReadyHandler h);
  void on_inner_ready(ReadyHandler h);
  // Over TCP: reads the ciphertext the socket holds now into the empty input buffer, without
  // waiting (false: nothing buffered; the end or an error is left for fill() to meet).
  bool fill_now();
  // The handler of a callback wait, kept here so that what the inner stream holds is one
  // pointer (no allocation per wait). Made on first use; left to the pending callback, which
  // frees it, when the stream is destroyed while waiting.
  struct ReadyWait {
    TlsStream* stream;
    ReadyHandler handler;
    bool pending = false;
  };
  std::unique_ptr<ReadyWait> ready_;

 public:
  // The BIO callbacks (a BIO method of this file's own; see stream.cpp).
  int bio_read(char* out, int len) noexcept;
  int bio_write(const char* data, int len) noexcept;

 private:
  StreamPtr inner_;
  SslPtr ssl_;
  // Ciphertext read from inner_ that the library has not consumed yet: in_[in_pos_, in_end_).
  std::optional<CipherBuf> in_;
  std::size_t in_pos_ = 0, in_end_ = 0;
  // Ciphertext the library produced that is not written to inner_ yet: out_[0, out_len_).
  std::optional<CipherBuf> out_;
  std::size_t out_len_ = 0;
  asio::steady_timer flush_done_;
  std::error_code write_err_;
  bool flushing_ = false;
  bool in_eof_ = false;
  bool write_shut_ = false;
  bool in_bulk_ = false;     // the last read filled the buffer: more is likely waiting
  bool ready_hint_ = false;  // the inner stream was just seen readable (or failing): read at once
  // Where the bytes handed to the library stand in the record stream: inside a record's header
  // (hdr_got_ of 5 bytes) or body (body_left_ to go). Inside a record the rest is on its way,
  // so fill() reads at once; at a boundary the peer may be silent for good, so it waits first.
  void track_records(const unsigned char* p, std::size_t n) noexcept;
  bool mid_record() const noexcept { return hdr_got_ != 0 || body_left_ != 0; }
  unsigned char hdr_[5] = {};
  unsigned char hdr_got_ = 0;
  std::uint32_t body_left_ = 0;
};

}  // namespace gost::tls
