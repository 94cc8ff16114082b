#include "gost/builder.hpp"

#include <fmt/format.h>

namespace gost {
namespace {

ConfigError prefixed(std::string_view what, const ConfigError& e) {
  return ConfigError{fmt::format("{}: {}", what, e.message)};
}

// Service-level metadata GOST acts on that this build cannot honour: silently ignoring an
// outgoing interface, a firewall mark or PROXY protocol would change where traffic goes.
constexpr const char* kUnsupportedServiceKeys[] = {"interface", "so_mark",       "netns",
                                                   "netns.out", "proxyProtocol", "preUp",
                                                   "preDown",   "postUp",        "postDown"};

bool md_value_set(const Metadata& md, std::string_view key) {
  auto v = md.get(key);
  if (!v) return false;
  return !(v->empty() || *v == "0" || *v == "false" || *v == "[]" || *v == "{}");
}

}  // namespace

// --- NodeBuilder
// ----------------------------------------------------------------------------------

NodeBuilder::NodeBuilder(std::string name, std::string addr)
    : name_(std::move(name)), addr_(std::move(addr)) {}

NodeBuilder& NodeBuilder::connector(std::string type) {
  connector_ = std::move(type);
  return *this;
}
NodeBuilder& NodeBuilder::dialer(std::string type) {
  dialer_ = std::move(type);
  return *this;
}
NodeBuilder& NodeBuilder::auth(std::string username, std::string password) {
  auth_ = Credentials{std::move(username), std::move(password)};
  return *this;
}
NodeBuilder& NodeBuilder::metadata(std::string key, std::string value) {
  node_md_.set(key, value);
  connector_md_.set(key, value);
  dialer_md_.set(key, std::move(value));
  return *this;
}
NodeBuilder& NodeBuilder::node_metadata(std::string key, std::string value) {
  node_md_.set(key, std::move(value));
  return *this;
}
NodeBuilder& NodeBuilder::connector_metadata(std::string key, std::string value) {
  connector_md_.set(key, std::move(value));
  return *this;
}
NodeBuilder& NodeBuilder::dialer_metadata(std::string key, std::string value) {
  dialer_md_.set(key, std::move(value));
  return *this;
}
NodeBuilder& NodeBuilder::bypass(BypassPtr b) {
  bypass_ = std::move(b);
  return *this;
}
NodeBuilder& NodeBuilder::weight(int w) {
  weight_ = w;
  return *this;
}
NodeBuilder& NodeBuilder::backup(bool b) {
  backup_ = b;
  return *this;
}
NodeBuilder& NodeBuilder::max_fails(int n) {
  max_fails_ = n;
  return *this;
}
NodeBuilder& NodeBuilder::fail_timeout(std::chrono::milliseconds d) {
  fail_timeout_ = d;
  return *this;
}
NodeBuilder& NodeBuilder::logger(LoggerPtr l) {
  logger_ = std::move(l);
  return *this;
}

Result<NodePtr, ConfigError> NodeBuilder::base() const {
  auto a = Address::parse(addr_);
  if (!a || a->port == 0) {
    return config_error(
        fmt::format("node \"{}\": invalid address \"{}\" (want host:port)", name_, addr_));
  }
  auto n = std::make_shared<Node>();
  n->name = name_;
  n->addr = addr_;
  n->bypass = bypass_;
  n->metadata = node_md_;
  n->weight = weight_.value_or(static_cast<int>(node_md_.get_int("weight", 1)));
  if (n->weight <= 0) n->weight = 1;
  n->backup = backup_.value_or(node_md_.get_bool("backup"));
  if (max_fails_) {
    n->max_fails = *max_fails_;
  } else if (node_md_.contains("maxFails")) {
    n->max_fails = static_cast<int>(node_md_.get_int("maxFails", -1));
  }
  if (fail_timeout_) {
    n->fail_timeout = *fail_timeout_;
  } else if (node_md_.contains("failTimeout")) {
    n->fail_timeout = node_md_.get_duration("failTimeout", std::chrono::milliseconds(-1));
  }
  return n;
}

Result<NodePtr, ConfigError> NodeBuilder::build_target() const { return base(); }

Result<NodePtr, ConfigError> NodeBuilder::build(const Registry& registry) const {
  auto n = base();
  if (!n) return n;
  const std::string c = connector_.empty() ? "http" : connector_;
  const std::string d = dialer_.empty() ? "tcp" : dialer_;
  const auto* cf = registry.connector(c);
  if (!cf)
    return config_error(fmt::format("unknown connector type \"{}\" in node \"{}\"", c, name_));
  const auto* df = registry.dialer(d);
  if (!df) return config_error(fmt::format("unknown dialer type \"{}\" in node \"{}\"", d, name_));
  auto node_addr = *Address::parse(addr_);

  DialerArgs da;
  da.metadata = dialer_md_;
  da.node_addr = node_addr;
  da.logger = logger_;
  auto dialer = (*df)(da);
  if (!dialer) return prefixed(fmt::format("node \"{}\": dialer \"{}\"", name_, d), dialer.error());

  ConnectorArgs ca;
  ca.metadata = connector_md_;
  ca.auth = auth_;
  ca.node_addr = node_addr;
  ca.logger = logger_;
  auto connector = (*cf)(ca);
  if (!connector) {
    return prefixed(fmt::format("node \"{}\": connector \"{}\"", name_, c), connector.error());
  }
  (*n)->dialer = std::move(*dialer);
  (*n)->connector = std::move(*connector);
  return n;
}

// --- HopBuilder
// -----------------------------------------------------------------------------------

HopBuilder::HopBuilder(std::string name) : name_(std::move(name)) {}

HopBuilder& HopBuilder::name(std::string n) {
  name_ = std::move(n);
  return *this;
}
HopBuilder& HopBuilder::node(NodeBuilder n) {
  nodes_.push_back({std::move(n), false});
  return *this;
}
HopBuilder& HopBuilder::node(NodePtr n) {
  nodes_.push_back({std::move(n), false});
  return *this;
}
HopBuilder& HopBuilder::target(std::string addr) {
  std::string name = fmt::format("target-{}", nodes_.size());
  nodes_.push_back({NodeBuilder(std::move(name), std::move(addr)), true});
  return *this;
}
HopBuilder& HopBuilder::target(NodeBuilder n) {
  nodes_.push_back({std::move(n), true});
  return *this;
}
HopBuilder& HopBuilder::selector(SelectorConfig s) {
  selector_ = std::move(s);
  return *this;
}
HopBuilder& HopBuilder::strategy(std::string s) {
  selector_.strategy = std::move(s);
  return *this;
}
HopBuilder& HopBuilder::max_fails(int n) {
  selector_.max_fails = n;
  return *this;
}
HopBuilder& HopBuilder::fail_timeout(std::chrono::milliseconds d) {
  selector_.fail_timeout = d;
  return *this;
}
HopBuilder& HopBuilder::bypass(BypassPtr b) {
  bypass_ = std::move(b);
  return *this;
}

Result<HopPtr, ConfigError> HopBuilder::build(const Registry* registry) const {
  auto hop = std::make_shared<Hop>();
  hop->name = name_;
  hop->bypass = bypass_;
  if (nodes_.empty()) return config_error(fmt::format("hop \"{}\" has no nodes", name_));
  for (const auto& e : nodes_) {
    if (const auto* p = std::get_if<NodePtr>(&e.node)) {
      if (!*p) return config_error(fmt::format("hop \"{}\": null node", name_));
      hop->nodes.push_back(*p);
      continue;
    }
    const auto& nb = std::get<NodeBuilder>(e.node);
    Result<NodePtr, ConfigError> n = config_error("");
    if (e.target) {
      n = nb.build_target();
    } else if (registry) {
      n = nb.build(*registry);
    } else {
      return config_error(
          fmt::format("hop \"{}\": node \"{}\" needs a registry", name_, nb.name()));
    }
    if (!n) return prefixed(fmt::format("hop \"{}\"", name_), n.error());
    hop->nodes.push_back(std::move(*n));
  }
  SelectorConfig sc = selector_;
  if (sc.strategy.empty()) sc.strategy = "round";
  if (sc.max_fails <= 0) sc.max_fails = 1;
  if (sc.fail_timeout.count() <= 0) sc.fail_timeout = std::chrono::seconds(10);
  auto sel = make_selector(sc);
  if (!sel) return prefixed(fmt::format("hop \"{}\": selector", name_), sel.error());
  hop->selector = std::move(*sel);
  return hop;
}

// --- ChainBuilder
// ---------------------------------------------------------------------------------

ChainBuilder::ChainBuilder(const Registry& registry) : registry_(&registry) {}

ChainBuilder& ChainBuilder::name(std::string n) {
  name_ = std::move(n);
  return *this;
}
ChainBuilder& ChainBuilder::hop(HopBuilder h) {
  hops_.emplace_back(std::move(h));
  return *this;
}
ChainBuilder& ChainBuilder::hop(HopPtr h) {
  hops_.emplace_back(std::move(h));
  return *this;
}
ChainBuilder& ChainBuilder::metadata(std::string key, std::string value) {
  metadata_.set(key, std::move(value));
  return *this;
}

Result<ChainPtr, ConfigError> ChainBuilder::build() const {
  auto chain = std::make_shared<Chain>();
  chain->name = name_;
  chain->metadata = metadata_;
  for (const auto& h : hops_) {
    if (const auto* p = std::get_if<HopPtr>(&h)) {
      if (!*p) return config_error(fmt::format("chain \"{}\": null hop", name_));
      chain->hops.push_back(*p);
      continue;
    }
    auto hop = std::get<HopBuilder>(h).build(registry_);
    if (!hop) return prefixed(fmt::format("chain \"{}\"", name_), hop.error());
    chain->hops.push_back(std::move(*hop));
  }
  return chain;
}

// --- ServiceBuilder
// -------------------------------------------------------------------------------

ServiceBuilder::ServiceBuilder(Runtime& runtime, const Registry& registry)
    : runtime_(&runtime), registry_(&registry) {}

ServiceBuilder& ServiceBuilder::name(std::string n) {
  name_ = std::move(n);
  return *this;
}
ServiceBuilder& ServiceBuilder::addr(std::string a) {
  addr_ = std::move(a);
  return *this;
}
ServiceBuilder& ServiceBuilder::handler(std::string type) {
  handler_ = std::move(type);
  return *this;
}
ServiceBuilder& ServiceBuilder::listener(std::string type) {
  listener_ = std::move(type);
  return *this;
}
ServiceBuilder& ServiceBuilder::metadata(std::string key, std::string value) {
  handler_md_.set(key, value);
  listener_md_.set(key, value);
  service_md_.set(key, std::move(value));
  return *this;
}
ServiceBuilder& ServiceBuilder::handler_metadata(std::string key, std::string value) {
  handler_md_.set(key, std::move(value));
  return *this;
}
ServiceBuilder& ServiceBuilder::listener_metadata(std::string key, std::string value) {
  listener_md_.set(key, std::move(value));
  return *this;
}
ServiceBuilder& ServiceBuilder::service_metadata(std::string key, std::string value) {
  service_md_.set(key, std::move(value));
  return *this;
}
ServiceBuilder& ServiceBuilder::chain(ChainPtr c) {
  chain_ = std::move(c);
  return *this;
}
ServiceBuilder& ServiceBuilder::retries(int n) {
  retries_ = n;
  return *this;
}
ServiceBuilder& ServiceBuilder::timeout(std::chrono::milliseconds t) {
  timeout_ = t;
  return *this;
}
ServiceBuilder& ServiceBuilder::listener_chain(ChainPtr c) {
  listener_chain_ = std::move(c);
  return *this;
}

ServiceBuilder& ServiceBuilder::router(RouterPtr r) {
  router_ = std::move(r);
  return *this;
}
ServiceBuilder& ServiceBuilder::auth(std::string username, std::string password) {
  auth_ = Credentials{std::move(username), std::move(password)};
  return *this;
}
ServiceBuilder& ServiceBuilder::auther(AutherPtr a) {
  if (a) authers_.push_back(std::move(a));
  return *this;
}
ServiceBuilder& ServiceBuilder::listener_auth(std::string username, std::string password) {
  listener_auth_ = Credentials{std::move(username), std::move(password)};
  return *this;
}
ServiceBuilder& ServiceBuilder::listener_auther(AutherPtr a) {
  if (a) listener_authers_.push_back(std::move(a));
  return *this;
}
ServiceBuilder& ServiceBuilder::bypass(BypassPtr b) {
  if (b) bypasses_.push_back(std::move(b));
  return *this;
}
ServiceBuilder& ServiceBuilder::admission(AdmissionPtr a) {
  if (a) admissions_.push_back(std::move(a));
  return *this;
}
ServiceBuilder& ServiceBuilder::forward(std::vector<std::string> targets) {
  HopBuilder h;
  for (auto& t : targets) h.target(std::move(t));
  forward_ = std::move(h);
  return *this;
}
ServiceBuilder& ServiceBuilder::forward(HopBuilder targets) {
  forward_ = std::move(targets);
  return *this;
}
ServiceBuilder& ServiceBuilder::forward(HopPtr targets) {
  forward_ = std::move(targets);
  return *this;
}
ServiceBuilder& ServiceBuilder::logger(LoggerPtr l) {
  logger_ = std::move(l);
  return *this;
}

namespace {
AutherPtr combine(const std::vector<AutherPtr>& authers, const std::optional<Credentials>& auth) {
  if (authers.size() == 1) return authers[0];
  if (authers.size() > 1) return make_auther_group(authers);
  if (auth && !auth->username.empty())
    return make_static_auther({{auth->username, auth->password}});
  return nullptr;
}
}  // namespace

Result<ServicePtr, ConfigError> ServiceBuilder::build() const {
  const std::string svc = fmt::format("service \"{}\"", name_);
  const std::string htype = handler_.empty() ? "auto" : handler_;
  const std::string ltype = listener_.empty() ? "tcp" : listener_;

  Address addr;
  if (!addr_.empty()) {
    auto a = Address::parse(addr_);
    if (!a)
      return config_error(
          fmt::format("{}: invalid address \"{}\" (want host:port or :port)", svc, addr_));
    addr = *a;
  }
  const auto* lf = registry_->listener(ltype);
  if (!lf) return config_error(fmt::format("unknown listener type \"{}\" in {}", ltype, svc));
  const auto* hf = registry_->handler(htype);
  if (!hf) return config_error(fmt::format("unknown handler type \"{}\" in {}", htype, svc));

  for (const char* k : kUnsupportedServiceKeys) {
    if (md_value_set(service_md_, k)) {
      return config_error(
          fmt::format("{}: metadata \"{}\" is not supported by this build", svc, k));
    }
  }

  RouterOptions ro;
  if (router_) ro = router_->options();
  RouterPtr router = router_;
  if (!router) {
    ro.retries = retries_;
    if (timeout_) {
      ro.timeout = *timeout_;
    } else if (auto dt = service_md_.get("dialTimeout")) {
      auto d = parse_duration(*dt);
      if (!d)
        return config_error(fmt::format("{}: metadata dialTimeout: bad duration \"{}\"", svc, *dt));
      if (d->count() > 0) ro.timeout = *d;
    }
    bool ignore_chain = service_md_.get_bool("ignoreChain");
    router = std::make_shared<Router>(ignore_chain ? nullptr : chain_, ro);
  }

  HopPtr forwarder;
  if (forward_) {
    if (const auto* p = std::get_if<HopPtr>(&*forward_)) {
      forwarder = *p;
    } else {
      auto h = std::get<HopBuilder>(*forward_).build(registry_);
      if (!h) return prefixed(fmt::format("{}: forwarder", svc), h.error());
      forwarder = std::move(*h);
    }
  }

  BypassPtr bypass;
  if (bypasses_.size() == 1) bypass = bypasses_[0];
  if (bypasses_.size() > 1) bypass = make_bypass_group(bypasses_);
  AdmissionPtr admission;
  if (admissions_.size() == 1) admission = admissions_[0];
  if (admissions_.size() > 1) admission = make_admission_group(admissions_);

  ListenerArgs la;
  la.runtime = runtime_;
  la.service = name_;
  la.addr = addr;
  la.metadata = listener_md_;
  la.auth = listener_auth_;
  la.auther = combine(listener_authers_, listener_auth_);
  la.logger = logger_;
  la.router = std::make_shared<Router>(listener_chain_, ro);
  auto listener = (*lf)(la);
  if (!listener) return prefixed(fmt::format("{}: listener \"{}\"", svc, ltype), listener.error());

  HandlerArgs ha;
  ha.runtime = runtime_;
  ha.service = name_;
  ha.listen_addr = addr;
  ha.metadata = handler_md_;
  ha.router = std::move(router);
  ha.forwarder = std::move(forwarder);
  ha.auther = combine(authers_, auth_);
  ha.auth = auth_;
  ha.bypass = std::move(bypass);
  ha.logger = logger_;
  auto handler = (*hf)(ha);
  if (!handler) return prefixed(fmt::format("{}: handler \"{}\"", svc, htype), handler.error());

  ServiceOptions so;
  so.name = name_;
  so.admission = std::move(admission);
  so.logger = logger_;
  so.protocol = htype;
  return std::make_shared<Service>(*runtime_, std::move(so), std::move(*listener),
                                   std::move(*handler));
}

}  // namespace gost
