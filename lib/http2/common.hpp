#pragma once
// Internal pieces shared by the h2/h2c, http2 and grpc transports.

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gost/core/registry.hpp"
#include "gost/http2/session.hpp"

namespace gost::http2 {

// Streams handed from connection coroutines (any thread) to the accept() caller, bounded:
// push() refuses (and closes) a stream when `cap` are already waiting, as GOST's listeners
// drop a connection when their queue (backlog) is full.
class StreamQueue : public std::enable_shared_from_this<StreamQueue> {
 public:
  StreamQueue(asio::any_io_executor ex, std::size_t cap);
  // Thread-safe. False when the queue is closed or full (the stream is dropped).
  bool push(StreamPtr s);
  // Runs on the queue's executor; errc::closed after close().
  asio::awaitable<Result<StreamPtr>> pop();
  // Thread-safe.
  void close();
  bool closed() const;

 private:
  asio::any_io_executor ex_;
  std::size_t cap_;
  mutable std::mutex mu_;
  std::deque<StreamPtr> items_;
  bool closed_ = false;
  asio::steady_timer timer_;  // touched only on ex_
};
using StreamQueuePtr = std::shared_ptr<StreamQueue>;

// Client sessions shared per node address and executor (a session is bound to one executor).
class SessionCache {
 public:
  // A live session for key on ex, or nullptr.
  SessionPtr find(const std::string& key, const asio::any_io_executor& ex);
  void put(const std::string& key, const asio::any_io_executor& ex, const SessionPtr& s);

 private:
  struct Entry {
    std::string key;
    asio::any_io_executor ex;
    std::weak_ptr<Session> s;
  };
  std::mutex mu_;
  std::vector<Entry> entries_;
};

// TLS for h2, http2 and grpc (ALPN "h2"), from the node's / service's tls metadata.
class TlsServer {
 public:
  virtual ~TlsServer() = default;
  virtual asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s) = 0;
};
class TlsClient {
 public:
  virtual ~TlsClient() = default;
  virtual asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, std::string server_name) = 0;
};
Result<std::shared_ptr<TlsServer>, ConfigError> make_tls_server(const Metadata& md);
Result<std::shared_ptr<TlsClient>, ConfigError> make_tls_client(const Metadata& md);

// A stream that belongs to a dialer until its first handshake() (the router calls dial()
// then handshake() on the first node: a multiplexed dialer does all the work in dial()).
class DialedStream : public Stream {
 public:
  explicit DialedStream(StreamPtr inner) : inner_(std::move(inner)) {}
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override {
    return inner_->read_some(b);
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override {
    return inner_->write_some(b);
  }
  asio::awaitable<std::error_code> shutdown_write() override { return inner_->shutdown_write(); }
  asio::awaitable<std::error_code> wait_readable() override { return inner_->wait_readable(); }
  void close() noexcept override { inner_->close(); }
  Address local_address() const override { return inner_->local_address(); }
  Address remote_address() const override { return inner_->remote_address(); }
  // True once: the first handshake() passes the stream through.
  bool take_fresh() noexcept {
    bool f = fresh_;
    fresh_ = false;
    return f;
  }
  StreamPtr release() noexcept { return std::move(inner_); }
  Stream& inner() noexcept { return *inner_; }

 private:
  StreamPtr inner_;
  bool fresh_ = true;
};

// A gRPC GostTunel.Tunnel call as a byte stream: writes become Chunk messages, reads return
// the data of received Chunks. A client reads the response status from the trailers at EOF
// (grpc-status other than 0 is an error).
StreamPtr make_grpc_stream(ExchangePtr ex, bool client);

// Lower-cases a header name (HTTP/2 field names are lower case).
std::string lower(std::string_view s);

// Session options from metadata (http2.* keys are not GOST's; defaults otherwise).
Options session_options(const Metadata& md);
// Client session health check (PING) settings: GOST's grpc keepalive keys, 30s otherwise.
void client_keepalive(const Metadata& md, Options& o, bool grpc);

// The core "tcp" listener for args.
Result<ListenerPtr, ConfigError> make_tcp_listener(const ListenerArgs& args);

}  // namespace gost::http2
