#pragma once
// Handler: serves one accepted connection of a service.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>

#include "gost/core/address.hpp"
#include "gost/core/stream.hpp"

namespace gost {

// What a handler did with one connection; the service logs it as one line when it ends.
struct ConnRecord {
  std::string service;
  Address client;
  Address local;
  std::string protocol;  // e.g. "socks5", "http", "forward"
  std::string network = "tcp";
  std::string target;    // "host:port" the client asked for
  std::string route;     // "direct" or "node1 -> node2"
  std::string user;      // authenticated client id
  std::uint64_t bytes_up = 0;    // client -> target
  std::uint64_t bytes_down = 0;  // target -> client
  std::error_code ec;    // why it ended, if it was an error
  std::string error;     // extra error text
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Serves conn until done; owns conn. Runs on conn->get_executor(). Never throws for bad input:
  // it records the error in rec and returns. Cancellation (service stop) closes conn.
  virtual asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) = 0;
};
using HandlerPtr = std::shared_ptr<Handler>;

}  // namespace gost
