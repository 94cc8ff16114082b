#include "gost/core/stream.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <asio/error.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "core/buffer_pool.hpp"
#include "core/transports.hpp"
#include "gost/core/error.hpp"
#include "gost/core/transport.hpp"

namespace gost {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

Address to_address(const asio::ip::tcp::endpoint& ep) {
  auto ip = ep.address();
  // Dual-stack listeners see IPv4 clients as ::ffff:a.b.c.d; report them as IPv4.
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
  return Address(ip.to_string(), ep.port());
}
}  // namespace

asio::awaitable<std::error_code> Stream::wait_readable() { co_return std::error_code{}; }

void post_ready(const asio::any_io_executor& ex, Stream::ReadyHandler h, std::error_code ec) {
  asio::post(ex, [h = std::move(h), ec]() { h(ec); });
}

void Stream::async_wait_readable(ReadyHandler h) {
  if (auto* s = tcp_socket()) {
    s->async_wait(asio::ip::tcp::socket::wait_read, std::move(h));
    return;
  }
  post_ready(get_executor(), std::move(h), make_error_code(errc::unsupported));
}

asio::awaitable<std::error_code> read_exact(Stream& s, asio::mutable_buffer buf) {
  auto* p = static_cast<unsigned char*>(buf.data());
  std::size_t left = buf.size();
  while (left > 0) {
    auto r = co_await s.read_some(asio::buffer(p, left));
    if (r.ec) co_return r.ec;
    if (r.bytes == 0) co_return asio::error::eof;
    p += r.bytes;
    left -= r.bytes;
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> write_all(Stream& s, asio::const_buffer buf) {
  auto* p = static_cast<const unsigned char*>(buf.data());
  std::size_t left = buf.size();
  while (left > 0) {
    auto r = co_await s.write_some(asio::buffer(p, left));
    if (r.ec) co_return r.ec;
    p += r.bytes;
    left -= r.bytes;
  }
  co_return std::error_code{};
}

// ---- TcpStream

TcpStream::TcpStream(asio::ip::tcp::socket sock) : sock_(std::move(sock)) {}
TcpStream::TcpStream(asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer)
    : sock_(std::move(sock)), peer_(peer) {}
TcpStream::~TcpStream() {
  close();
  uncount();
}

void TcpStream::count_in(std::atomic<long>* live) noexcept {
  uncount();
  live_ = live;
  if (live_) live_->fetch_add(1, std::memory_order_relaxed);
}

void TcpStream::uncount() noexcept {
  if (live_) live_->fetch_sub(1, std::memory_order_relaxed);
  live_ = nullptr;
}

asio::any_io_executor TcpStream::get_executor() { return sock_.get_executor(); }

// Reads and writes try recv/send with MSG_DONTWAIT first and wait for readiness only when they
// would block (core::now_or_wait). The socket itself stays in blocking mode as far as Asio knows.
namespace {
std::error_code errno_error() {
  const int e = errno;
  return e == EAGAIN || e == EWOULDBLOCK || e == EINTR ? make_error_code(asio::error::would_block)
                                                        : core::sys_error(e);
}
}  // namespace

asio::awaitable<IoResult> TcpStream::read_some(asio::mutable_buffer buf) {
  if (buf.size() == 0) co_return IoResult{};
  std::error_code ec;
  std::size_t n = co_await core::now_or_wait(sock_, asio::socket_base::wait_read, burst_, ec,
                                             [&](std::error_code& e) -> std::size_t {
                                               ssize_t r = ::recv(sock_.native_handle(), buf.data(), buf.size(),
                                                                  MSG_DONTWAIT);
                                               e = r > 0 ? std::error_code{}
                                                         : r == 0 ? make_error_code(asio::error::eof) : errno_error();
                                               return r > 0 ? static_cast<std::size_t>(r) : 0;
                                             });
  co_return IoResult{ec, n};
}

asio::awaitable<IoResult> TcpStream::write_some(asio::const_buffer buf) {
  if (buf.size() == 0) co_return IoResult{};
  std::error_code ec;
  std::size_t n = co_await core::now_or_wait(sock_, asio::socket_base::wait_write, burst_, ec,
                                             [&](std::error_code& e) -> std::size_t {
                                               ssize_t r = ::send(sock_.native_handle(), buf.data(), buf.size(),
                                                                  MSG_DONTWAIT | MSG_NOSIGNAL);
                                               e = r >= 0 ? std::error_code{} : errno_error();
                                               return r > 0 ? static_cast<std::size_t>(r) : 0;
                                             });
  co_return IoResult{ec, n};
}

asio::awaitable<std::error_code> TcpStream::shutdown_write() {
  std::error_code ec;
  sock_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  co_return ec;
}

asio::awaitable<std::error_code> TcpStream::wait_readable() {
  auto [ec] = co_await core::async_wait_read(sock_, false, use_tuple);
  co_return ec;
}

void TcpStream::close() noexcept {
  std::error_code ec;
  if (sock_.is_open()) sock_.close(ec);
}

asio::awaitable<void> Stream::move_to(asio::any_io_executor) { co_return; }

// The descriptor leaves this thread's reactor and joins ex's; the socket object now belongs to
// ex. A socket that could not be re-registered is closed (the relay then ends at once).
asio::awaitable<void> TcpStream::move_to(asio::any_io_executor ex) {
  std::error_code ec;
  asio::ip::tcp::socket moved(ex);
  if (sock_.is_open()) {
    const asio::ip::tcp protocol = peer_.port() != 0 ? peer_.protocol() : sock_.local_endpoint(ec).protocol();
    ec.clear();
    const int fd = sock_.release(ec);
    if (!ec && fd >= 0) {
      moved.assign(protocol, fd, ec);
      if (ec) ::close(fd);
    }
  }
  sock_ = std::move(moved);
  burst_ = 0;
  uncount();  // it no longer loads the thread that accepted it
  co_return;
}

Address TcpStream::local_address() const {
  std::error_code ec;
  auto ep = sock_.local_endpoint(ec);
  return ec ? Address{} : to_address(ep);
}

Address TcpStream::remote_address() const {
  if (peer_.port() != 0) return to_address(peer_);
  std::error_code ec;
  auto ep = sock_.remote_endpoint(ec);
  return ec ? Address{} : to_address(ep);
}

// ---- PrefixedStream

PrefixedStream::PrefixedStream(StreamPtr inner, std::vector<unsigned char> prefix)
    : inner_(std::move(inner)), prefix_(std::move(prefix)) {}

asio::awaitable<IoResult> PrefixedStream::read_some(asio::mutable_buffer buf) {
  if (off_ < prefix_.size()) {
    std::size_t n = std::min(buf.size(), prefix_.size() - off_);
    std::memcpy(buf.data(), prefix_.data() + off_, n);
    off_ += n;
    if (off_ == prefix_.size()) {
      prefix_.clear();
      prefix_.shrink_to_fit();
      off_ = 0;
    }
    co_return IoResult{{}, n};
  }
  co_return co_await inner_->read_some(buf);
}

asio::awaitable<IoResult> PrefixedStream::write_some(asio::const_buffer buf) {
  co_return co_await inner_->write_some(buf);
}

asio::awaitable<std::error_code> PrefixedStream::shutdown_write() {
  co_return co_await inner_->shutdown_write();
}

asio::awaitable<std::error_code> PrefixedStream::wait_readable() {
  if (off_ < prefix_.size()) co_return std::error_code{};
  co_return co_await inner_->wait_readable();
}

void PrefixedStream::async_wait_readable(ReadyHandler h) {
  if (off_ < prefix_.size()) return post_ready(get_executor(), std::move(h));
  inner_->async_wait_readable(std::move(h));
}

void PrefixedStream::close() noexcept { inner_->close(); }

asio::ip::tcp::socket* PrefixedStream::tcp_socket() noexcept {
  // Only once the prefix has been drained is the socket the whole story.
  return off_ < prefix_.size() ? nullptr : inner_->tcp_socket();
}

StreamPtr make_prefixed(StreamPtr inner, std::vector<unsigned char> prefix) {
  if (prefix.empty()) return inner;
  return std::make_unique<PrefixedStream>(std::move(inner), std::move(prefix));
}

// ---- StreamReader

StreamReader::~StreamReader() {
  if (held_) --holding();
  core::VectorPool::give_back(buf_);
}

long& StreamReader::holding() noexcept {
  thread_local long n = 0;
  return n;
}

void StreamReader::hold() noexcept {
  if (buf_.capacity() == 0) core::VectorPool::take(buf_);
  if (!held_) {
    held_ = true;
    ++holding();
  }
}

void StreamReader::release_if_empty() noexcept {
  if (size() != 0) return;
  core::VectorPool::give_back(buf_);
  start_ = 0;
  if (held_) {
    held_ = false;
    --holding();
  }
}

asio::awaitable<std::error_code> StreamReader::fill() {
  if (start_ > 0) {  // drop what was consumed so the buffer never grows past max_
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  if (size() >= max_) co_return make_error_code(errc::message_too_large);
  hold();
  const std::size_t old = buf_.size();
  const std::size_t chunk = std::min<std::size_t>(4096, max_ - size());
  buf_.resize(old + chunk);
  auto r = co_await s_.read_some(asio::buffer(buf_.data() + old, chunk));
  buf_.resize(old + r.bytes);
  if (r.ec) co_return r.ec;
  if (r.bytes == 0) co_return asio::error::eof;
  co_return std::error_code{};
}

asio::awaitable<std::error_code> StreamReader::need(std::size_t n) {
  if (n > max_) co_return make_error_code(errc::message_too_large);
  while (size() < n) {
    if (auto ec = co_await fill()) co_return ec;
  }
  co_return std::error_code{};
}

std::vector<unsigned char> StreamReader::take_rest() {
  std::vector<unsigned char> out(buf_.begin() + static_cast<std::ptrdiff_t>(start_), buf_.end());
  buf_.clear();
  start_ = 0;
  return out;
}

// ---- default transport methods

asio::awaitable<Result<StreamPtr>> Dialer::handshake(StreamPtr s, Address) { co_return std::move(s); }
asio::awaitable<Result<StreamPtr>> Connector::handshake(StreamPtr s) { co_return std::move(s); }
asio::awaitable<Result<PacketConnPtr>> Connector::associate(StreamPtr conn) {
  if (conn) conn->close();
  co_return make_error_code(errc::unsupported);
}

}  // namespace gost
