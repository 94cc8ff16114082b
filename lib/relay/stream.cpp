#include "relay/stream.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>

#include "relay/codec.hpp"

namespace gost::relay {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
// A response (up to 4 + 65535 bytes) and then one whole framed datagram.
constexpr std::size_t kReaderMax = kMaxMessage + 2 + 0xFFFF;

asio::awaitable<bool> cancelled() {
  auto cs = co_await asio::this_coro::cancellation_state;
  co_return cs.cancelled() != asio::cancellation_type::none;
}
}  // namespace

std::error_code status_error(std::uint8_t status) {
  switch (status) {
    case kStatusOK:
      return {};
    case kStatusUnauthorized:
      return make_error_code(errc::auth_failed);
    case kStatusForbidden:
      return make_error_code(errc::forbidden);
    case kStatusTimeout:
      return make_error_code(errc::timeout);
    case kStatusHostUnreachable:
    case kStatusNetworkUnreachable:
      return make_error_code(errc::host_unreachable);
    case kStatusBadRequest:
      return make_error_code(errc::bad_request);
    default:
      return make_error_code(errc::proxy_error);
  }
}

RelayStream::RelayStream(StreamPtr inner, std::vector<std::uint8_t> pending,
                         RelayStreamOptions opts)
    : inner_(std::move(inner)),
      pending_(std::move(pending)),
      opts_(opts),
      reader_(*inner_, kReaderMax),
      grace_timer_(inner_->get_executor()),
      write_done_(inner_->get_executor()) {
  response_done_ = !opts_.expect_response;
  if (opts_.flush_after.count() > 0) flush_deadline_ = std::chrono::steady_clock::now() + opts_.flush_after;
}

RelayStream::~RelayStream() {
  grace_timer_.cancel();
  write_done_.cancel();
}

void RelayStream::close() noexcept {
  grace_timer_.cancel();
  write_done_.cancel();
  inner_->close();
}

asio::ip::tcp::socket* RelayStream::tcp_socket() noexcept {
  if (opts_.datagram || !pending_.empty() || writing_pending_ || !response_done_ ||
      reader_.size() > 0) {
    return nullptr;
  }
  return inner_->tcp_socket();
}

