#pragma once
// Stream and PacketConn: the two I/O abstractions every layer implements.
//
// A Stream is a reliable byte stream (TCP, TLS, WebSocket, mux substream, QUIC stream, KCP
// session) or, when is_datagram() is true, a connected message stream (each read_some returns one
// datagram, each write_some sends one). Layers stack: a TLS stream owns the Stream below it.
//
// Threading: a Stream is bound to one executor (get_executor()) and must only be used from it.
// Cancellation: close() makes pending operations complete with asio::error::operation_aborted
// (or another error); per-operation cancellation through Asio's cancellation slots is supported
// by every implementation in gost, so `(op || timer)` timeouts work.
// EOF: read_some completes with asio::error::eof when the peer has finished sending.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

#include "gost/core/address.hpp"

namespace gost {

struct IoResult {
  std::error_code ec;
  std::size_t bytes = 0;
};

class Stream {
 public:
  virtual ~Stream() = default;

  virtual asio::any_io_executor get_executor() = 0;
  // Reads at least one byte (or one datagram). ec == asio::error::eof at the end of the stream.
  virtual asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) = 0;
  // Writes at least one byte (or one whole datagram).
  virtual asio::awaitable<IoResult> write_some(asio::const_buffer buf) = 0;
  // Half-close: no more writes (TCP FIN, WebSocket close, stream FIN).
  virtual asio::awaitable<std::error_code> shutdown_write() = 0;
  // Closes both directions at once and cancels pending operations. Idempotent.
  virtual void close() noexcept = 0;

  // Completes when data (or EOF/error) is ready to read, without consuming it, so an idle
  // connection needs no buffer. The default completes at once (callers then read_some).
  virtual asio::awaitable<std::error_code> wait_readable();

  // Callback-style readiness, for relays that hold no coroutine frame while idle (optional).
  // When has_ready_callback() is true, async_wait_readable(h) arranges for h to be called once,
  // on this stream's executor, when read_some would make progress without waiting for the peer
  // (data, EOF or an error), and close() makes a pending wait complete with an error. h is
  // never called from inside async_wait_readable. The defaults use tcp_socket() when there is
  // one; a stream layered on another forwards to it when nothing is buffered, or posts h.
  using ReadyHandler = std::function<void(std::error_code)>;
  virtual bool has_ready_callback() noexcept { return tcp_socket() != nullptr; }
  virtual void async_wait_readable(ReadyHandler h);

  virtual Address local_address() const { return {}; }
  virtual Address remote_address() const { return {}; }
  virtual bool is_datagram() const noexcept { return false; }
  // Fast path: the plain TCP socket under this stream when nothing is layered or buffered on
  // top of it (used for splice(2) relays). nullptr otherwise.
  virtual asio::ip::tcp::socket* tcp_socket() noexcept { return nullptr; }

  // Moving a relayed connection to the thread its upstream runs on (Service does this before
  // the relay starts, so the relay makes no thread hops):
  // - io_home(): when this stream's operations hop to another executor to run (a stream of a
  //   mux session shared by the runtime's threads), that executor; nullptr otherwise. A stream
  //   layered on another forwards to it.
  // - movable(): whether move_to() can rebind this stream (and everything under it) to
  //   another executor.
  // - move_to(ex): called on the current executor with no operation pending, only when
  //   movable(); the stream is used from ex only afterwards. A hopping stream can move only to
  //   its io_home() (it then runs its operations directly).
  virtual const asio::any_io_executor* io_home() const noexcept { return nullptr; }
  virtual bool movable() const noexcept { return false; }
  virtual asio::awaitable<void> move_to(asio::any_io_executor ex);
};
using StreamPtr = std::unique_ptr<Stream>;

// Runs a readiness handler on ex with ec (a stream whose answer is known at once: bytes already
// buffered, closed...); async_wait_readable() never calls its handler inline.
void post_ready(const asio::any_io_executor& ex, Stream::ReadyHandler h, std::error_code ec = {});

// Reads exactly buf.size() bytes. A short stream gives asio::error::eof.
asio::awaitable<std::error_code> read_exact(Stream& s, asio::mutable_buffer buf);
// Writes all of buf.
asio::awaitable<std::error_code> write_all(Stream& s, asio::const_buffer buf);

struct PacketResult {
  std::error_code ec;
  std::size_t bytes = 0;
  Address from;
};

// An unconnected datagram socket: every datagram carries its peer address.
class PacketConn {
 public:
  virtual ~PacketConn() = default;
  virtual asio::any_io_executor get_executor() = 0;
  virtual asio::awaitable<PacketResult> recv_from(asio::mutable_buffer buf) = 0;
  // `to` may hold a domain name; implementations resolve it or pass it on to a proxy.
  virtual asio::awaitable<std::error_code> send_to(asio::const_buffer buf, Address to) = 0;
  virtual void close() noexcept = 0;
  virtual Address local_address() const { return {}; }
};
using PacketConnPtr = std::unique_ptr<PacketConn>;

