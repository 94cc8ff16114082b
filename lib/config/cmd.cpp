// -L / -F URLs into a Config, following go-gost/x config/cmd/cmd.go rule by rule (names,
// fallbacks, which metadata a query key lands in, which keys are removed where). GOST looks keys
// up case-insensitively but deletes them by their exact spelling; that is kept, so `?Retries=3`
// sets handler.retries and also stays in the metadata, as in GOST.

#include "gost/config/cmd.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/internal.hpp"
#include "gost/core/metadata.hpp"

namespace gost::config {
namespace {

using detail::lower;
using Map = std::map<std::string, Json>;

struct CmdError {
  std::string msg;
};

// --- a subset of Go's net/url ------------------------------------------------------------------

struct Url {
  std::string scheme;
  bool has_user = false;
  std::string username;
  std::optional<std::string> password;
  std::string host;
  std::string path;  // as written (Go's EscapedPath)
  std::string raw_query;
  std::string hostname() const {  // Go's URL.Hostname()
    if (!host.empty() && host[0] == '[') {
      auto e = host.find(']');
      return e == std::string::npos ? host.substr(1) : host.substr(1, e - 1);
    }
    auto c = host.rfind(':');
    if (c != std::string::npos) {
      bool digits = true;
      for (std::size_t i = c + 1; i < host.size(); ++i)
        digits = digits && std::isdigit(static_cast<unsigned char>(host[i]));
      if (digits) return host.substr(0, c);
    }
    return host;
  }
};

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> unescape(std::string_view s, bool query) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0) return std::nullopt;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else if (c == '+' && query) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

bool valid_optional_port(std::string_view p) {
  if (p.empty()) return true;
  if (p[0] != ':') return false;
  for (char c : p.substr(1)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool host_char_ok(char c) {
  if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80)
    return true;
  return std::string_view("-_.~!$&'()*+,;=:[]<>\"%").find(c) != std::string_view::npos;
}

Url parse_url(const std::string& raw) {
  for (char c : raw) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      throw CmdError{fmt::format("{:?}: invalid control character in URL", raw)};
    }
  }
  Url u;
  std::string s = raw.substr(0, raw.find('#'));
  auto colon = s.find("://");
  std::string scheme = s.substr(0, colon);
  bool ok = !scheme.empty() && std::isalpha(static_cast<unsigned char>(scheme[0]));
  for (char c : scheme) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.');
  }
  if (!ok) throw CmdError{fmt::format("{:?}: invalid scheme {:?}", raw, scheme)};
  u.scheme = lower(scheme);
  std::string rest = s.substr(colon + 3);
  if (auto q = rest.find('?'); q != std::string::npos) {
    u.raw_query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string authority = rest;
  if (auto p = rest.find('/'); p != std::string::npos) {
    authority = rest.substr(0, p);
    u.path = rest.substr(p);
  }
  if (!unescape(u.path, false))
    throw CmdError{fmt::format("{:?}: invalid URL escape in path", raw)};
  std::string host = authority;
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    std::string ui = authority.substr(0, at);
    host = authority.substr(at + 1);
    u.has_user = true;
    auto c = ui.find(':');
    auto user = unescape(ui.substr(0, c), false);
    if (!user) throw CmdError{fmt::format("{:?}: invalid URL escape in user info", raw)};
    u.username = *user;
    if (c != std::string::npos) {
      auto pass = unescape(ui.substr(c + 1), false);
      if (!pass) throw CmdError{fmt::format("{:?}: invalid URL escape in user info", raw)};
      u.password = *pass;
    }
  }
  if (!host.empty() && host[0] == '[') {
    auto e = host.find(']');
    if (e == std::string::npos) throw CmdError{fmt::format("{:?}: missing ']' in host", raw)};
    if (!valid_optional_port(host.substr(e + 1))) {
      throw CmdError{fmt::format("{:?}: invalid port {:?} after host", raw, host.substr(e + 1))};
    }
  } else if (auto c = host.rfind(':'); c != std::string::npos) {
    if (!valid_optional_port(host.substr(c))) {
      throw CmdError{fmt::format("{:?}: invalid port {:?} after host", raw, host.substr(c))};
    }
  }
  for (char c : host) {
    if (!host_char_ok(c))
      throw CmdError{
          fmt::format("{:?}: invalid character {:?} in host name", raw, std::string(1, c))};
  }
  if (!unescape(host, false)) throw CmdError{fmt::format("{:?}: invalid URL escape in host", raw)};
  u.host = host;
  return u;
}

