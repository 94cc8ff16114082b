#pragma once
// Internal helpers shared by the WebSocket and mux transports:
//  - AsyncLock: a mutex for coroutines on one executor (serializes frame writes);
//  - StreamQueue + LayeredListener: a listener that accepts connections from an inner
//    listener and turns each one, in its own coroutine on the connection's executor, into zero
//    or more streams (a WebSocket handshake gives one; a mux session gives many). A slow
//    handshake never blocks accepting.

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "gost/core/registry.hpp"
#include "gost/core/transport.hpp"

namespace gost::ws {

// A coroutine mutex bound to one executor. unlock() wakes every waiter (they retry), so a
// waiter cancelled by a timeout never strands the others.
class AsyncLock {
 public:
  explicit AsyncLock(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  asio::awaitable<void> lock();
  void unlock();

 private:
  asio::any_io_executor ex_;
  bool locked_ = false;
  std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
};

// Streams handed from connection coroutines (any thread) to the accept() caller.
class StreamQueue : public std::enable_shared_from_this<StreamQueue> {
 public:
  explicit StreamQueue(asio::any_io_executor ex);
  // Thread-safe. Returns false (and the stream is closed) once the queue is closed.
  bool push(StreamPtr s);
  // Runs on the queue's executor; errc::closed after close(). The coroutine keeps q alive.
  static asio::awaitable<Result<StreamPtr>> pop(std::shared_ptr<StreamQueue> q);
  // Thread-safe.
  void close();
  bool closed() const;

 private:
  void signal();
  asio::any_io_executor ex_;
  mutable std::mutex mu_;
  std::deque<StreamPtr> items_;
  bool closed_ = false;
  // Touched only on ex_. The queue holds no I/O object of its own: it is shared with
  // coroutines on other threads' io_contexts, which may be torn down in any order.
  std::vector<asio::steady_timer*> waiters_;
  bool signaled_ = false;
};
using StreamQueuePtr = std::shared_ptr<StreamQueue>;

// Serves one accepted connection: pushes the streams it yields into q, returns when done.
class ConnServer {
 public:
  virtual ~ConnServer() = default;
  virtual asio::awaitable<void> serve(StreamPtr conn, StreamQueuePtr q) = 0;
};
using ConnServerPtr = std::shared_ptr<ConnServer>;

class LayeredListener final : public Listener {
 public:
  LayeredListener(ListenerPtr inner, ConnServerPtr server);
  ~LayeredListener() override;
  std::error_code listen() override;
  asio::awaitable<Result<StreamPtr>> accept() override;
  Address address() const override { return inner_->address(); }
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  void close() noexcept override;

 private:
  std::shared_ptr<Listener> inner_;
  ConnServerPtr server_;
  StreamQueuePtr queue_;
};

// The core "tcp" listener for args (bind address, backlog, reuseport, keepalive keys).
Result<ListenerPtr, ConfigError> make_tcp_listener(const ListenerArgs& args);

}  // namespace gost::ws
