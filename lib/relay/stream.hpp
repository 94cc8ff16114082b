#pragma once
// RelayStream: the data phase of a relay CONNECT on either end.
//
// - `pending` bytes (a request held back by the connector, or a response held back by the
//   handler when nodelay is off) go out in front of the first write (or alone, before
//   shutdown_write, or when a read comes first: see `grace`).
// - With `expect_response` (the connector) the first read first reads the relay Response;
//   a status other than OK fails that read (and every later one) with the mapped error.
// - `datagram`: UDP CONNECT, each datagram framed | LEN(2) | DATA | (is_datagram() is true).
// - `grace` (connector, nodelay off): a read that comes before any write waits this long for a
//   write to carry the request, then sends the request alone, so protocols where the server
//   speaks first do not hang.
// - `flush_after` (handler, nodelay off): when the held-back response found no bytes to ride
//   with this long after the start (the target is silent while a reader waits), it is sent
//   alone. GOST connectors with nodelay=true wait for the response before they send anything.

#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "gost/core/stream.hpp"

namespace gost::relay {

struct RelayStreamOptions {
  bool datagram = false;
  bool expect_response = false;
  std::chrono::milliseconds grace{0};
  std::chrono::milliseconds flush_after{0};
};

// A relay Response status (not OK) as an error.
std::error_code status_error(std::uint8_t status);

class RelayStream final : public Stream {
 public:
  RelayStream(StreamPtr inner, std::vector<std::uint8_t> pending, RelayStreamOptions opts);
  ~RelayStream() override;

  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override;
  asio::awaitable<std::error_code> shutdown_write() override;
  asio::awaitable<std::error_code> wait_readable() override;
  // Byte streams. The request still to send, the reply to read or held-back bytes to flush are
  // done first by a short-lived coroutine (holding the reply reader only); then the inner
  // stream's wait. The stream must outlive a pending wait (close() ends it), as the readiness
  // relay ensures.
  bool has_ready_callback() noexcept override { return !opts_.datagram && inner_->has_ready_callback(); }
  void async_wait_readable(ReadyHandler h) override;
  void close() noexcept override;
  Address local_address() const override { return inner_->local_address(); }
  Address remote_address() const override { return inner_->remote_address(); }
  bool is_datagram() const noexcept override { return opts_.datagram; }
  asio::ip::tcp::socket* tcp_socket() noexcept override;
  const asio::any_io_executor* io_home() const noexcept override { return inner_->io_home(); }
  bool movable() const noexcept override { return !writing_pending_ && inner_->movable(); }
  asio::awaitable<void> move_to(asio::any_io_executor ex) override;
  // Storage this layer holds (request, write and reply buffers): none once the request went out
  // and the reply was read, on a byte stream (for tests and diagnostics).
  std::size_t held_bytes() const noexcept { return pending_.capacity() + wbuf_.capacity() + reader_.capacity(); }

 private:
  asio::awaitable<std::error_code> flush_pending();
  asio::awaitable<std::error_code> prepare_read();
  asio::awaitable<std::error_code> wait_writer();
  asio::awaitable<std::error_code> read_response();
  asio::awaitable<std::error_code> flush_when_idle();

  StreamPtr inner_;
  std::vector<std::uint8_t> pending_;
  RelayStreamOptions opts_;
  StreamReader reader_;
  std::vector<std::uint8_t> wbuf_;
  asio::steady_timer grace_timer_;  // cancelled by the first write
  asio::steady_timer write_done_;   // cancelled when a write of the pending bytes ends
  std::chrono::steady_clock::time_point flush_deadline_{};  // of the held-back bytes (flush_after)
  bool writing_pending_ = false;
  bool wrote_ = false;
  bool response_done_ = false;
  std::error_code response_ec_;
};

}  // namespace gost::relay
