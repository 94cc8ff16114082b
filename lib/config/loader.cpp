// Config -> running services, through gost/builder.hpp. Order as in GOST's loader: admissions,
// bypasses, authers, hops, chains, services; each can only refer to what came before it.

#include "gost/config/loader.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "config/internal.hpp"
#include "gost/builder.hpp"

namespace gost::config {

namespace detail {

Metadata to_metadata(const Json& md) {
  Metadata out;
  if (!md.is_object()) return out;
  for (auto it = md.begin(); it != md.end(); ++it) {
    const Json& v = *it;
    out.set(it.key(), v.is_object() || v.is_array() ? v.dump() : json_scalar_text(v));
  }
  return out;
}

}  // namespace detail

namespace {

struct LoadError {
  std::string msg;
};

[[noreturn]] void fail(std::string msg) { throw LoadError{std::move(msg)}; }

std::string quoted(std::string_view kind, std::string_view name) {
  return fmt::format("{} \"{}\"", kind, name);
}

// A GOST key this build keeps for -O output but does not implement must not be set.
void check_extras(const Json& extras, const std::string& where,
                  std::initializer_list<std::string_view> ignored = {}) {
  for (auto it = extras.begin(); it != extras.end(); ++it) {
    bool skip = false;
    for (auto k : ignored) skip = skip || it.key() == k;
    if (skip || detail::json_empty(*it)) continue;
    fail(fmt::format("{}: \"{}\" is not supported by this build", where, it.key()));
  }
}

// Metadata GOST acts on at hop/node level that this build cannot honour.
void check_route_metadata(const Metadata& md, const std::string& where) {
  for (const char* k : {"interface", "so_mark", "netns", "proxyProtocol"}) {
    auto v = md.get(k);
    if (v && !(v->empty() || *v == "0" || *v == "false")) {
      fail(fmt::format("{}: metadata \"{}\" is not supported by this build", where, k));
    }
  }
}

std::vector<std::string> read_matcher_file(const std::string& path, const std::string& where) {
  std::ifstream f(path);
  if (!f) fail(fmt::format("{}: cannot read file \"{}\": {}", where, path, std::strerror(errno)));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    if (auto n = line.find('#'); n != std::string::npos) line.resize(n);
    auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    auto e = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(b, e - b + 1));
  }
  return out;
}

// GOST's auth Info(): the first "user pass" line of auth.file, else username/password.
std::optional<Credentials> resolve_auth(const std::optional<AuthConfig>& a,
                                        const std::string& where) {
  if (!a) return std::nullopt;
  if (!a->file.empty()) {
    std::ifstream f(a->file);
    if (!f)
      fail(fmt::format("{}: cannot read auth file \"{}\": {}", where, a->file,
                       std::strerror(errno)));
    std::string line;
    while (std::getline(f, line)) {
      auto b = line.find_first_not_of(" \t\r");
      if (b == std::string::npos || line[b] == '#') continue;
      auto e = line.find_last_not_of(" \t\r");
      line = line.substr(b, e - b + 1);
      auto sp = line.find(' ');
      if (sp == std::string::npos) return Credentials{line, {}};
      auto p = line.substr(sp + 1);
      auto pb = p.find_first_not_of(" \t");
      return Credentials{line.substr(0, sp),
                         pb == std::string::npos ? std::string() : p.substr(pb)};
    }
    fail(fmt::format("{}: auth file \"{}\" has no credentials", where, a->file));
  }
  if (a->username.empty()) return std::nullopt;
  return Credentials{a->username, a->password};
}

// TLS settings reach the transports as metadata (the core component arguments carry none):
// GOST's field names, only where the metadata does not already set the key.
std::vector<std::pair<std::string, std::string>> tls_metadata(const std::optional<TLSConfig>& t) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!t) return out;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) out.emplace_back(k, v);
  };
  auto list = [](const std::vector<std::string>& v) {
    return v.empty() ? std::string() : Json(v).dump();
  };
  add("certFile", t->cert_file);
  add("keyFile", t->key_file);
  add("caFile", t->ca_file);
  if (t->secure) add("secure", "true");
  add("serverName", t->server_name);
  if (t->options) {
    add("minVersion", t->options->min_version);
    add("maxVersion", t->options->max_version);
    add("cipherSuites", list(t->options->cipher_suites));
    add("alpn", list(t->options->alpn));
  }
  if (t->validity.count() > 0) add("validity", format_duration(t->validity));
  add("commonName", t->common_name);
  add("organization", t->organization);
  if (t->reject_unknown_sni) add("rejectUnknownSNI", "true");
  add("serverNames", list(t->server_names));
  return out;
}

