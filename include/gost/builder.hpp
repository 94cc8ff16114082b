#pragma once
// Building chains and services in code: the library's main entry point.
//
// The builders compose what a GOST config describes, with the same defaults and names, using
// the components a Registry knows (fill it with gost::register_builtin_modules(), or with the
// modules you link). Every builder is a value: setters return *this for chaining, build() is
// const and may be called more than once, and errors are ConfigErrors whose message names the
// object and the value (`unknown handler type "xyz" in service "s"`).
//
//   gost::Registry reg;
//   gost::register_builtin_modules(reg);
//   gost::Runtime rt;                       // one thread per core
//
//   // A chain with one hop and one node: SOCKS5 over TCP to 127.0.0.1:1080.
//   auto chain = gost::ChainBuilder(reg)
//                    .name("chain-0")
//                    .hop(gost::HopBuilder("hop-0").node(
//                        gost::NodeBuilder("node-0", "127.0.0.1:1080")
//                            .connector("socks5")
//                            .dialer("tcp")
//                            .auth("user", "pass")))
//                    .build();
//   if (!chain) { std::fprintf(stderr, "%s\n", chain.error().message.c_str()); return 1; }
//
//   // An HTTP proxy on :8080 whose traffic goes through the chain.
//   auto svc = gost::ServiceBuilder(rt, reg)
//                  .name("http-proxy")
//                  .addr(":8080")
//                  .handler("http")
//                  .listener("tcp")
//                  .chain(*chain)
//                  .auth("u", "p")
//                  .build();
//   rt.start();
//   if (svc && !(*svc)->start()) { ... (*svc)->address() is the bound address ... }
//
//   // Port forwarding: :2222 -> one of two targets (round robin, failed targets skipped).
//   auto fwd = gost::ServiceBuilder(rt, reg).name("ssh").addr(":2222").handler("tcp")
//                  .forward({"10.0.0.2:22", "10.0.0.3:22"}).build();
//
// Metadata keys are GOST's (`udp`, `keepalive`, `ttl`, `readTimeout`, ...). As on GOST's command
// line, metadata(key, value) on a NodeBuilder reaches the node, its connector and its dialer, and
// on a ServiceBuilder the handler, the listener and the service; the *_metadata() setters pin a
// key to one of them.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/auth.hpp"
#include "gost/core/bypass.hpp"
#include "gost/core/chain.hpp"
#include "gost/core/error.hpp"
#include "gost/core/log.hpp"
#include "gost/core/metadata.hpp"
#include "gost/core/registry.hpp"
#include "gost/core/runtime.hpp"
#include "gost/core/selector.hpp"
#include "gost/core/service.hpp"

namespace gost {

// One chain node: a dialer (transport to the node) and a connector (the proxy protocol spoken to
// it). Defaults as in GOST: connector "http", dialer "tcp".
class NodeBuilder {
 public:
  NodeBuilder(std::string name, std::string addr);

  NodeBuilder& connector(std::string type);
  NodeBuilder& dialer(std::string type);
  // Credentials the connector presents to the node (SOCKS5 user/pass, HTTP Basic, ...).
  NodeBuilder& auth(std::string username, std::string password);
  // Node, connector and dialer metadata (like an unprefixed -F query key).
  NodeBuilder& metadata(std::string key, std::string value);
  NodeBuilder& node_metadata(std::string key, std::string value);
  NodeBuilder& connector_metadata(std::string key, std::string value);
  NodeBuilder& dialer_metadata(std::string key, std::string value);
  // Targets the bypass contains are not sent through this node (it is skipped).
  NodeBuilder& bypass(BypassPtr b);
  // Selection: weight for the rand strategy, backup nodes are used only when no other node is,
  // and per-node fail filter settings (default: the hop selector's). Node metadata `weight`,
  // `backup`, `maxFails` and `failTimeout` set the same when these are not called.
  NodeBuilder& weight(int w);
  NodeBuilder& backup(bool b = true);
  NodeBuilder& max_fails(int n);
  NodeBuilder& fail_timeout(std::chrono::milliseconds d);
  NodeBuilder& logger(LoggerPtr l);

  const std::string& name() const noexcept { return name_; }

  // A chain node: creates the dialer and connector from the registry.
  Result<NodePtr, ConfigError> build(const Registry& registry) const;
  // A forward target (no dialer or connector: the service dials addr itself, or through its
  // chain). Checks that addr is host:port.
  Result<NodePtr, ConfigError> build_target() const;

 private:
  Result<NodePtr, ConfigError> base() const;

  std::string name_;
  std::string addr_;
  std::string connector_ = "http";
  std::string dialer_ = "tcp";
  std::optional<Credentials> auth_;
  Metadata node_md_, connector_md_, dialer_md_;
  BypassPtr bypass_;
  std::optional<int> weight_;
  std::optional<bool> backup_;
  std::optional<int> max_fails_;
  std::optional<std::chrono::milliseconds> fail_timeout_;
  LoggerPtr logger_;
};

// A hop: a set of nodes of which one is selected per connection. The selector defaults are
// GOST's: strategy round, maxFails 1, failTimeout 10s.
class HopBuilder {
 public:
  explicit HopBuilder(std::string name = {});