// Go's url.Query(), first value of each key; malformed pairs are errors here.
Map parse_query(const std::string& q, const std::string& raw) {
  Map m;
  std::size_t pos = 0;
  while (pos <= q.size() && !q.empty()) {
    auto amp = q.find('&', pos);
    std::string part = q.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    pos = amp == std::string::npos ? q.size() + 1 : amp + 1;
    if (part.empty()) continue;
    if (part.find(';') != std::string::npos) {
      throw CmdError{fmt::format("{:?}: invalid semicolon separator in query", raw)};
    }
    auto eq = part.find('=');
    auto k = unescape(part.substr(0, eq), true);
    auto v = unescape(eq == std::string::npos ? std::string() : part.substr(eq + 1), true);
    if (!k || !v) throw CmdError{fmt::format("{:?}: invalid URL escape in query {:?}", raw, part)};
    m.emplace(*k, Json(*v));  // the first value wins
  }
  return m;
}

// --- GOST's metadata getters (case-insensitive lookup on a snapshot) ---------------------------

class Md {
 public:
  explicit Md(const Map& m) {
    for (auto& [k, v] : m) m_.emplace(lower(k), v);
  }
  const Json* find(std::initializer_list<std::string_view> keys) const {
    for (auto k : keys) {
      auto it = m_.find(lower(k));
      if (it != m_.end()) return &it->second;
    }
    return nullptr;
  }
  std::string str(std::initializer_list<std::string_view> keys) const {
    const Json* v = find(keys);
    if (!v || v->is_array() || v->is_object() || v->is_null()) return "";
    return detail::json_scalar_text(*v);
  }
  std::int64_t integer(std::initializer_list<std::string_view> keys) const {
    const Json* v = find(keys);
    if (!v) return 0;
    if (v->is_boolean()) return v->get<bool>() ? 1 : 0;
    if (v->is_number_integer()) return v->get<std::int64_t>();
    if (v->is_string()) return atoi_go(v->get<std::string>());
    return 0;
  }
  bool boolean(std::initializer_list<std::string_view> keys) const {
    const Json* v = find(keys);
    if (!v) return false;
    if (v->is_boolean()) return v->get<bool>();
    if (v->is_number_integer()) return v->get<std::int64_t>() != 0;
    if (v->is_string()) {
      const auto& s = v->get_ref<const std::string&>();
      return s == "1" || s == "t" || s == "T" || s == "true" || s == "True" || s == "TRUE";
    }
    return false;
  }
  Duration duration(std::initializer_list<std::string_view> keys) const {
    const Json* v = find(keys);
    if (!v) return Duration{0};
    if (v->is_number_integer()) return std::chrono::seconds(v->get<std::int64_t>());
    if (v->is_string()) {
      if (auto d = gost::parse_duration(v->get<std::string>())) return *d;
    }
    return Duration{0};
  }
  static std::int64_t atoi_go(const std::string& s) {
    std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    if (i == s.size()) return 0;
    std::int64_t n = 0;
    for (std::size_t j = i; j < s.size(); ++j) {
      if (!std::isdigit(static_cast<unsigned char>(s[j]))) return 0;
      n = n * 10 + (s[j] - '0');
      if (n > (std::int64_t{1} << 40)) return 0;
    }
    return s[0] == '-' ? -n : n;
  }

 private:
  std::map<std::string, Json> m_;
};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::optional<std::string> cut_prefix(const std::string& k, std::string_view p) {
  if (starts_with(k, p)) return k.substr(p.size());
  return std::nullopt;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    auto i = s.find(sep, pos);
    out.emplace_back(s.substr(pos, i == std::string_view::npos ? std::string_view::npos : i - pos));
    if (i == std::string_view::npos) break;
    pos = i + 1;
  }
  return out;
}

// --- base64 (Go's RawURLEncoding, then StdEncoding) ---------------------------------------------