void merge_tls(Metadata& md, const std::optional<TLSConfig>& t) {
  for (auto& [k, v] : tls_metadata(t)) {
    if (!md.contains(k)) md.set(k, v);
  }
}

gost::SelectorConfig selector_of(const std::optional<SelectorConfig>& s, const std::string& where) {
  gost::SelectorConfig sc{"round", 0, std::chrono::milliseconds(0)};
  if (!s) return sc;
  if (s->max_latency.count() > 0)
    fail(fmt::format("{}: selector.maxLatency is not supported by this build", where));
  sc.strategy = s->strategy;
  sc.max_fails = s->max_fails;
  sc.fail_timeout = s->fail_timeout;
  return sc;
}

}  // namespace

class Loader {
 public:
  Loader(Runtime& rt, const Registry& reg, const Config& cfg, App& app)
      : rt_(rt), reg_(reg), cfg_(cfg), app_(app) {}

  void run() {
    check_top_level();
    for (auto& a : cfg_.admissions) load_admission(a);
    for (auto& b : cfg_.bypasses) load_bypass(b);
    for (auto& a : cfg_.authers) load_auther(a);
    for (auto& h : cfg_.hops) {
      std::string where = quoted("hop", h.name);
      auto hop = hop_builder(h, where).build(reg_);
      if (!hop) fail(hop.error().message);
      add(app_.hops_, "hop", h.name, std::move(*hop));
    }
    for (auto& c : cfg_.chains) load_chain(c);
    std::set<std::string> names;
    for (std::size_t i = 0; i < cfg_.services.size(); ++i) {
      const auto& s = cfg_.services[i];
      if (s.name.empty()) fail(fmt::format("services[{}]: a service needs a name", i));
      if (!names.insert(s.name).second) fail(fmt::format("duplicate service name \"{}\"", s.name));
      load_service(s);
    }
  }

 private:
  template <class M, class T>
  void add(M& m, std::string_view kind, const std::string& name, T v) {
    if (name.empty()) return;  // GOST registers nothing under an empty name
    if (!m.emplace(name, std::move(v)).second)
      fail(fmt::format("duplicate {} name \"{}\"", kind, name));
  }

  template <class M>
  auto lookup(const M& m, std::string_view kind, const std::string& name,
              const std::string& where) {
    auto it = m.find(name);
    if (it == m.end()) fail(fmt::format("{}: {} \"{}\" is not defined", where, kind, name));
    return it->second;
  }

  std::vector<BypassPtr> bypass_list(const std::string& one, const std::vector<std::string>& many,
                                     const std::string& where) {
    std::vector<BypassPtr> out;
    if (!one.empty()) out.push_back(lookup(app_.bypasses_, "bypass", one, where));
    for (auto& n : many) {
      if (!n.empty()) out.push_back(lookup(app_.bypasses_, "bypass", n, where));
    }
    return out;
  }

  BypassPtr bypass_group(const std::string& one, const std::vector<std::string>& many,
                         const std::string& where) {
    auto l = bypass_list(one, many, where);
    if (l.empty()) return nullptr;
    if (l.size() == 1) return l[0];
    return make_bypass_group(std::move(l));
  }

  std::vector<AutherPtr> auther_list(const std::string& one, const std::vector<std::string>& many,
                                     const std::string& where) {
    std::vector<AutherPtr> out;
    if (!one.empty()) out.push_back(lookup(app_.authers_, "auther", one, where));
    for (auto& n : many) {
      if (!n.empty()) out.push_back(lookup(app_.authers_, "auther", n, where));
    }
    return out;
  }

  void check_top_level() {
    check_extras(cfg_.extras, "config");
    if (cfg_.api) fail("api (the web API) is not supported by this build");
    if (cfg_.metrics) fail("metrics is not supported by this build");
    if (cfg_.profiling) fail("profiling is not supported by this build");
    if (cfg_.log) {
      check_extras(cfg_.log->extras, "log");
      if (!parse_log_level(cfg_.log->level))
        fail(fmt::format("log.level: unknown level \"{}\"", cfg_.log->level));
      const auto& f = cfg_.log->format;
      if (!f.empty() && f != "text" && f != "json")
        fail(fmt::format("log.format: unknown format \"{}\"", f));
    }
  }

