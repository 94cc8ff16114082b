// The GOST config schema: one field list per struct (visit), used both by the strict decoder
// (Reader) and by the -O writer (Writer), so that names and order cannot drift apart.
//
// Field names and order follow go-gost/x config/config.go; `always` marks fields GOST writes
// even when empty (no `omitempty` tag).

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/internal.hpp"
#include "gost/config/config.hpp"
#include "gost/core/metadata.hpp"

namespace gost::config {
namespace detail {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object:
      return "a map";
    case Json::value_t::array:
      return "a list";
    default:
      return v.dump();
  }
}

std::string json_scalar_text(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return v.get<std::string>();
    case Json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
      return std::to_string(v.get<std::int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(v.get<std::uint64_t>());
    case Json::value_t::number_float:
      return fmt::format("{}", v.get<double>());
    case Json::value_t::null:
      return "";
    default:
      return v.dump();
  }
}

bool json_empty(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return true;
    case Json::value_t::string:
      return v.get_ref<const std::string&>().empty();
    case Json::value_t::boolean:
      return !v.get<bool>();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return v.get<std::int64_t>() == 0;
    case Json::value_t::number_float:
      return v.get<double>() == 0;
    case Json::value_t::object:
    case Json::value_t::array:
      return v.empty();
    default:
      return false;
  }
}

namespace {

enum Opt { omit = 0, always = 1 };

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw DecodeError(path.empty() ? what : path + ": " + what);
}

std::string join_path(const std::string& base, std::string_view key) {
  if (base.empty()) return std::string(key);
  return base + "." + std::string(key);
}

// --- scalar conversions (mapstructure's weakly typed input) ------------------------------------

std::optional<std::int64_t> parse_go_int(const std::string& s) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  std::string t;
  for (char c : s) {
    if (c != '_') t += c;
  }
  int base = 10;
  std::size_t i = (t[0] == '+' || t[0] == '-') ? 1 : 0;
  std::string digits = t.substr(i);
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits = digits.substr(2);
  } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) {
    base = 8;
    digits = digits.substr(2);
  } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B')) {
    base = 2;
    digits = digits.substr(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits = digits.substr(1);
  }
  if (digits.empty()) return std::nullopt;
  for (char c : digits) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(digits.c_str(), &end, base);
  if (errno != 0 || end != digits.c_str() + digits.size()) return std::nullopt;
  return t[0] == '-' ? -v : v;
}

std::int64_t to_int(const Json& v, const std::string& path) {
  switch (v.type()) {
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return v.get<std::int64_t>();
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (d == static_cast<double>(static_cast<std::int64_t>(d)))
        return static_cast<std::int64_t>(d);
      break;
    }
    case Json::value_t::boolean:
      return v.get<bool>() ? 1 : 0;
    case Json::value_t::null:
      return 0;
    case Json::value_t::string:
      if (auto n = parse_go_int(v.get<std::string>())) return *n;
      break;
    default:
      break;
  }
  fail(path, "expected an integer, got " + describe(v));
}

bool to_bool(const Json& v, const std::string& path) {
  switch (v.type()) {
    case Json::value_t::boolean:
      return v.get<bool>();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return v.get<std::int64_t>() != 0;
    case Json::value_t::number_float:
      return v.get<double>() != 0;
    case Json::value_t::null:
      return false;
    case Json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (s.empty() || s == "0" || s == "f" || s == "F" || s == "false" || s == "False" ||
          s == "FALSE")
        return false;
      if (s == "1" || s == "t" || s == "T" || s == "true" || s == "True" || s == "TRUE")
        return true;
      break;
    }
    default:
      break;
  }
  fail(path, "expected a boolean, got " + describe(v));
}

std::string to_string(const Json& v, const std::string& path) {
  switch (v.type()) {
    case Json::value_t::string:
      return v.get<std::string>();
    case Json::value_t::null:
      return "";
    case Json::value_t::boolean:
      return v.get<bool>() ? "1" : "0";  // mapstructure's weak rule
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return json_scalar_text(v);
    default:
      break;
  }
  fail(path, "expected a string, got " + describe(v));
}