std::optional<std::string> b64(std::string_view s, bool url) {
  auto val = [url](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
  };
  std::string in;
  for (char c : s) {
    if (c != '\r' && c != '\n') in += c;
  }
  if (!url) {  // padded
    if (in.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    while (pad < 2 && !in.empty() && in[in.size() - 1 - pad] == '=') ++pad;
    in.resize(in.size() - pad);
  }
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::optional<std::string> b64_any(std::string_view s) {
  if (auto r = b64(s, true)) return r;
  return b64(s, false);
}

std::optional<AuthConfig> sip002_auth(const Url& u) {
  if (!u.has_user || u.password || u.username.empty()) return std::nullopt;
  auto d = b64_any(u.username);
  if (!d) return std::nullopt;
  auto n = d->find(':');
  if (n == std::string::npos) return std::nullopt;
  return AuthConfig{d->substr(0, n), d->substr(n + 1), {}};
}

AuthConfig auth_from_cmd(const std::string& sa) {
  auto d = b64_any(sa);
  if (!d) throw CmdError{fmt::format("auth={:?}: not base64 of user:pass", sa)};
  auto n = d->find(':');
  if (n == std::string::npos) return AuthConfig{*d, {}, {}};
  return AuthConfig{d->substr(0, n), d->substr(n + 1), {}};
}

std::optional<AuthConfig> url_auth(const Url& u) {
  if (!u.has_user) return std::nullopt;
  std::optional<AuthConfig> a;
  if (starts_with(u.scheme, "ss")) a = sip002_auth(u);
  if (!a) a = AuthConfig{u.username, u.password.value_or(""), {}};
  return a;
}

// Go's url.Parse after GOST's Norm (no scheme -> auto, https -> http+tls).
Url norm(std::string s, std::string_view flag) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  if (s.empty()) throw CmdError{fmt::format("{}: empty argument", flag)};
  if (s[0] == ':' || s.find("://") == std::string::npos) s = "auto://" + s;
  Url u = parse_url(s);
  if (u.scheme == "https") u.scheme = "http+tls";
  return u;
}

// Go's net.SplitHostPort.
bool split_host_port(const std::string& hp, std::string& host, std::string& port) {
  if (!hp.empty() && hp[0] == '[') {
    auto end = hp.find(']');
    if (end == std::string::npos || end + 1 >= hp.size() || hp[end + 1] != ':') return false;
    host = hp.substr(1, end - 1);
    port = hp.substr(end + 2);
    return host.find_first_of("[]") == std::string::npos &&
           port.find_first_of("[]") == std::string::npos;
  }
  auto i = hp.rfind(':');
  if (i == std::string::npos) return false;
  host = hp.substr(0, i);
  port = hp.substr(i + 1);
  return host.find(':') == std::string::npos && host.find_first_of("[]") == std::string::npos &&
         port.find_first_of("[]") == std::string::npos;
}

std::string join_host_port(const std::string& h, const std::string& p) {
  if (h.find(':') != std::string::npos) return "[" + h + "]:" + p;
  return h + ":" + p;
}

int parse_port(const std::string& s, const std::string& whole) {
  bool digits = !s.empty() && s.size() <= 5;
  for (char c : s) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  int p = digits ? std::stoi(s) : -1;
  if (p < 0 || p > 65535) throw CmdError{fmt::format("invalid port {:?} in {:?}", s, whole)};
  return p;
}

// GOST's AddrPortRange: "host:8000-8003" -> one address per port; empty when not host:port.
std::vector<std::string> expand_port_range(const std::string& addr) {
  std::vector<std::string> out;
  if (addr.find("://") != std::string::npos) return out;
  std::string host, port;
  if (!split_host_port(addr, host, port)) return out;
  auto parts = split(port, '-');
  int lo, hi;
  if (parts.size() == 1) {
    lo = hi = parse_port(parts[0], addr);
  } else if (parts.size() == 2) {
    lo = parse_port(parts[0], addr);
    hi = parse_port(parts[1], addr);
    if (lo > hi) throw CmdError{fmt::format("invalid port range {:?} in {:?}", port, addr)};
  } else {
    throw CmdError{fmt::format("invalid port range {:?} in {:?}", port, addr)};
  }
  for (int p = lo; p <= hi; ++p) out.push_back(join_host_port(host, std::to_string(p)));
  return out;
}

// GOST's parseSelector: consumes strategy / maxFails / failTimeout.
std::optional<SelectorConfig> parse_selector(Map& m) {
  Md md(m);
  std::string strategy = md.str({"strategy"});
  auto max_fails = md.integer({"maxFails", "max_fails"});
  Duration fail_timeout = md.duration({"failTimeout", "fail_timeout"});
  if (strategy.empty() && max_fails <= 0 && fail_timeout.count() <= 0) return std::nullopt;
  SelectorConfig s;
  s.strategy = strategy.empty() ? "round" : strategy;
  s.max_fails = max_fails <= 0 ? 1 : static_cast<int>(std::min<std::int64_t>(max_fails, 1 << 30));
  s.fail_timeout = fail_timeout.count() <= 0 ? Duration(std::chrono::seconds(30)) : fail_timeout;
  for (auto k : {"strategy", "maxFails", "max_fails", "failTimeout", "fail_timeout"}) m.erase(k);
  return s;
}

std::vector<std::string> matcher_list(std::string v, bool& whitelist) {
  if (!v.empty() && v[0] == '~') {
    whitelist = true;
    v = v.substr(1);
  }
  std::vector<std::string> out;
  for (auto& s : split(v, ',')) {
    if (!s.empty()) out.push_back(s);
  }
  return out;
}

Json to_json_map(const Map& m) {
  Json j = Json::object();
  for (auto& [k, v] : m) j[k] = v;
  return j;
}

void append_extra(Config& cfg, const char* list, Json item) {
  auto& a = cfg.extras[list];
  if (!a.is_array()) a = Json::array();
  a.push_back(std::move(item));
}

std::size_t extra_count(const Config& cfg, const char* list) {
  auto it = cfg.extras.find(list);
  return it == cfg.extras.end() || !it->is_array() ? 0 : it->size();
}

Json hosts_config(const std::string& name, const std::string& v) {
  Json mappings = Json::array();
  for (auto& s : split(v, ',')) {
    auto c = s.find(':');
    if (c == std::string::npos) continue;
    mappings.push_back(Json{{"ip", s.substr(c + 1)}, {"hostname", s.substr(0, c)}});
  }
  Json h = {{"name", name}};
  if (!mappings.empty()) h["mappings"] = mappings;
  return h;
}

// --- -F -----------------------------------------------------------------------------------------

NodeConfig build_node_config(const Url& url, Map& m, const Registry& reg) {
  std::string connector, dialer;
  auto schemes = split(url.scheme, '+');
  if (schemes.size() == 1) connector = dialer = schemes[0];
  if (schemes.size() == 2) {
    connector = schemes[0];
    dialer = schemes[1];
  }
  bool path_based =
      dialer == "unix" || dialer == "serial" || connector == "unix" || connector == "serial";
  for (auto& s : schemes) path_based = path_based || s == "unix" || s == "serial" || s == "runix";

  Md md(m);
  if (!reg.connector(connector)) connector = "http";
  if (!reg.dialer(dialer)) dialer = connector == "ssu" ? "udp" : "tcp";

  std::optional<AuthConfig> auth = url_auth(url);
  if (auto sa = md.str({"auth"}); !sa.empty() && !auth) auth = auth_from_cmd(sa);
  m.erase("auth");

  TLSConfig tls;
  tls.cert_file = md.str({"tls.certFile", "certFile", "cert"});
  tls.key_file = md.str({"tls.keyFile", "keyFile", "key"});
  tls.ca_file = md.str({"tls.caFile", "caFile", "ca"});
  tls.secure = md.boolean({"tls.secure", "secure"});
  tls.server_name = md.str({"tls.servername", "servername"});
  if (tls.server_name.empty()) tls.server_name = url.hostname();
  for (auto k : {"tls.certFile", "certFile", "cert", "tls.keyFile", "keyFile", "key", "tls.caFile",
                 "caFile", "ca", "tls.secure", "secure", "tls.servername", "serverName"}) {
    m.erase(k);
  }
  bool has_tls =
      tls.secure || !tls.cert_file.empty() || !tls.ca_file.empty() || !tls.server_name.empty();

  Map node_md, connector_md, dialer_md;
  for (auto& [k, v] : m) {
    if (auto s = cut_prefix(k, "node.")) {
      node_md[*s] = v;
    } else if (auto s2 = cut_prefix(k, "connector.")) {
      connector_md[*s2] = v;
    } else if (auto s3 = cut_prefix(k, "dialer.")) {
      dialer_md[*s3] = v;
    } else {
      connector_md[k] = v;
      dialer_md[k] = v;
      node_md[k] = v;
    }
  }

  NodeConfig node;
  node.addr = path_based && url.host.empty() ? url.path : url.host;
  node.metadata = to_json_map(node_md);
  ConnectorConfig cc;
  cc.type = connector;
  cc.auth = auth;
  cc.metadata = to_json_map(connector_md);
  DialerConfig dc;
  dc.type = dialer;
  if (has_tls) dc.tls = tls;
  dc.metadata = to_json_map(dialer_md);
  if (dc.type == "ssh" || dc.type == "sshd") {
    dc.auth = cc.auth;
    cc.auth.reset();
  }
  node.connector = std::move(cc);
  node.dialer = std::move(dc);
  return node;
}

// --- -L -----------------------------------------------------------------------------------------

// GOST's cutHost: the host part of "scheme://[user@]host[/...][?...]" and the rest without it.
std::pair<std::string, std::string> cut_host(const std::string& s) {
  auto n = s.find(':');
  std::size_t start = n + 3;
  if (n == std::string::npos || start > s.size()) return {"", s};
  auto end = s.find_first_of("/?", start);
  if (end == std::string::npos) end = s.size();
  auto at = s.substr(start, end - start).rfind('@');
  if (at != std::string::npos) start += at + 1;
  return {s.substr(start, end - start), s.substr(0, start) + s.substr(end)};
}

std::vector<ServiceConfig> build_service_config(const Url& url, const Registry& reg) {
  std::string handler, listener;
  auto schemes = split(url.scheme, '+');
  if (schemes.size() == 1) handler = listener = schemes[0];
  if (schemes.size() == 2) {
    handler = schemes[0];
    listener = schemes[1];
  }
  bool path_based = listener == "unix" || listener == "runix" || listener == "serial";
  for (auto& s : schemes) path_based = path_based || s == "unix" || s == "runix" || s == "serial";
  bool path_addr = path_based && url.host.empty();

  std::vector<std::string> addrs;
  if (path_addr) {
    addrs.push_back(url.path.empty() ? url.host : url.path);
  } else {
    addrs = expand_port_range(url.host);
    if (addrs.empty()) addrs.push_back(url.host);
  }
  std::vector<ServiceConfig> services(addrs.size());
  for (std::size_t i = 0; i < addrs.size(); ++i) services[i].addr = addrs[i];

  if (!reg.handler(handler)) handler = "auto";
  if (!reg.listener(listener)) listener = handler == "ssu" ? "udp" : "tcp";

  std::vector<ForwardNodeConfig> nodes;
  std::string remotes = url.path;
  while (!remotes.empty() && remotes.front() == '/') remotes.erase(0, 1);
  while (!remotes.empty() && remotes.back() == '/') remotes.pop_back();
  if (!remotes.empty() && !path_addr) {
    for (auto& addr : split(remotes, ',')) {
      auto targets = expand_port_range(addr);
      if (targets.empty()) targets.push_back(addr);
      for (auto& t : targets) {
        ForwardNodeConfig n;
        n.name = fmt::format("target-{}", nodes.size());
        n.addr = t;
        nodes.push_back(std::move(n));
      }
    }
    if (handler != "relay") {
      static const char* kForwardListeners[] = {"tcp", "udp", "rtcp", "rudp",  "tun",
                                                "tap", "dns", "unix", "runix", "serial"};
      bool named = false;
      for (auto* l : kForwardListeners) named = named || listener == l;
      handler = named ? listener : "forward";
    }
  }
  if (listener == "stdio" && nodes.empty() && !url.host.empty()) {
    ForwardNodeConfig n;
    n.name = "target-0";
    n.addr = url.host;
    nodes.push_back(std::move(n));
    if (handler == "auto") handler = "tcp";
  }
  if (!nodes.empty()) {
    if (services.size() == 1) {
      services[0].forwarder = ForwarderConfig{};
      services[0].forwarder->nodes = nodes;
    } else {
      for (std::size_t i = 0; i < services.size(); ++i) {
        if (nodes.size() == 1) {
          services[i].forwarder = ForwarderConfig{};
          services[i].forwarder->nodes = nodes;
        } else if (i < nodes.size()) {
          services[i].forwarder = ForwarderConfig{};
          services[i].forwarder->nodes = {nodes[i]};
        }
      }
    }
  }

  std::optional<AuthConfig> auth = url_auth(url);
  Map m = parse_query(url.raw_query, url.scheme + "://" + url.host);
  Md md(m);
  if (auto sa = md.str({"auth"}); !sa.empty() && !auth) auth = auth_from_cmd(sa);
  m.erase("auth");

  std::optional<TLSConfig> tls = TLSConfig{};
  tls->cert_file = md.str({"tls.certFile", "certFile", "cert"});
  tls->key_file = md.str({"tls.keyFile", "keyFile", "key"});
  tls->ca_file = md.str({"tls.caFile", "caFile", "ca"});
  for (auto k : {"tls.certFile", "certFile", "cert", "tls.keyFile", "keyFile", "key", "tls.caFile",
                 "caFile", "ca"}) {
    m.erase(k);
  }
  if (tls->cert_file.empty()) tls.reset();

  if (auto v = md.str({"dns"}); !v.empty()) {
    Json a = Json::array();
    for (auto& s : split(v, ',')) a.push_back(s);
    m["dns"] = a;
  }
  if (auto v = md.str({"interface"}); !v.empty()) {
    m["service.interface"] = v;
    m.erase("interface");
  }
  if (auto v = md.integer({"so_mark"}); v > 0) {
    m["service.so_mark"] = v;
    m.erase("so_mark");
  }
  if (auto v = md.integer({"proxyProtocol"}); v > 0) {
    m["service.proxyProtocol"] = v;
    m.erase("proxyProtocol");
  }
  if (auto v = md.str({"netns"}); !v.empty()) {
    m["service.netns"] = v;
    m.erase("netns");
  }
  if (auto v = md.str({"netns.out"}); !v.empty()) {
    m["service.netns.out"] = v;
    m.erase("netns.out");
  }

  auto selector = parse_selector(m);

  Map service_md, handler_md, listener_md;
  for (auto& [k, v] : m) {
    if (auto s = cut_prefix(k, "service.")) {
      service_md[*s] = v;
    } else if (auto s2 = cut_prefix(k, "handler.")) {
      handler_md[*s2] = v;
    } else if (auto s3 = cut_prefix(k, "listener.")) {
      listener_md[*s3] = v;
    } else {
      handler_md[k] = v;
      listener_md[k] = v;
      service_md[k] = v;
    }
  }

  HandlerConfig hc;
  hc.type = handler;
  hc.auth = auth;
  hc.metadata = to_json_map(handler_md);
  ListenerConfig lc;
  lc.type = listener;
  lc.tls = tls;
  lc.metadata = to_json_map(listener_md);
  if (lc.type == "ssh" || lc.type == "sshd") {
    lc.auth = hc.auth;
    hc.auth.reset();
  }
  for (auto& svc : services) {
    if (svc.forwarder) svc.forwarder->selector = selector;
    svc.handler = hc;
    svc.listener = lc;
    svc.metadata = to_json_map(service_md);
  }
  return services;
}

// The special -L keys GOST reads from the handler metadata (retries, admission, bypass, ...).
void apply_service_keys(Config& cfg, ServiceConfig& service) {
  Json& mh = service.handler->metadata;
  Map snapshot;
  for (auto it = mh.begin(); it != mh.end(); ++it) snapshot[it.key()] = *it;
  Md md(snapshot);
  if (auto v = md.integer({"retries"}); v > 0) {
    service.handler->retries = static_cast<int>(std::min<std::int64_t>(v, 1 << 20));
    mh.erase("retries");
  }
  if (auto v = md.str({"admission"}); !v.empty()) {
    AdmissionConfig a;
    a.name = fmt::format("admission-{}", cfg.admissions.size());
    a.matchers = matcher_list(v, a.whitelist);
    service.admission = a.name;
    cfg.admissions.push_back(std::move(a));
    mh.erase("admission");
  }
  if (auto v = md.str({"bypass"}); !v.empty()) {
    BypassConfig b;
    b.name = fmt::format("bypass-{}", cfg.bypasses.size());
    b.matchers = matcher_list(v, b.whitelist);
    service.bypass = b.name;
    cfg.bypasses.push_back(std::move(b));
    mh.erase("bypass");
  }
  if (auto v = md.str({"resolver"}); !v.empty()) {
    std::string name = fmt::format("resolver-{}", extra_count(cfg, "resolvers"));
    Json ns = Json::array();
    std::string prefer = md.str({"prefer"});
    for (auto& s : split(v, ',')) {
      if (s.empty()) continue;
      Json n = {{"addr", s}};
      if (!prefer.empty()) n["prefer"] = prefer;
      ns.push_back(n);
    }
    Json r = {{"name", name}};
    if (!ns.empty()) r["nameservers"] = ns;
    append_extra(cfg, "resolvers", r);
    service.extras["resolver"] = name;
    mh.erase("resolver");
  }
  if (auto v = md.str({"hosts"}); !v.empty()) {
    std::string name = fmt::format("hosts-{}", extra_count(cfg, "hosts"));
    append_extra(cfg, "hosts", hosts_config(name, v));
    service.extras["hosts"] = name;
    mh.erase("hosts");
  }
  std::string in = md.str({"limiter.in"}), out = md.str({"limiter.out"});
  std::string cin = md.str({"limiter.conn.in"}), cout = md.str({"limiter.conn.out"});
  if (!in.empty() || !out.empty() || !cin.empty() || !cout.empty()) {
    std::string name = fmt::format("limiter-{}", extra_count(cfg, "limiters"));
    Json limits = Json::array();
    if (!in.empty() || !out.empty()) limits.push_back(fmt::format("$ {} {}", in, out));
    if (!cin.empty() || !cout.empty()) limits.push_back(fmt::format("$$ {} {}", cin, cout));
    append_extra(cfg, "limiters", Json{{"name", name}, {"limits", limits}});
    service.extras["limiter"] = name;
    for (auto k : {"limiter.in", "limiter.out", "limiter.conn.in", "limiter.conn.out"}) mh.erase(k);
  }
  if (auto v = md.integer({"climiter"}); v > 0) {
    std::string name = fmt::format("climiter-{}", extra_count(cfg, "climiters"));
    append_extra(cfg, "climiters", Json{{"name", name}, {"limits", {fmt::format("$ {}", v)}}});
    service.extras["climiter"] = name;
    mh.erase("climiter");
  }
  if (const Json* rv = md.find({"rlimiter"})) {
    double r = 0;
    if (rv->is_number()) r = rv->get<double>();
    if (rv->is_string()) r = std::strtod(rv->get<std::string>().c_str(), nullptr);
    if (r > 0) {
      std::string name = fmt::format("rlimiter-{}", extra_count(cfg, "rlimiters"));
      append_extra(cfg, "rlimiters", Json{{"name", name}, {"limits", {fmt::format("$ {}", r)}}});
      service.extras["rlimiter"] = name;
      mh.erase("rlimiter");
    }
  }
}

Config build(const std::vector<std::string>& service_list,
             const std::vector<std::string>& node_list, const Registry& reg) {
  Config cfg;
  std::optional<ChainConfig> chain;
  if (!node_list.empty()) {
    chain = ChainConfig{};
    chain->name = "chain-0";
  }
  for (std::size_t i = 0; i < node_list.size(); ++i) {
    Url url = norm(node_list[i], "-F");
    Map m = parse_query(url.raw_query, node_list[i]);
    Md md(m);

    HopConfig hop;
    hop.name = fmt::format("hop-{}", i);
    hop.selector = parse_selector(m);

    if (auto v = md.str({"bypass"}); !v.empty()) {
      BypassConfig b;
      b.name = fmt::format("bypass-{}", cfg.bypasses.size());
      b.matchers = matcher_list(v, b.whitelist);
      hop.bypass = b.name;
      cfg.bypasses.push_back(std::move(b));
      m.erase("bypass");
    }
    if (auto v = md.str({"resolver"}); !v.empty()) {
      std::string name = fmt::format("resolver-{}", extra_count(cfg, "resolvers"));
      Json ns = Json::array();
      for (auto& s : split(v, ',')) {
        if (!s.empty()) ns.push_back(Json{{"addr", s}});
      }
      Json r = {{"name", name}};
      if (!ns.empty()) r["nameservers"] = ns;
      append_extra(cfg, "resolvers", r);
      hop.extras["resolver"] = name;
      m.erase("resolver");
    }
    if (auto v = md.str({"hosts"}); !v.empty()) {
      std::string name = fmt::format("hosts-{}", extra_count(cfg, "hosts"));
      append_extra(cfg, "hosts", hosts_config(name, v));
      hop.extras["hosts"] = name;
      m.erase("hosts");
    }
    if (auto v = md.str({"interface"}); !v.empty()) {
      m["hop.interface"] = v;
      m.erase("interface");
    }
    if (auto v = md.integer({"so_mark"}); v > 0) {
      m["hop.so_mark"] = v;
      m.erase("so_mark");
    }
    if (auto v = md.integer({"proxyProtocol"}); v > 0) {
      m["hop.proxyProtocol"] = v;
      m.erase("proxyProtocol");
    }

    Map hop_md;
    for (auto it = m.begin(); it != m.end();) {
      const std::string& k = it->first;
      if (starts_with(k, "node.") || starts_with(k, "connector.") || starts_with(k, "dialer.")) {
        ++it;
        continue;
      }
      if (auto s = cut_prefix(k, "hop.")) {
        hop_md[*s] = it->second;
        it = m.erase(it);
        continue;
      }
      hop_md[k] = it->second;
      ++it;
    }
    hop.metadata = to_json_map(hop_md);

    NodeConfig node = build_node_config(url, m, reg);
    for (auto& host : split(node.addr, ',')) {
      if (host.empty()) continue;
      NodeConfig n = node;
      n.name = fmt::format("node-{}", hop.nodes.size());
      n.addr = host;
      hop.nodes.push_back(std::move(n));
    }
    if (hop.nodes.empty()) throw CmdError{fmt::format("-F {:?}: no node address", node_list[i])};
    chain->hops.push_back(std::move(hop));
  }
  if (chain) cfg.chains.push_back(*chain);

  std::vector<ServiceConfig> services;
  for (auto svc : service_list) {
    auto b = svc.find_first_not_of(" \t\r\n");
    auto e = svc.find_last_not_of(" \t\r\n");
    if (b == std::string::npos) continue;
    svc = svc.substr(b, e - b + 1);
    if (svc[0] == ':' || svc.find("://") == std::string::npos) svc = "auto://" + svc;
    auto [host, remain] = cut_host(svc);
    Url url = norm(remain, "-L");
    url.host = host;
    for (char c : host) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
        throw CmdError{fmt::format("-L {:?}: invalid control character or space in address", svc)};
      }
    }
    for (auto& s : build_service_config(url, reg)) services.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < services.size(); ++i) {
    auto& service = services[i];
    service.name = fmt::format("service-{}", i);
    if (chain) {
      const auto& lt = service.listener->type;
      if (lt == "rtcp" || lt == "rudp" || lt == "runix") {
        service.listener->chain = chain->name;
      } else {
        service.handler->chain = chain->name;
      }
    }
    apply_service_keys(cfg, service);
    cfg.services.push_back(std::move(service));
  }
  return cfg;
}

}  // namespace

Result<Config, ConfigError> build_config_from_cmd(const std::vector<std::string>& services,
                                                  const std::vector<std::string>& nodes,
                                                  const Registry& registry) {
  try {
    return build(services, nodes, registry);
  } catch (const CmdError& e) {
    return config_error(e.msg);
  }
}

}  // namespace gost::config
