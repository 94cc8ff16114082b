#pragma once
// SsStream: a Shadowsocks stream (either edition, either side) over any Stream.
//
// Memory: the read and write buffers come from a per-thread pool and go back as soon as they
// are empty, and the AEAD contexts are per thread (see Aead), so an idle connection holds only
// this object (keys, nonces and salts).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/buffer_pool.hpp"
#include "gost/core/stream.hpp"
#include "ss/codec.hpp"

namespace gost::ss {

// A buffer from a per-thread pool (connections live on one thread): one 2022 chunk (65569 B)
// plus headers.
using PoolBuf = core::Pooled<72 * 1024, 64>;

class SsStream final : public Stream {
 public:
  enum class Role : std::uint8_t { server, client };
  // keys must outlive the stream (handlers and connectors keep them in a shared_ptr that the
  // stream holds).
  SsStream(StreamPtr inner, std::shared_ptr<const Keys> keys, Role role);
  ~SsStream() override;

  // Client: the target sent at the start of the stream (with the first write).
  std::error_code set_target(const Address& target) { return enc_.set_target(target); }
  // Client: sends the request header now (without waiting for data).
  asio::awaitable<std::error_code> flush_header();

  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  const asio::any_io_executor* io_home() const noexcept override { return inner_->io_home(); }
  // Only with no raw bytes buffered: the buffer belongs to this thread's pool.
  bool movable() const noexcept override { return !rbuf_ && inner_->movable(); }
  asio::awaitable<void> move_to(asio::any_io_executor ex) override { return inner_->move_to(std::move(ex)); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override;
  asio::awaitable<std::error_code> shutdown_write() override;
  asio::awaitable<std::error_code> wait_readable() override;
  bool has_ready_callback() noexcept override { return inner_->has_ready_callback(); }
  void async_wait_readable(ReadyHandler h) override;
  void close() noexcept override { inner_->close(); }
  Address local_address() const override { return inner_->local_address(); }
  Address remote_address() const override { return inner_->remote_address(); }

  // Server: reads the target address at the start of the plaintext (SOCKS5 form), leaving what
  // follows it for read_some. Holds no buffer afterwards.
  asio::awaitable<Result<Address>> read_target();

  // Server: the authenticated user (2022 with users), after the first read.
  const std::string& user() const { return dec_.user(); }
  // Reads and discards from the transport until the peer closes or `limit` passes: what a
  // server does with a stream that failed authentication, so that a prober learns nothing
  // from when or whether it closes.
  asio::awaitable<void> drain(std::chrono::milliseconds limit);

 private:
  asio::awaitable<std::error_code> fill(std::size_t need);
  // Decodes until plaintext is buffered (ppos_ < pend_).
  asio::awaitable<std::error_code> next_plain();
  void release_if_empty();
  // Drops the decoder's header state once neither direction needs it.
  void release_handshake() noexcept {
    if (dec_.handshake_done() && (role_ == Role::client || enc_.started()))
      dec_.release_handshake();
  }

  StreamPtr inner_;
  std::shared_ptr<const Keys> keys_;
  Decoder dec_;
  Encoder enc_;
  std::optional<PoolBuf> rbuf_;  // in place: taking one from the pool allocates nothing
  std::size_t rpos_ = 0, rend_ = 0;  // raw bytes not decoded yet
  std::size_t ppos_ = 0, pend_ = 0;  // decoded plaintext waiting for read_some
  std::error_code rerr_;             // sticky read error
  // Plaintext after an address that spanned chunks (rare).
  std::unique_ptr<std::vector<std::uint8_t>> pushback_;
  Role role_;
  bool wrote_eof_ = false;
  // The last transport read filled all the room it had: more may be waiting there without a
  // new readiness event, so the stream counts as readable.
  bool inner_full_ = false;
};

}  // namespace gost::ss