Duration to_duration(const Json& v, const std::string& path) {
  switch (v.type()) {
    case Json::value_t::null:
      return Duration{0};
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: {
      auto n = v.get<std::int64_t>();
      // gost -O json writes Go's time.Duration: nanoseconds.
      if (n >= 1000000000LL)
        return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(n));
      if (n < 0) break;
      return std::chrono::seconds(n);
    }
    case Json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (s.empty()) return Duration{0};
      if (auto d = gost::parse_duration(s)) return *d;
      fail(path, fmt::format("expected a duration like \"30s\", got {}", v.dump()));
    }
    default:
      break;
  }
  fail(path, "expected a duration like \"30s\", got " + describe(v));
}

// --- Reader: a strict, case-insensitive view of one JSON object --------------------------------

class Reader {
 public:
  Reader(const Json& obj, std::string path) : path_(std::move(path)) {
    if (obj.is_null()) return;
    if (!obj.is_object()) fail(path_, "expected a map, got " + describe(obj));
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      std::string lk = lower(it.key());
      for (auto& e : entries_) {
        if (e.lkey == lk)
          fail(join_path(path_, it.key()), "duplicate key (keys are case-insensitive)");
      }
      entries_.push_back({lk, it.key(), &it.value(), false});
    }
  }

  template <class T>
  void operator()(std::string_view key, T& out, Opt = omit) {
    if (auto* e = take(key)) decode(*e->value, out, join_path(path_, e->key));
  }

  // A GOST key this build keeps but does not implement.
  void extra(Json& extras, std::string_view key) {
    if (auto* e = take(key)) {
      if (!e->value->is_null()) extras[std::string(key)] = *e->value;
    }
  }

  void finish() const {
    for (auto& e : entries_) {
      if (!e.used) fail(join_path(path_, e.key), "unknown key");
    }
  }

 private:
  struct Entry {
    std::string lkey;
    std::string key;
    const Json* value;
    bool used;
  };

  Entry* take(std::string_view key) {
    std::string lk = lower(key);
    for (auto& e : entries_) {
      if (e.lkey == lk) {
        e.used = true;
        return &e;
      }
    }
    return nullptr;
  }

  static void decode(const Json& v, std::string& out, const std::string& p) {
    out = to_string(v, p);
  }
  static void decode(const Json& v, bool& out, const std::string& p) { out = to_bool(v, p); }
  static void decode(const Json& v, int& out, const std::string& p) {
    auto n = to_int(v, p);
    if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max())
      fail(p, "integer out of range: " + v.dump());
    out = static_cast<int>(n);
  }
  static void decode(const Json& v, Duration& out, const std::string& p) {
    out = to_duration(v, p);
  }
  static void decode(const Json& v, Json& out, const std::string& p) {  // metadata
    if (v.is_null()) {
      out = Json::object();
      return;
    }
    if (!v.is_object()) fail(p, "expected a map, got " + describe(v));
    out = v;
  }
  static void decode(const Json& v, std::vector<std::string>& out, const std::string& p) {
    out.clear();
    if (v.is_null()) return;
    if (!v.is_array()) {  // a single value is a one-element list
      out.push_back(to_string(v, p));
      return;
    }
    for (std::size_t i = 0; i < v.size(); ++i)
      out.push_back(to_string(v[i], fmt::format("{}[{}]", p, i)));
  }
  template <class S>
  static void decode(const Json& v, std::optional<S>& out, const std::string& p) {
    if (v.is_null()) {
      out.reset();
      return;
    }
    S s{};
    decode_struct(v, s, p);
    out = std::move(s);
  }
  template <class S>
  static void decode(const Json& v, std::vector<S>& out, const std::string& p) {
    out.clear();
    if (v.is_null()) return;
    if (v.is_object()) {  // a single value is a one-element list
      S s{};
      decode_struct(v, s, p + "[0]");
      out.push_back(std::move(s));
      return;
    }
    if (!v.is_array()) fail(p, "expected a list, got " + describe(v));
    for (std::size_t i = 0; i < v.size(); ++i) {
      S s{};
      decode_struct(v[i], s, fmt::format("{}[{}]", p, i));
      out.push_back(std::move(s));
    }
  }
  template <class S>
  static void decode_struct(const Json& v, S& s, const std::string& p) {
    if (!v.is_object()) fail(p, "expected a map, got " + describe(v));
    Reader r(v, p);
    visit(r, s);
    r.finish();
  }

  std::string path_;
  std::vector<Entry> entries_;
};