asio::awaitable<std::error_code> RelayStream::wait_writer() {
  while (writing_pending_) {
    write_done_.expires_at(asio::steady_timer::time_point::max());
    co_await write_done_.async_wait(use_tuple);
    if (co_await cancelled()) co_return asio::error::operation_aborted;
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> RelayStream::flush_pending() {
  if (pending_.empty()) co_return std::error_code{};
  std::vector<std::uint8_t> bytes = std::move(pending_);
  pending_.clear();
  wrote_ = true;
  writing_pending_ = true;
  auto ec = co_await write_all(*inner_, asio::buffer(bytes));
  writing_pending_ = false;
  write_done_.cancel();
  co_return ec;
}

asio::awaitable<std::error_code> RelayStream::read_response() {
  for (;;) {
    auto p = parse_response(Bytes(reader_.data(), reader_.size()));
    if (p.ok()) {
      reader_.consume(p.consumed);
      response_done_ = true;
      response_ec_ = status_error(p.value.status);
      co_return response_ec_;
    }
    if (p.failed()) {
      response_done_ = true;
      response_ec_ = make_error_code(errc::proxy_error);
      co_return response_ec_;
    }
    if (auto ec = co_await reader_.fill()) {
      if (ec == asio::error::eof) ec = make_error_code(errc::proxy_error);
      co_return ec;
    }
  }
}

// The held-back bytes wait for a write to ride with until flush_after from the start; a reader
// that waits past that sends them alone. The deadline is fixed: a client that keeps sending while
// the target stays silent gets its response once, not a timer restarted on every read.
asio::awaitable<std::error_code> RelayStream::flush_when_idle() {
  if (pending_.empty() || opts_.flush_after.count() <= 0 || reader_.size() > 0)
    co_return std::error_code{};
  if (std::chrono::steady_clock::now() < flush_deadline_) {
    using namespace asio::experimental::awaitable_operators;
    grace_timer_.expires_at(flush_deadline_);
    auto r = co_await (inner_->wait_readable() || grace_timer_.async_wait(use_tuple));
    if (r.index() == 0) co_return std::error_code{};
    if (co_await cancelled()) co_return asio::error::operation_aborted;
  }
  if (writing_pending_ || pending_.empty()) co_return std::error_code{};
  co_return co_await flush_pending();
}

// What a read does before its data: flush the held-back response when the target is silent,
// send the request and read the reply.
asio::awaitable<std::error_code> RelayStream::prepare_read() {
  if (auto ec = co_await flush_when_idle()) co_return ec;
  if (!response_done_) {
    if (!pending_.empty() && !wrote_ && opts_.grace.count() > 0) {
      // Give the first write a chance to carry the request.
      grace_timer_.expires_after(opts_.grace);
      co_await grace_timer_.async_wait(use_tuple);
      if (co_await cancelled()) co_return asio::error::operation_aborted;
    }
    if (auto ec = co_await flush_pending()) co_return ec;
    if (auto ec = co_await read_response()) co_return ec;
  }
  co_return response_ec_;
}

asio::awaitable<IoResult> RelayStream::read_some(asio::mutable_buffer buf) {
  if (auto ec = co_await prepare_read()) co_return IoResult{ec, 0};
  if (opts_.datagram) {
    for (;;) {
      auto p = parse_udp_frame(Bytes(reader_.data(), reader_.size()));
      if (p.ok()) {
        const std::size_t n = std::min(buf.size(), p.value);
        if (n > 0) std::memcpy(buf.data(), reader_.data() + 2, n);
        reader_.consume(p.consumed);
        co_return IoResult{{}, n};
      }
      if (auto ec = co_await reader_.fill()) co_return IoResult{ec, 0};
    }
  }
  if (reader_.size() > 0) {
    const std::size_t n = std::min(buf.size(), reader_.size());
    std::memcpy(buf.data(), reader_.data(), n);
    reader_.consume(n);
    co_return IoResult{{}, n};
  }
  reader_.release_if_empty();  // the reply is parsed: reads go straight to inner_ from now on
  co_return co_await inner_->read_some(buf);
}

asio::awaitable<IoResult> RelayStream::write_some(asio::const_buffer buf) {
  if (writing_pending_) {
    if (auto ec = co_await wait_writer()) co_return IoResult{ec, 0};
  }
  grace_timer_.cancel();
  wrote_ = true;
  const bool with_pending = !pending_.empty();
  if (!with_pending && !opts_.datagram) co_return co_await inner_->write_some(buf);
  wbuf_.clear();
  if (with_pending) {
    wbuf_.swap(pending_);
    pending_.clear();
  }
  if (opts_.datagram) {
    if (auto ec = serialize_udp_frame_header(buf.size(), wbuf_)) co_return IoResult{ec, 0};
  }
  const auto* p = static_cast<const std::uint8_t*>(buf.data());
  wbuf_.insert(wbuf_.end(), p, p + buf.size());
  writing_pending_ = with_pending;
  auto ec = co_await write_all(*inner_, asio::buffer(wbuf_));
  if (with_pending) {
    writing_pending_ = false;
    write_done_.cancel();
    // Later writes of a byte stream go straight to inner_: the request and the first chunk
    // (up to a relay buffer's worth) are not kept for the life of the connection.
    if (!opts_.datagram) std::vector<std::uint8_t>().swap(wbuf_);
  }
  co_return IoResult{ec, ec ? 0 : buf.size()};
}

asio::awaitable<std::error_code> RelayStream::shutdown_write() {
  if (writing_pending_) {
    if (auto ec = co_await wait_writer()) co_return ec;
  }
  if (auto ec = co_await flush_pending()) co_return ec;
  co_return co_await inner_->shutdown_write();
}

// The timers are idle between operations: new ones on ex replace them.
asio::awaitable<void> RelayStream::move_to(asio::any_io_executor ex) {
  co_await inner_->move_to(ex);
  grace_timer_ = asio::steady_timer(ex);
  write_done_ = asio::steady_timer(ex);
}

void RelayStream::async_wait_readable(ReadyHandler h) {
  if (response_done_ && reader_.size() > 0) {
    post_ready(get_executor(), std::move(h));
    return;
  }
  if (!response_done_ || (!pending_.empty() && opts_.flush_after.count() > 0)) {
    // The request to send or the reply to read first (or the held-back response to flush when
    // the target stays silent): a short-lived coroutine does it with the reply reader only, then
    // the wait goes on below, so no relay buffer waits in a read.
    asio::co_spawn(get_executor(), prepare_read(),
                   [this, h = std::move(h)](std::exception_ptr, std::error_code ec) mutable {
                     if (ec || reader_.size() > 0) return h(ec);
                     reader_.release_if_empty();
                     inner_->async_wait_readable(std::move(h));
                   });
    return;
  }
  reader_.release_if_empty();
  inner_->async_wait_readable(std::move(h));
}

asio::awaitable<std::error_code> RelayStream::wait_readable() {
  if (auto ec = co_await flush_when_idle()) co_return ec;
  if (!response_done_ || reader_.size() > 0) co_return std::error_code{};
  if (!opts_.datagram) reader_.release_if_empty();
  co_return co_await inner_->wait_readable();
}

}  // namespace gost::relay
