#pragma once
// From a Config to running services, through the builders of gost/builder.hpp.
//
// App::create() builds every bypass, admission, auther, hop, chain and service the config
// describes, checking everything a user can get wrong before anything listens: a name that is
// referenced but not defined, a component type the registry does not have
// (`unknown handler type "xyz" in service "service-0"`), a bad matcher or duration, a GOST
// feature this build does not implement (`service "s": "limiter" is not supported by this
// build`). The name fallbacks of the command line (unknown handler -> auto, ...) do not apply
// here, as in GOST. App::start() then binds the listeners.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "gost/config/config.hpp"
#include "gost/core/auth.hpp"
#include "gost/core/bypass.hpp"
#include "gost/core/chain.hpp"
#include "gost/core/log.hpp"
#include "gost/core/registry.hpp"
#include "gost/core/runtime.hpp"
#include "gost/core/service.hpp"

namespace gost::config {

class App {
 public:
  // logger: for the components and the "listening" lines (nullptr: Logger::global()).
  static Result<std::unique_ptr<App>, ConfigError> create(Runtime& runtime,
                                                          const Registry& registry,
                                                          const Config& cfg,
                                                          LoggerPtr logger = nullptr);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Starts every service in config order and logs, for each, one line
  //   msg=listening service=<name> addr=<bound host:port> handler=<type> listener=<type>
  // On the first failure, stops the services already started, sets *what (if given) to a line
  // naming the service and its address, and returns the error. The runtime should be running.
  std::error_code start(std::string* what = nullptr);
  // Stops every service and waits (bounded by max_wait in total) for their connections to end.
  void stop(std::chrono::milliseconds max_wait = std::chrono::seconds(5));

  const std::vector<ServicePtr>& services() const noexcept { return services_; }
  ServicePtr service(std::string_view name) const;
  ChainPtr chain(std::string_view name) const;
  HopPtr hop(std::string_view name) const;
  BypassPtr bypass(std::string_view name) const;
  AdmissionPtr admission(std::string_view name) const;
  AutherPtr auther(std::string_view name) const;

  struct ServiceInfo {
    std::string addr;  // as configured
    std::string handler;
    std::string listener;
  };

 private:
  App() = default;
  friend class Loader;

  LoggerPtr logger_;
  std::vector<ServicePtr> services_;
  std::vector<ServiceInfo> info_;
  std::map<std::string, ChainPtr, std::less<>> chains_;
  std::map<std::string, HopPtr, std::less<>> hops_;
  std::map<std::string, BypassPtr, std::less<>> bypasses_;
  std::map<std::string, AdmissionPtr, std::less<>> admissions_;
  std::map<std::string, AutherPtr, std::less<>> authers_;
  bool started_ = false;
};

// Applies `log: {level, format, output}` to logger (Logger::global() for the CLI). Unknown
// levels or formats and unwritable outputs are errors; empty fields leave the logger as is.
std::optional<ConfigError> apply_log_config(const LogConfig& log, Logger& logger);

}  // namespace gost::config