// --- Writer: GOST's names and order, empty fields omitted --------------------------------------

class Writer {
 public:
  template <class T>
  void operator()(std::string_view key, const T& v, Opt o = omit) {
    encode(std::string(key), v, o);
  }
  void extra(const Json& extras, std::string_view key) {
    auto it = extras.find(std::string(key));
    if (it != extras.end() && !it->is_null()) obj_[std::string(key)] = nlohmann::ordered_json(*it);
  }
  nlohmann::ordered_json take() { return std::move(obj_); }

  template <class S>
  static nlohmann::ordered_json encode_struct(const S& s) {
    Writer w;
    visit(w, s);
    return w.take();
  }

 private:
  void encode(const std::string& k, const std::string& v, Opt o) {
    if (!v.empty() || o == always) obj_[k] = v;
  }
  void encode(const std::string& k, bool v, Opt o) {
    if (v || o == always) obj_[k] = v;
  }
  void encode(const std::string& k, int v, Opt o) {
    if (v != 0 || o == always) obj_[k] = v;
  }
  void encode(const std::string& k, Duration v, Opt o) {
    if (v.count() != 0 || o == always) obj_[k] = gost::format_duration(v);
  }
  void encode(const std::string& k, const Json& v, Opt o) {
    if ((!v.is_null() && !v.empty()) || o == always) {
      obj_[k] = v.is_null() ? nlohmann::ordered_json::object() : nlohmann::ordered_json(v);
    }
  }
  void encode(const std::string& k, const std::vector<std::string>& v, Opt o) {
    if (!v.empty() || o == always) {
      auto a = nlohmann::ordered_json::array();
      for (auto& s : v) a.push_back(s);
      obj_[k] = std::move(a);
    }
  }
  template <class S>
  void encode(const std::string& k, const std::optional<S>& v, Opt) {
    if (v) obj_[k] = encode_struct(*v);
  }
  template <class S>
  void encode(const std::string& k, const std::vector<S>& v, Opt o) {
    if (v.empty() && o != always) return;
    auto a = nlohmann::ordered_json::array();
    for (auto& s : v) a.push_back(encode_struct(s));
    obj_[k] = std::move(a);
  }

  nlohmann::ordered_json obj_ = nlohmann::ordered_json::object();
};

}  // namespace
}  // namespace detail

// --- the schema: one visit per struct, in GOST's field order ------------------------------------
// (In gost::config so that argument-dependent lookup finds them from the templates above.)

#define GOST_SCHEMA(T)        \
  template <class A, class S> \
  static std::enable_if_t<std::is_same_v<std::remove_const_t<S>, T>> visit(A& a, S& s)

using detail::always;

GOST_SCHEMA(AuthConfig) {
  a("username", s.username);
  a("password", s.password);
  a("file", s.file);
}

GOST_SCHEMA(TLSOptions) {
  a("minVersion", s.min_version);
  a("maxVersion", s.max_version);
  a("cipherSuites", s.cipher_suites);
  a("alpn", s.alpn);
}

GOST_SCHEMA(TLSConfig) {
  a("certFile", s.cert_file);
  a("keyFile", s.key_file);
  a("caFile", s.ca_file);
  a("secure", s.secure);
  a("serverName", s.server_name);
  a("options", s.options);
  a("validity", s.validity);
  a("commonName", s.common_name);
  a("organization", s.organization);
  a("rejectUnknownSNI", s.reject_unknown_sni);
  a("serverNames", s.server_names);
}

GOST_SCHEMA(SelectorConfig) {
  a("strategy", s.strategy, always);
  a("maxFails", s.max_fails, always);
  a("failTimeout", s.fail_timeout, always);
  a("maxLatency", s.max_latency);
}

GOST_SCHEMA(FileLoader) { a("path", s.path, always); }