// A plain TCP connection. The fast path (tcp_socket()) is available.
class TcpStream final : public Stream {
 public:
  explicit TcpStream(asio::ip::tcp::socket sock);
  // peer: the address accept(2) returned, so remote_address() needs no getpeername(2).
  TcpStream(asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer);
  ~TcpStream() override;
  asio::any_io_executor get_executor() override;
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override;
  asio::awaitable<std::error_code> shutdown_write() override;
  asio::awaitable<std::error_code> wait_readable() override;
  void close() noexcept override;
  Address local_address() const override;
  Address remote_address() const override;
  asio::ip::tcp::socket* tcp_socket() noexcept override { return &sock_; }
  asio::ip::tcp::socket& socket() noexcept { return sock_; }
  bool movable() const noexcept override { return true; }
  asio::awaitable<void> move_to(asio::any_io_executor ex) override;
  // Counts this connection in *live until it is destroyed or moves to another thread
  // (Runtime::live, for listeners that balance their threads).
  void count_in(std::atomic<long>* live) noexcept;

 private:
  void uncount() noexcept;

  asio::ip::tcp::socket sock_;
  asio::ip::tcp::endpoint peer_;  // port 0 until known
  std::atomic<long>* live_ = nullptr;
  int burst_ = 0;  // reads and writes completed without waiting, in a row
};

// A stream that first returns `prefix` (bytes already read from `inner` by a handshake parser)
// and then reads from `inner`. Writes go straight to `inner`. If prefix is empty the caller
// should use `inner` directly (make_prefixed does).
class PrefixedStream final : public Stream {
 public:
  PrefixedStream(StreamPtr inner, std::vector<unsigned char> prefix);
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override;
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override;
  asio::awaitable<std::error_code> shutdown_write() override;
  asio::awaitable<std::error_code> wait_readable() override;
  bool has_ready_callback() noexcept override { return inner_->has_ready_callback(); }
  void async_wait_readable(ReadyHandler h) override;
  void close() noexcept override;
  Address local_address() const override { return inner_->local_address(); }
  Address remote_address() const override { return inner_->remote_address(); }
  bool is_datagram() const noexcept override { return inner_->is_datagram(); }
  asio::ip::tcp::socket* tcp_socket() noexcept override;
  const asio::any_io_executor* io_home() const noexcept override { return inner_->io_home(); }
  bool movable() const noexcept override { return inner_->movable(); }
  asio::awaitable<void> move_to(asio::any_io_executor ex) override { return inner_->move_to(std::move(ex)); }

 private:
  StreamPtr inner_;
  std::vector<unsigned char> prefix_;
  std::size_t off_ = 0;
};

// Wraps `inner` so that `prefix` is read first; returns inner itself when prefix is empty.
StreamPtr make_prefixed(StreamPtr inner, std::vector<unsigned char> prefix);

// Reads from a stream into a growable buffer for handshake parsing. Keeps what it read past the
// parsed message so it can be handed back with make_prefixed().
class StreamReader {
 public:
  explicit StreamReader(Stream& s, std::size_t max_size = 64 * 1024) : s_(s), max_(max_size) {}
  ~StreamReader();
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;
  // Bytes read and not yet consumed.
  const unsigned char* data() const noexcept { return buf_.data() + start_; }
  std::size_t size() const noexcept { return buf_.size() - start_; }
  // Reads more bytes (at least one). Fails with errc::message_too_large past max_size.
  asio::awaitable<std::error_code> fill();
  // Ensures at least n unconsumed bytes are buffered.
  asio::awaitable<std::error_code> need(std::size_t n);
  void consume(std::size_t n) noexcept { start_ += n; }
  // Takes the unconsumed bytes out.
  std::vector<unsigned char> take_rest();
  // Gives the storage back when nothing unconsumed is left, so a reader kept for the life of a
  // connection (a protocol's reply parser, a keep-alive connection's request reader between
  // requests) holds no buffer while it waits. Storage is parked per thread (core::VectorPool)
  // and taken again by the next fill(), so this costs no allocation per message.
  void release_if_empty() noexcept;
  // Bytes of storage held (for tests and diagnostics).
  std::size_t capacity() const noexcept { return buf_.capacity(); }
  // Readers holding storage, counted on the thread that gave it to them (tests use it to check
  // that idle connections hold none).
  static long& holding() noexcept;

 private:
  Stream& s_;
  std::size_t max_;
  void hold() noexcept;
  std::vector<unsigned char> buf_;
  std::size_t start_ = 0;
  bool held_ = false;  // counted in holding()
};

}  // namespace gost
