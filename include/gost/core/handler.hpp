#pragma once
// Handler: serves one accepted connection of a service.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>

#include "gost/core/address.hpp"
#include "gost/core/bridge.hpp"
#include "gost/core/deadline.hpp"
#include "gost/core/stream.hpp"

namespace gost {

struct ConnRecord;

// A connection waiting for its client's next request with nothing buffered (an HTTP keep-alive
// connection between requests), parked by its handler with ConnRecord::park() instead of a
// coroutine suspended in a read: the handler's frames go while the client is quiet. Whoever
// runs the handler (Service, run_handler()) then waits until client() is readable (bytes, EOF or
// an error to read), for at most idle_timeout() (0: no limit), and calls resume(). When the time
// runs out, or the wait ends with an error (the service stopping), the connection ends: the
// parked object is destroyed, which closes its streams.
class ParkedConn {
 public:
  virtual ~ParkedConn() = default;
  virtual Stream& client() noexcept = 0;
  virtual std::chrono::milliseconds idle_timeout() const noexcept = 0;
  // Serves on, on the client stream's executor. Returns true to be parked again; false when the
  // connection is done, or has been handed over with ConnRecord::relay().
  virtual asio::awaitable<bool> resume(ConnRecord& rec) = 0;

  core::Deadline idle_deadline;  // for the driver's wait
};

// What a handler did with one connection; the service logs it as one line when it ends.
struct ConnRecord {
  std::string service;
  Address client;
  std::string protocol;  // e.g. "socks5", "http", "forward"
  std::string network = "tcp";
  std::string target;    // "host:port" the client asked for
  std::string route;     // "direct" or "node1 -> node2"
  std::string user;      // authenticated client id
  std::uint64_t bytes_up = 0;    // client -> target
  std::uint64_t bytes_down = 0;  // target -> client
  std::error_code ec;    // why it ended, if it was an error
  std::string error;     // extra error text

  // A handler whose last step is a plain relay between the client and the upstream stream
  // hands both over with relay() and returns: the service runs the relay (and adds its byte
  // counts and error to this record), so the handler's coroutine frame is not kept alive for
  // the whole life of a long, idle connection.
  struct Handoff {
    StreamPtr client;
    StreamPtr upstream;
    BridgeOptions opts;
  };
  std::optional<Handoff> handoff;  // in place: handing over allocates nothing
  void relay(StreamPtr from_client, StreamPtr to_upstream, BridgeOptions opts = {}) {
    handoff.emplace(Handoff{std::move(from_client), std::move(to_upstream), opts});
  }

  // A handler that has to wait for the client's next request may return after park() (see
  // ParkedConn); the connection then holds no coroutine frame until the client sends.
  std::unique_ptr<ParkedConn> parked;
  void park(std::unique_ptr<ParkedConn> p) { parked = std::move(p); }
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Serves conn until done; owns conn. Runs on conn->get_executor(). Never throws for bad input:
  // it records the error in rec and returns. Cancellation (service stop) closes conn.
  // A handler may end by handing conn and its upstream to rec.relay(), or by parking the
  // connection with rec.park(); whoever called handle() then relays them, or waits and resumes
  // the parked connection (Service does; see run_handler()).
  virtual asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) = 0;
};
using HandlerPtr = std::shared_ptr<Handler>;

// Runs handler->handle(conn, rec), then waits for and resumes a parked connection until it is
// done, then runs the relay it handed over, if any. Callers that drive a handler themselves
// (instead of through a Service) use this.
asio::awaitable<void> run_handler(Handler& handler, StreamPtr conn, ConnRecord& rec);

}  // namespace gost