  void load_admission(const AdmissionConfig& a) {
    std::string where = quoted("admission", a.name);
    check_extras(a.extras, where);
    auto m = a.matchers;
    if (a.file && !a.file->path.empty()) {
      for (auto& s : read_matcher_file(a.file->path, where)) m.push_back(s);
    }
    auto r = make_admission(m, a.reverse || a.whitelist);
    if (!r) fail(fmt::format("{}: {}", where, r.error().message));
    add(app_.admissions_, "admission", a.name, std::move(*r));
  }

  void load_bypass(const BypassConfig& b) {
    std::string where = quoted("bypass", b.name);
    check_extras(b.extras, where);
    if (!b.network.empty() && b.network != "tcp" && b.network != "udp") {
      fail(fmt::format("{}: network \"{}\" must be tcp or udp", where, b.network));
    }
    auto m = b.matchers;
    if (b.file && !b.file->path.empty()) {
      for (auto& s : read_matcher_file(b.file->path, where)) m.push_back(s);
    }
    auto r = make_bypass(m, b.reverse || b.whitelist, b.network);
    if (!r) fail(fmt::format("{}: {}", where, r.error().message));
    add(app_.bypasses_, "bypass", b.name, std::move(*r));
  }

  void load_auther(const AutherConfig& a) {
    std::string where = quoted("auther", a.name);
    check_extras(a.extras, where);
    std::map<std::string, std::string> users;
    for (auto& u : a.auths) {
      if (!u.file.empty())
        fail(fmt::format("{}: auths[].file is not supported (use file.path)", where));
      if (!u.username.empty()) users[u.username] = u.password;
    }
    if (a.file && !a.file->path.empty()) {
      auto f = parse_auther_file(a.file->path);
      if (!f) fail(fmt::format("{}: {}", where, f.error().message));
      for (auto& [k, v] : *f) users[k] = v;
    }
    add(app_.authers_, "auther", a.name, make_static_auther(std::move(users)));
  }

  NodeBuilder node_builder(const NodeConfig& n, const std::string& hop_where) {
    std::string where = fmt::format("{}: {}", hop_where, quoted("node", n.name));
    check_extras(n.extras, where);
    Metadata md = detail::to_metadata(n.metadata);
    if (!n.iface.empty() && !md.contains("interface")) md.set("interface", n.iface);
    check_route_metadata(md, where);

    NodeBuilder nb(n.name, n.addr);
    for (auto& [k, v] : md.items()) nb.node_metadata(k, v);
    nb.logger(app_.logger_);
    if (auto b = bypass_group(n.bypass, n.bypasses, where)) nb.bypass(std::move(b));

    const ConnectorConfig cc = n.connector.value_or(ConnectorConfig{});
    nb.connector(cc.type.empty() ? "http" : cc.type);
    if (auto cred = resolve_auth(cc.auth, where + ": connector"))
      nb.auth(cred->username, cred->password);
    Metadata cmd = detail::to_metadata(cc.metadata);
    merge_tls(cmd, cc.tls);
    for (auto& [k, v] : cmd.items()) nb.connector_metadata(k, v);

    const DialerConfig dc = n.dialer.value_or(DialerConfig{});
    nb.dialer(dc.type.empty() ? "tcp" : dc.type);
    if (dc.auth && (!dc.auth->username.empty() || !dc.auth->file.empty())) {
      fail(fmt::format("{}: dialer auth is not supported by this build", where));
    }
    Metadata dmd = detail::to_metadata(dc.metadata);
    merge_tls(dmd, dc.tls);
    for (auto& [k, v] : dmd.items()) nb.dialer_metadata(k, v);
    return nb;
  }

  HopBuilder hop_builder(const HopConfig& h, const std::string& where) {
    check_extras(h.extras, where);
    Metadata md = detail::to_metadata(h.metadata);
    if (!h.iface.empty() && !md.contains("interface")) md.set("interface", h.iface);
    check_route_metadata(md, where);
    HopBuilder hb(h.name);
    hb.selector(selector_of(h.selector, where));
    if (auto b = bypass_group(h.bypass, h.bypasses, where)) hb.bypass(std::move(b));
    for (auto& n : h.nodes) hb.node(node_builder(n, where));
    return hb;
  }

