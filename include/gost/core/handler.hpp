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
#include "gost/core/stream.hpp"

namespace gost {

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
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Serves conn until done; owns conn. Runs on conn->get_executor(). Never throws for bad input:
  // it records the error in rec and returns. Cancellation (service stop) closes conn.
  // A handler may end by handing conn and its upstream to rec.relay(); whoever called handle()
  // then relays them (Service does; see run_handler()).
  virtual asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) = 0;
};
using HandlerPtr = std::shared_ptr<Handler>;

// Runs handler->handle(conn, rec) and then the relay it handed over, if any. Callers that
// drive a handler themselves (instead of through a Service) use this.
asio::awaitable<void> run_handler(Handler& handler, StreamPtr conn, ConnRecord& rec);

}  // namespace gost
