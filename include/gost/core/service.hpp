#pragma once
// Service = Listener + Handler: accepts connections (backing off on errors), checks
// admission, runs the handler for each on its own thread, and logs one line per connection.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "gost/core/bypass.hpp"
#include "gost/core/handler.hpp"
#include "gost/core/log.hpp"
#include "gost/core/runtime.hpp"
#include "gost/core/transport.hpp"

namespace gost {

struct ServiceStats {
  std::uint64_t total_conns = 0;
  std::uint64_t current_conns = 0;
  std::uint64_t total_errs = 0;
  std::uint64_t input_bytes = 0;   // from clients
  std::uint64_t output_bytes = 0;  // to clients
};

struct ServiceOptions {
  std::string name;
  AdmissionPtr admission;
  LoggerPtr logger;  // nullptr: Logger::global()
  std::string protocol;  // handler name, for logs
};

class Service : public std::enable_shared_from_this<Service> {
 public:
  Service(Runtime& rt, ServiceOptions opts, ListenerPtr listener, HandlerPtr handler);
  ~Service();

  // Binds the listener and starts accepting. Errors name the address.
  std::error_code start();
  // Stops accepting and closes every live connection. Thread-safe; returns at once.
  void stop();
  // Waits (bounded) until every connection task has ended after stop().
  bool wait_stopped(std::chrono::milliseconds max_wait);

  Address address() const;
  const std::string& name() const noexcept { return opts_.name; }
  ServiceStats stats() const;

  struct State;

 private:
  Runtime& rt_;
  ServiceOptions opts_;
  ListenerPtr listener_;
  HandlerPtr handler_;
  std::shared_ptr<State> state_;
};
using ServicePtr = std::shared_ptr<Service>;

}  // namespace gost
