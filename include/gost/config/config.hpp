#pragma once
// GOST v3 configuration schema (go-gost/x config/config.go), reading and writing it.
//
// The structs mirror GOST's for what this build implements; field names in YAML/JSON are GOST's
// (`maxFails`, `failTimeout`, `chainGroup`, ...), matched case-insensitively as GOST's
// viper/mapstructure does. Keys that GOST knows but this build does not implement (resolvers,
// limiters, plugins, ...) are kept verbatim in each struct's `extras` so that `-O yaml|json`
// prints them back; the loader (gost/config/loader.hpp) refuses to start with any of them set.
// A key GOST does not know, or a value of the wrong type, is an error that names its path:
//   services[0].handler.tpye: unknown key
//   chains[1].hops[0].selector.maxFails: expected an integer, got "x"
//
// Values are converted as GOST's weakly typed decoding does: "3" is an integer, 1 and "true" are
// booleans, a single value is a one-element list. Durations are Go strings ("30s", "1m30s") or
// integers of seconds (integers of 10^9 and more are Go nanoseconds, as `gost -O json` writes
// them). Metadata keeps its values typed (nlohmann::json) so that output is faithful.

#include <chrono>
#include <istream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gost/core/error.hpp"

namespace gost::config {

using Json = nlohmann::json;
using Duration = std::chrono::milliseconds;

struct AuthConfig {
  std::string username;
  std::string password;
  std::string file;  // "user pass" on the first line (connector / listener credentials)
  friend bool operator==(const AuthConfig&, const AuthConfig&) = default;
};

struct TLSOptions {
  std::string min_version;                 // minVersion
  std::string max_version;                 // maxVersion
  std::vector<std::string> cipher_suites;  // cipherSuites
  std::vector<std::string> alpn;
  friend bool operator==(const TLSOptions&, const TLSOptions&) = default;
};

struct TLSConfig {
  std::string cert_file;  // certFile
  std::string key_file;   // keyFile
  std::string ca_file;    // caFile
  bool secure = false;
  std::string server_name;  // serverName
  std::optional<TLSOptions> options;
  Duration validity{0};
  std::string common_name;  // commonName
  std::string organization;
  bool reject_unknown_sni = false;        // rejectUnknownSNI
  std::vector<std::string> server_names;  // serverNames
  friend bool operator==(const TLSConfig&, const TLSConfig&) = default;
};

struct SelectorConfig {
  std::string strategy;      // round|rr, rand|random, fifo|ha, hash; empty = round
  int max_fails = 0;         // maxFails; <= 0 = 1
  Duration fail_timeout{0};  // failTimeout; <= 0 = 10s
  Duration max_latency{0};   // maxLatency (not supported by this build)
  friend bool operator==(const SelectorConfig&, const SelectorConfig&) = default;
};

struct FileLoader {
  std::string path;
  friend bool operator==(const FileLoader&, const FileLoader&) = default;
};

struct AutherConfig {
  std::string name;
  std::vector<AuthConfig> auths;
  std::optional<FileLoader> file;  // "user pass" per line
  Json extras = Json::object();    // reload, redis, http, plugin
  friend bool operator==(const AutherConfig&, const AutherConfig&) = default;
};

struct AdmissionConfig {
  std::string name;
  bool reverse = false;  // deprecated spelling of whitelist
  bool whitelist = false;
  std::vector<std::string> matchers;
  std::optional<FileLoader> file;  // one matcher per line, '#' comments
  Json extras = Json::object();    // reload, redis, http, plugin
  friend bool operator==(const AdmissionConfig&, const AdmissionConfig&) = default;
};

struct BypassConfig {
  std::string name;
  bool reverse = false;  // deprecated spelling of whitelist
  bool whitelist = false;
  std::string network;  // "", "tcp" or "udp"
  std::vector<std::string> matchers;
  std::optional<FileLoader> file;
  Json extras = Json::object();  // reload, redis, http, plugin
  friend bool operator==(const BypassConfig&, const BypassConfig&) = default;
};

struct ConnectorConfig {
  std::string type;  // empty = http
  std::optional<AuthConfig> auth;
  std::optional<TLSConfig> tls;
  Json metadata = Json::object();
  friend bool operator==(const ConnectorConfig&, const ConnectorConfig&) = default;
};

struct DialerConfig {
  std::string type;  // empty = tcp
  std::optional<AuthConfig> auth;
  std::optional<TLSConfig> tls;
  Json metadata = Json::object();
  friend bool operator==(const DialerConfig&, const DialerConfig&) = default;
};

struct NodeConfig {
  std::string name;
  std::string addr;
  std::string bypass;
  std::vector<std::string> bypasses;
  std::optional<ConnectorConfig> connector;
  std::optional<DialerConfig> dialer;
  std::string iface;  // `interface` (deprecated in GOST: metadata.interface)
  Json metadata = Json::object();
  Json extras = Json::object();  // network, resolver, hosts, netns, sockopts, filter, matcher,
                                 // http, tls, probe
  friend bool operator==(const NodeConfig&, const NodeConfig&) = default;
};

struct HopConfig {
  std::string name;
  std::string iface;  // `interface` (deprecated in GOST: metadata.interface)
  std::optional<SelectorConfig> selector;
  std::string bypass;
  std::vector<std::string> bypasses;
  // In a chain, a hop with no nodes refers to the top-level hop of the same name.
  std::vector<NodeConfig> nodes;
  Json metadata = Json::object();
  Json extras = Json::object();  // sockopts, resolver, hosts, reload, file, redis, http, plugin
  friend bool operator==(const HopConfig&, const HopConfig&) = default;
};

struct ChainConfig {
  std::string name;
  std::vector<HopConfig> hops;
  Json metadata = Json::object();
  friend bool operator==(const ChainConfig&, const ChainConfig&) = default;
};

struct ForwardNodeConfig {
  std::string name;
  std::string addr;
  std::string bypass;
  std::vector<std::string> bypasses;
  Json metadata = Json::object();  // weight, backup, maxFails, failTimeout
  Json extras =
      Json::object();  // network, protocol, host, path, filter, matcher, auth, http, tls, probe
  friend bool operator==(const ForwardNodeConfig&, const ForwardNodeConfig&) = default;
};

struct ForwarderConfig {
  std::string name;  // deprecated: names a top-level hop like `hop`
  std::string hop;   // a top-level hop used instead of nodes
  std::optional<SelectorConfig> selector;
  std::vector<ForwardNodeConfig> nodes;
  Json extras = Json::object();  // hopGroup
  friend bool operator==(const ForwarderConfig&, const ForwarderConfig&) = default;
};

struct HandlerConfig {
  std::string type;  // empty = auto
  int retries = 0;
  std::string chain;
  std::string auther;
  std::vector<std::string> authers;
  std::optional<AuthConfig> auth;  // used when no auther is named
  std::optional<TLSConfig> tls;
  Json metadata = Json::object();
  Json extras = Json::object();  // chainGroup, limiter, observer
  friend bool operator==(const HandlerConfig&, const HandlerConfig&) = default;
};

struct ListenerConfig {
  std::string type;   // empty = tcp
  std::string chain;  // for rtcp/rudp (not supported by this build)
  std::string auther;
  std::vector<std::string> authers;
  std::optional<AuthConfig> auth;
  std::optional<TLSConfig> tls;
  Json metadata = Json::object();
  Json extras = Json::object();  // chainGroup
  friend bool operator==(const ListenerConfig&, const ListenerConfig&) = default;
};

struct ServiceConfig {
  std::string name;
  std::string addr;
  std::string iface;  // `interface` (deprecated in GOST: metadata.interface)
  std::string admission;
  std::vector<std::string> admissions;
  std::string bypass;
  std::vector<std::string> bypasses;
  std::optional<HandlerConfig> handler;
  std::optional<ListenerConfig> listener;
  std::optional<ForwarderConfig> forwarder;
  Json metadata = Json::object();
  // sockopts, resolver, hosts, limiter, quotas, climiter, rlimiter, logger, loggers, observer,
  // rewriter, recorders, cache, status
  Json extras = Json::object();
  friend bool operator==(const ServiceConfig&, const ServiceConfig&) = default;
};

struct LogConfig {
  std::string output;            // stderr (default), stdout, none, or a file path
  std::string level;             // trace, debug, info (default), warn, error, fatal
  std::string format;            // text (default) or json
  Json extras = Json::object();  // rotation
  friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

struct APIConfig {
  std::string addr;
  std::string path_prefix;  // pathPrefix
  bool access_log = false;  // accesslog
  std::optional<AuthConfig> auth;
  std::string auther;
  friend bool operator==(const APIConfig&, const APIConfig&) = default;
};

struct MetricsConfig {
  std::string addr;
  std::string path;
  std::optional<AuthConfig> auth;
  std::string auther;
  friend bool operator==(const MetricsConfig&, const MetricsConfig&) = default;
};

struct ProfilingConfig {
  std::string addr;
  friend bool operator==(const ProfilingConfig&, const ProfilingConfig&) = default;
};

struct Config {
  std::vector<ServiceConfig> services;
  std::vector<ChainConfig> chains;
  std::vector<HopConfig> hops;
  std::vector<AutherConfig> authers;
  std::vector<AdmissionConfig> admissions;
  std::vector<BypassConfig> bypasses;
  std::optional<TLSConfig> tls;  // not supported by this build
  std::optional<LogConfig> log;
  std::optional<ProfilingConfig> profiling;  // not supported by this build
  std::optional<APIConfig> api;              // not supported by this build
  std::optional<MetricsConfig> metrics;      // not supported by this build
  // resolvers, hosts, ingresses, routers, sds, recorders, rewriters, caches, limiters, quotas,
  // climiters, rlimiters, observers, loggers (not supported by this build)
  Json extras = Json::object();
  friend bool operator==(const Config&, const Config&) = default;
};

enum class Format { yaml, json };

// Parses YAML or JSON text. origin (a file name, "stdin", ...) prefixes error messages.
Result<Config, ConfigError> parse_config(std::string_view text, Format format,
                                         std::string_view origin = {});
// Converts YAML text to the JSON value it denotes (YAML 1.2 core schema, as Go's yaml.v3 reads it
// into untyped values: `8080` is an integer, `"8080"` and `127.0.0.1:80` are strings).
Result<Json, ConfigError> yaml_to_json(std::string_view text);
// The strict decoder: GOST's field names (case-insensitive), typed values, errors with paths.
Result<Config, ConfigError> decode_config(const Json& j);

// Reads one -C source as GOST does: "-" reads `in` (JSON if it starts with '{', else YAML); text
// that starts with '{' and ends with '}' is inline JSON; otherwise a file whose extension (.yaml,
// .yml, .json) gives the format. http(s) URLs are not supported by this build.
Result<Config, ConfigError> load_config_source(const std::string& source, std::istream& in);

// Appends other's lists to into's; log/tls/api/metrics/profiling from other replace into's.
void merge_config(Config& into, Config other);

// The config as GOST names it, fields in GOST's order, empty fields omitted (-O output).
nlohmann::ordered_json to_json(const Config& cfg);
// -O yaml / -O json text.
std::string write_config(const Config& cfg, Format format);

}  // namespace gost::config