GOST_SCHEMA(AutherConfig) {
  a("name", s.name, always);
  a("auths", s.auths);
  a.extra(s.extras, "reload");
  a("file", s.file);
  a.extra(s.extras, "redis");
  a.extra(s.extras, "http");
  a.extra(s.extras, "plugin");
}

GOST_SCHEMA(AdmissionConfig) {
  a("name", s.name, always);
  a("reverse", s.reverse);
  a("whitelist", s.whitelist);
  a("matchers", s.matchers);
  a.extra(s.extras, "reload");
  a("file", s.file);
  a.extra(s.extras, "redis");
  a.extra(s.extras, "http");
  a.extra(s.extras, "plugin");
}

GOST_SCHEMA(BypassConfig) {
  a("name", s.name, always);
  a("reverse", s.reverse);
  a("whitelist", s.whitelist);
  a("network", s.network);
  a("matchers", s.matchers);
  a.extra(s.extras, "reload");
  a("file", s.file);
  a.extra(s.extras, "redis");
  a.extra(s.extras, "http");
  a.extra(s.extras, "plugin");
}

GOST_SCHEMA(ConnectorConfig) {
  a("type", s.type, always);
  a("auth", s.auth);
  a("tls", s.tls);
  a("metadata", s.metadata);
}

GOST_SCHEMA(DialerConfig) {
  a("type", s.type, always);
  a("auth", s.auth);
  a("tls", s.tls);
  a("metadata", s.metadata);
}

GOST_SCHEMA(NodeConfig) {
  a("name", s.name, always);
  a("addr", s.addr);
  a.extra(s.extras, "network");
  a("bypass", s.bypass);
  a("bypasses", s.bypasses);
  a.extra(s.extras, "resolver");
  a.extra(s.extras, "hosts");
  a("connector", s.connector);
  a("dialer", s.dialer);
  a("interface", s.iface);
  a.extra(s.extras, "netns");
  a.extra(s.extras, "sockopts");
  a.extra(s.extras, "filter");
  a.extra(s.extras, "matcher");
  a.extra(s.extras, "http");
  a.extra(s.extras, "tls");
  a.extra(s.extras, "probe");
  a("metadata", s.metadata);
}

GOST_SCHEMA(HopConfig) {
  a("name", s.name, always);
  a("interface", s.iface);
  a.extra(s.extras, "sockopts");
  a("selector", s.selector);
  a("bypass", s.bypass);
  a("bypasses", s.bypasses);
  a.extra(s.extras, "resolver");
  a.extra(s.extras, "hosts");
  a("nodes", s.nodes);
  a.extra(s.extras, "reload");
  a.extra(s.extras, "file");
  a.extra(s.extras, "redis");
  a.extra(s.extras, "http");
  a.extra(s.extras, "plugin");
  a("metadata", s.metadata);
}

GOST_SCHEMA(ChainConfig) {
  a("name", s.name, always);
  a("hops", s.hops, always);
  a("metadata", s.metadata);
}

GOST_SCHEMA(ForwardNodeConfig) {
  a("name", s.name);
  a("addr", s.addr);
  a.extra(s.extras, "network");
  a("bypass", s.bypass);
  a("bypasses", s.bypasses);
  a.extra(s.extras, "protocol");
  a.extra(s.extras, "host");
  a.extra(s.extras, "path");
  a.extra(s.extras, "filter");
  a.extra(s.extras, "matcher");
  a.extra(s.extras, "auth");
  a.extra(s.extras, "http");
  a.extra(s.extras, "tls");
  a.extra(s.extras, "probe");
  a("metadata", s.metadata);
}

GOST_SCHEMA(ForwarderConfig) {
  a("name", s.name);
  a("hop", s.hop);
  a("selector", s.selector);
  a("nodes", s.nodes, always);
  a.extra(s.extras, "hopGroup");
}

GOST_SCHEMA(HandlerConfig) {
  a("type", s.type, always);
  a("retries", s.retries);
  a("chain", s.chain);
  a.extra(s.extras, "chainGroup");
  a("auther", s.auther);
  a("authers", s.authers);
  a("auth", s.auth);
  a("tls", s.tls);
  a.extra(s.extras, "limiter");
  a.extra(s.extras, "observer");
  a("metadata", s.metadata);
}