  void load_chain(const ChainConfig& c) {
    std::string where = quoted("chain", c.name);
    ChainBuilder cb(reg_);
    cb.name(c.name);
    const Metadata cmd = detail::to_metadata(c.metadata);
    for (auto& [k, v] : cmd.items()) cb.metadata(k, v);
    for (auto& h : c.hops) {
      if (h.nodes.empty()) {  // a reference to a top-level hop
        auto it = app_.hops_.find(h.name);
        if (it == app_.hops_.end()) {
          fail(
              fmt::format("{}: hop \"{}\" has no nodes and is not a top-level hop", where, h.name));
        }
        cb.hop(it->second);
      } else {
        cb.hop(hop_builder(h, fmt::format("{}: {}", where, quoted("hop", h.name))));
      }
    }
    auto chain = cb.build();
    if (!chain) fail(chain.error().message);
    add(app_.chains_, "chain", c.name, std::move(*chain));
  }

  void load_forwarder(ServiceBuilder& sb, const ForwarderConfig& f, const std::string& svc) {
    std::string where = svc + ": forwarder";
    check_extras(f.extras, where);
    if (!f.hop.empty()) {
      sb.forward(lookup(app_.hops_, "hop", f.hop, where));
      return;
    }
    if (!f.name.empty()) {  // deprecated spelling of hop, when such a hop exists
      if (auto it = app_.hops_.find(f.name); it != app_.hops_.end()) {
        sb.forward(it->second);
        return;
      }
    }
    if (f.nodes.empty()) fail(fmt::format("{} has no nodes", where));
    HopBuilder hb(f.name);
    hb.selector(selector_of(f.selector, where));
    for (std::size_t i = 0; i < f.nodes.size(); ++i) {
      const auto& n = f.nodes[i];
      std::string nwhere = fmt::format("{}: nodes[{}]", where, i);
      check_extras(n.extras, nwhere);
      NodeBuilder nb(n.name, n.addr);
      const Metadata nmd = detail::to_metadata(n.metadata);
      for (auto& [k, v] : nmd.items()) nb.node_metadata(k, v);
      if (auto b = bypass_group(n.bypass, n.bypasses, nwhere)) nb.bypass(std::move(b));
      hb.target(std::move(nb));
    }
    sb.forward(std::move(hb));
  }

  void load_service(const ServiceConfig& s) {
    std::string where = quoted("service", s.name);
    check_extras(s.extras, where, {"status"});
    const HandlerConfig hc = s.handler.value_or(HandlerConfig{});
    const ListenerConfig lc = s.listener.value_or(ListenerConfig{});
    check_extras(hc.extras, where + ": handler");
    check_extras(lc.extras, where + ": listener");

    ServiceBuilder sb(rt_, reg_);
    sb.name(s.name).addr(s.addr).logger(app_.logger_);
    sb.handler(hc.type.empty() ? "auto" : hc.type);
    sb.listener(lc.type.empty() ? "tcp" : lc.type);

    Metadata hmd = detail::to_metadata(hc.metadata);
    // The top-level tls block is the default server certificate (GOST's default TLS config):
    // it applies as a whole to a listener or handler that has no tls block of its own.
    merge_tls(hmd, hc.tls ? hc.tls : cfg_.tls);
    for (auto& [k, v] : hmd.items()) sb.handler_metadata(k, v);
    Metadata lmd = detail::to_metadata(lc.metadata);
    merge_tls(lmd, lc.tls ? lc.tls : cfg_.tls);
    for (auto& [k, v] : lmd.items()) sb.listener_metadata(k, v);
    Metadata smd = detail::to_metadata(s.metadata);
    if (!s.iface.empty() && !smd.contains("interface")) smd.set("interface", s.iface);
    for (auto& [k, v] : smd.items()) sb.service_metadata(k, v);

    sb.retries(hc.retries);
    if (!hc.chain.empty()) sb.chain(lookup(app_.chains_, "chain", hc.chain, where));
    auto authers = auther_list(hc.auther, hc.authers, where);
    for (auto& a : authers) sb.auther(a);
    if (authers.empty()) {
      if (auto cred = resolve_auth(hc.auth, where + ": handler"))
        sb.auth(cred->username, cred->password);
    }

    if (!lc.chain.empty()) sb.listener_chain(lookup(app_.chains_, "chain", lc.chain, where));
    auto lauthers = auther_list(lc.auther, lc.authers, where);
    for (auto& a : lauthers) sb.listener_auther(a);
    if (auto cred = resolve_auth(lc.auth, where + ": listener")) {
      sb.listener_auth(cred->username, cred->password);
    }

    if (!s.admission.empty())
      sb.admission(lookup(app_.admissions_, "admission", s.admission, where));
    for (auto& a : s.admissions) {
      if (!a.empty()) sb.admission(lookup(app_.admissions_, "admission", a, where));
    }
    for (auto& b : bypass_list(s.bypass, s.bypasses, where)) sb.bypass(b);
    if (s.forwarder) load_forwarder(sb, *s.forwarder, where);

    // As GOST does while it builds a service: the metadata each component gets, at debug level.
    Logger& log = app_.logger_ ? *app_.logger_ : Logger::global();
    if (log.enabled(LogLevel::debug)) {
      log.debug("metadata", {{"service", s.name},
                             {"kind", "listener"},
                             {"listener", lc.type},
                             {"metadata", lc.metadata.dump()}});
      log.debug("metadata", {{"service", s.name},
                             {"kind", "handler"},
                             {"handler", hc.type},
                             {"metadata", hc.metadata.dump()}});
    }
    auto svc = sb.build();
    if (!svc) fail(svc.error().message);
    app_.services_.push_back(std::move(*svc));
    app_.info_.push_back(
        {s.addr, hc.type.empty() ? "auto" : hc.type, lc.type.empty() ? "tcp" : lc.type});
  }