  HopBuilder& name(std::string n);
  HopBuilder& node(NodeBuilder n);
  HopBuilder& node(NodePtr n);
  // Forward targets (for ServiceBuilder::forward): nodes without a dialer or connector.
  HopBuilder& target(std::string addr);
  HopBuilder& target(NodeBuilder n);
  HopBuilder& selector(SelectorConfig s);
  HopBuilder& strategy(std::string s);  // round|rr, rand|random, fifo|ha, hash
  HopBuilder& max_fails(int n);
  HopBuilder& fail_timeout(std::chrono::milliseconds d);
  // Targets the bypass contains stop the route before this hop.
  HopBuilder& bypass(BypassPtr b);

  const std::string& name() const noexcept { return name_; }

  // registry may be null when the hop has only targets and prebuilt nodes. A hop needs at
  // least one node.
  Result<HopPtr, ConfigError> build(const Registry* registry) const;
  Result<HopPtr, ConfigError> build(const Registry& registry) const { return build(&registry); }

 private:
  struct Entry {
    std::variant<NodeBuilder, NodePtr> node;
    bool target = false;
  };
  std::string name_;
  std::vector<Entry> nodes_;
  SelectorConfig selector_{"round", 0, std::chrono::milliseconds(0)};
  BypassPtr bypass_;
};

// A chain: hops in order. A chain without hops connects directly.
class ChainBuilder {
 public:
  explicit ChainBuilder(const Registry& registry);

  ChainBuilder& name(std::string n);
  ChainBuilder& hop(HopBuilder h);
  ChainBuilder& hop(HopPtr h);  // shared with other chains
  ChainBuilder& metadata(std::string key, std::string value);

  Result<ChainPtr, ConfigError> build() const;

 private:
  const Registry* registry_;
  std::string name_;
  std::vector<std::variant<HopBuilder, HopPtr>> hops_;
  Metadata metadata_;
};

// A service: a listener accepting connections on addr and a handler serving each of them,
// reaching targets directly or through a chain. Defaults as in GOST: handler "auto", listener
// "tcp", no retries. build() creates the listener and handler but binds nothing; call
// Service::start() (with the runtime started) to listen.
class ServiceBuilder {
 public:
  ServiceBuilder(Runtime& runtime, const Registry& registry);

  ServiceBuilder& name(std::string n);  // default "service"
  ServiceBuilder& addr(std::string a);  // "host:port", ":port"; port 0 picks a free port
  ServiceBuilder& handler(std::string type);
  ServiceBuilder& listener(std::string type);

  // Handler, listener and service metadata (like an unprefixed -L query key).
  ServiceBuilder& metadata(std::string key, std::string value);
  ServiceBuilder& handler_metadata(std::string key, std::string value);
  ServiceBuilder& listener_metadata(std::string key, std::string value);
  // Service-level keys: dialTimeout (per-attempt dial timeout), ignoreChain.
  ServiceBuilder& service_metadata(std::string key, std::string value);

  ServiceBuilder& chain(ChainPtr c);
  // The chain of listeners that bind through it (rtcp, rudp: remote port forwarding); the
  // handler then dials directly unless chain() is also set.
  ServiceBuilder& listener_chain(ChainPtr c);
  ServiceBuilder& retries(int n);                        // extra dial attempts, each on a new route
  ServiceBuilder& timeout(std::chrono::milliseconds t);  // per dial attempt
  // Replaces the router built from chain/retries/timeout.
  ServiceBuilder& router(RouterPtr r);

  // Clients must authenticate: with these credentials, or with any of the authers (authers
  // take precedence over auth(), as handler.auther does over handler.auth in GOST).
  ServiceBuilder& auth(std::string username, std::string password);
  ServiceBuilder& auther(AutherPtr a);
  // Credentials / authers for listeners that authenticate themselves (ssh).
  ServiceBuilder& listener_auth(std::string username, std::string password);
  ServiceBuilder& listener_auther(AutherPtr a);

  // Targets a bypass contains are refused; several bypasses combine as a GOST bypass group.
  ServiceBuilder& bypass(BypassPtr b);
  // Clients an admission refuses are closed at accept; several must all admit.
  ServiceBuilder& admission(AdmissionPtr a);

  // Port forwarding: the handler (tcp, udp, forward, ...) relays to one of these targets.
  ServiceBuilder& forward(std::vector<std::string> targets);
  ServiceBuilder& forward(std::initializer_list<std::string> targets) {
    return forward(std::vector<std::string>(targets));
  }
  ServiceBuilder& forward(HopBuilder targets);
  ServiceBuilder& forward(HopPtr targets);

  ServiceBuilder& logger(LoggerPtr l);

  Result<ServicePtr, ConfigError> build() const;

 private:
  Runtime* runtime_;
  const Registry* registry_;
  std::string name_ = "service";
  std::string addr_;
  std::string handler_ = "auto";
  std::string listener_ = "tcp";
  Metadata handler_md_, listener_md_, service_md_;
  ChainPtr chain_;
  ChainPtr listener_chain_;
  int retries_ = 0;
  std::optional<std::chrono::milliseconds> timeout_;
  RouterPtr router_;
  std::optional<Credentials> auth_;
  std::vector<AutherPtr> authers_;
  std::optional<Credentials> listener_auth_;
  std::vector<AutherPtr> listener_authers_;
  std::vector<BypassPtr> bypasses_;
  std::vector<AdmissionPtr> admissions_;
  std::optional<std::variant<HopBuilder, HopPtr>> forward_;
  LoggerPtr logger_;
};

}  // namespace gost