GOST_SCHEMA(ListenerConfig) {
  a("type", s.type, always);
  a("chain", s.chain);
  a.extra(s.extras, "chainGroup");
  a("auther", s.auther);
  a("authers", s.authers);
  a("auth", s.auth);
  a("tls", s.tls);
  a("metadata", s.metadata);
}

GOST_SCHEMA(ServiceConfig) {
  a("name", s.name, always);
  a("addr", s.addr);
  a("interface", s.iface);
  a.extra(s.extras, "sockopts");
  a("admission", s.admission);
  a("admissions", s.admissions);
  a("bypass", s.bypass);
  a("bypasses", s.bypasses);
  a.extra(s.extras, "resolver");
  a.extra(s.extras, "hosts");
  a.extra(s.extras, "limiter");
  a.extra(s.extras, "quotas");
  a.extra(s.extras, "climiter");
  a.extra(s.extras, "rlimiter");
  a.extra(s.extras, "logger");
  a.extra(s.extras, "loggers");
  a.extra(s.extras, "observer");
  a.extra(s.extras, "rewriter");
  a.extra(s.extras, "recorders");
  a.extra(s.extras, "cache");
  a("handler", s.handler);
  a("listener", s.listener);
  a("forwarder", s.forwarder);
  a("metadata", s.metadata);
  a.extra(s.extras, "status");
}

GOST_SCHEMA(LogConfig) {
  a("output", s.output);
  a("level", s.level);
  a("format", s.format);
  a.extra(s.extras, "rotation");
}

GOST_SCHEMA(APIConfig) {
  a("addr", s.addr, always);
  a("pathPrefix", s.path_prefix);
  a("accesslog", s.access_log);
  a("auth", s.auth);
  a("auther", s.auther);
}

GOST_SCHEMA(MetricsConfig) {
  a("addr", s.addr, always);
  a("path", s.path);
  a("auth", s.auth);
  a("auther", s.auther);
}

GOST_SCHEMA(ProfilingConfig) { a("addr", s.addr, always); }

GOST_SCHEMA(Config) {
  a("services", s.services, always);
  a("chains", s.chains);
  a("hops", s.hops);
  a("authers", s.authers);
  a("admissions", s.admissions);
  a("bypasses", s.bypasses);
  for (const char* k :
       {"resolvers", "hosts", "ingresses", "routers", "sds", "recorders", "rewriters", "caches",
        "limiters", "quotas", "climiters", "rlimiters", "observers", "loggers"}) {
    a.extra(s.extras, k);
  }
  a("tls", s.tls);
  a("log", s.log);
  a("profiling", s.profiling);
  a("api", s.api);
  a("metrics", s.metrics);
}

#undef GOST_SCHEMA

Result<Config, ConfigError> decode_config(const Json& j) {
  try {
    Config cfg;
    detail::Reader r(j, "");
    visit(r, cfg);
    r.finish();
    return cfg;
  } catch (const detail::DecodeError& e) {
    return config_error(e.what());
  }
}

nlohmann::ordered_json to_json(const Config& cfg) { return detail::Writer::encode_struct(cfg); }

void merge_config(Config& into, Config other) {
  auto append = [](auto& a, auto& b) {
    for (auto& x : b) a.push_back(std::move(x));
  };
  append(into.services, other.services);
  append(into.chains, other.chains);
  append(into.hops, other.hops);
  append(into.authers, other.authers);
  append(into.admissions, other.admissions);
  append(into.bypasses, other.bypasses);
  for (auto it = other.extras.begin(); it != other.extras.end(); ++it) {
    auto& dst = into.extras[it.key()];
    if (dst.is_array() && it->is_array()) {
      for (auto& v : *it) dst.push_back(v);
    } else {
      dst = *it;
    }
  }
  if (other.tls) into.tls = std::move(other.tls);
  if (other.log) into.log = std::move(other.log);
  if (other.profiling) into.profiling = std::move(other.profiling);
  if (other.api) into.api = std::move(other.api);
  if (other.metrics) into.metrics = std::move(other.metrics);
}

}  // namespace gost::config