  Runtime& rt_;
  const Registry& reg_;
  const Config& cfg_;
  App& app_;
};

Result<std::unique_ptr<App>, ConfigError> App::create(Runtime& runtime, const Registry& registry,
                                                      const Config& cfg, LoggerPtr logger) {
  std::unique_ptr<App> app(new App());
  app->logger_ = std::move(logger);
  try {
    Loader(runtime, registry, cfg, *app).run();
  } catch (const LoadError& e) {
    return config_error(e.msg);
  }
  return app;
}

App::~App() {
  if (started_) stop();
}

std::error_code App::start(std::string* what) {
  Logger& log = logger_ ? *logger_ : Logger::global();
  for (std::size_t i = 0; i < services_.size(); ++i) {
    auto& s = services_[i];
    if (auto ec = s->start()) {
      if (what) {
        *what = fmt::format("service \"{}\": cannot listen on {}: {}", s->name(),
                            info_[i].addr.empty() ? ":0" : info_[i].addr, ec.message());
      }
      for (std::size_t j = 0; j < i; ++j) services_[j]->stop();
      for (std::size_t j = 0; j < i; ++j) services_[j]->wait_stopped(std::chrono::seconds(5));
      started_ = false;
      return ec;
    }
    started_ = true;
    log.info("listening", {{"service", s->name()},
                           {"addr", s->address().to_string()},
                           {"handler", info_[i].handler},
                           {"listener", info_[i].listener}});
  }
  return {};
}

void App::stop(std::chrono::milliseconds max_wait) {
  for (auto& s : services_) s->stop();
  auto deadline = std::chrono::steady_clock::now() + max_wait;
  for (auto& s : services_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    s->wait_stopped(std::max(left, std::chrono::milliseconds(0)));
  }
  started_ = false;
}

namespace {
template <class M>
auto find_named(const M& m, std::string_view name) -> typename M::mapped_type {
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second;
}
}  // namespace

ServicePtr App::service(std::string_view name) const {
  for (auto& s : services_) {
    if (s->name() == name) return s;
  }
  return nullptr;
}
ChainPtr App::chain(std::string_view name) const { return find_named(chains_, name); }
HopPtr App::hop(std::string_view name) const { return find_named(hops_, name); }
BypassPtr App::bypass(std::string_view name) const { return find_named(bypasses_, name); }
AdmissionPtr App::admission(std::string_view name) const { return find_named(admissions_, name); }
AutherPtr App::auther(std::string_view name) const { return find_named(authers_, name); }

std::optional<ConfigError> apply_log_config(const LogConfig& log, Logger& logger) {
  if (!log.level.empty()) {
    auto l = parse_log_level(log.level);
    if (!l) return config_error(fmt::format("log.level: unknown level \"{}\"", log.level));
    logger.set_level(*l);
  }
  if (!log.format.empty()) {
    if (log.format == "json") {
      logger.set_format(LogFormat::json);
    } else if (log.format == "text") {
      logger.set_format(LogFormat::text);
    } else {
      return config_error(
          fmt::format("log.format: unknown format \"{}\" (text or json)", log.format));
    }
  }
  if (!log.output.empty() && !logger.set_output(log.output)) {
    return config_error(
        fmt::format("log.output: cannot open \"{}\": {}", log.output, std::strerror(errno)));
  }
  return std::nullopt;
}

}  // namespace gost::config
