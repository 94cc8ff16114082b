// Address matchers, bypass and admission (GOST x/bypass, x/admission semantics).
#include "gost/core/bypass.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace gost {

struct AddressMatcher::Rule {
  enum Kind { kIp, kCidr, kRange, kHost, kDomain, kGlob } kind = kHost;
  asio::ip::address ip, lo, hi;  // kIp; kRange bounds
  asio::ip::address net;         // kCidr network
  unsigned prefix = 0;
  std::string host;              // kHost exact; kDomain suffix (no leading dot); kGlob pattern
  std::uint16_t port_lo = 0, port_hi = 0;  // 0/0: any port
};

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!out.empty() && out.back() == '.') out.pop_back();  // "example.com." == "example.com"
  return out;
}

std::optional<std::uint16_t> to_port(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// '*' matches any run of characters, '?' one character.
bool glob_match(std::string_view pat, std::string_view s) {
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && (pat[p] == '?' || pat[p] == s[i])) {
      ++p;
      ++i;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

std::array<unsigned char, 16> bytes16(const asio::ip::address& a) {
  if (a.is_v4()) return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes();
  return a.to_v6().to_bytes();
}

asio::ip::address normalize(asio::ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

bool in_cidr(const asio::ip::address& a, const asio::ip::address& net, unsigned prefix) {
  if (a.is_v4() != net.is_v4()) return false;
  auto x = bytes16(a), y = bytes16(net);
  unsigned bits = net.is_v4() ? prefix + 96 : prefix;
  for (unsigned i = 0; i < 16 && bits > 0; ++i) {
    unsigned take = std::min(8u, bits);
    unsigned char mask = static_cast<unsigned char>(0xFF << (8 - take));
    if ((x[i] & mask) != (y[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

// Splits "host:port", "[v6]:port", "host", "v6" into host and port text.
void split_host_port(std::string_view s, std::string_view& host, std::string_view& port) {
  port = {};
  if (!s.empty() && s.front() == '[') {
    auto c = s.find(']');
    if (c == std::string_view::npos) {
      host = s;
      return;
    }
    host = s.substr(1, c - 1);
    if (c + 1 < s.size() && s[c + 1] == ':') port = s.substr(c + 2);
    return;
  }
  auto first = s.find(':');
  if (first != std::string_view::npos && first == s.rfind(':')) {
    host = s.substr(0, first);
    port = s.substr(first + 1);
  } else {
    host = s;  // no port, or a bare IPv6 literal
  }
}

}  // namespace

AddressMatcher::AddressMatcher() = default;
AddressMatcher::~AddressMatcher() = default;
AddressMatcher::AddressMatcher(AddressMatcher&&) noexcept = default;
AddressMatcher& AddressMatcher::operator=(AddressMatcher&&) noexcept = default;

bool AddressMatcher::empty() const noexcept { return rules_.empty(); }

Result<AddressMatcher, ConfigError> AddressMatcher::compile(const std::vector<std::string>& patterns) {
  AddressMatcher m;
  for (const auto& raw : patterns) {
    std::string_view p = raw;
    while (!p.empty() && std::isspace(static_cast<unsigned char>(p.front()))) p.remove_prefix(1);
    while (!p.empty() && std::isspace(static_cast<unsigned char>(p.back()))) p.remove_suffix(1);
    if (p.empty() || p.front() == '#') continue;
    auto bad = [&](const char* why) { return config_error("invalid matcher \"" + raw + "\": " + why); };
    Rule r;
    // CIDR
    if (auto slash = p.find('/'); slash != std::string_view::npos) {
      std::error_code ec;
      auto net = asio::ip::make_address(std::string(p.substr(0, slash)), ec);
      auto pre = to_port(p.substr(slash + 1));
      if (ec || !pre || *pre > (net.is_v4() ? 32 : 128)) return bad("bad CIDR");
      r.kind = Rule::kCidr;
      r.net = normalize(net);
      r.prefix = *pre;
      m.rules_.push_back(std::move(r));
      continue;
    }
    // IP range a-b (both sides IPs; a host name may contain '-', so only when both parse)
    if (auto dash = p.find('-'); dash != std::string_view::npos) {
      std::error_code e1, e2;
      auto lo = asio::ip::make_address(std::string(p.substr(0, dash)), e1);
      auto hi = asio::ip::make_address(std::string(p.substr(dash + 1)), e2);
      if (!e1 && !e2) {
        if (lo.is_v4() != hi.is_v4()) return bad("range mixes IPv4 and IPv6");
        r.kind = Rule::kRange;
        r.lo = lo;
        r.hi = hi;
        m.rules_.push_back(std::move(r));
        continue;
      }
    }
    std::string_view host, port;
    split_host_port(p, host, port);
    if (!port.empty()) {
      auto dash = port.find('-');
      auto a = to_port(port.substr(0, dash));
      auto b = dash == std::string_view::npos ? a : to_port(port.substr(dash + 1));
      if (!a || !b || *a > *b) return bad("bad port or port range");
      r.port_lo = *a;
      r.port_hi = *b;
    }
    if (host.empty()) return bad("empty host");
    std::error_code ec;
    auto ip = asio::ip::make_address(std::string(host), ec);
    if (!ec) {
      r.kind = Rule::kIp;
      r.ip = normalize(ip);
    } else if (host.find_first_of("*?") != std::string_view::npos) {
      r.kind = Rule::kGlob;
      r.host = lower(host);
    } else if (host.front() == '.') {
      r.kind = Rule::kDomain;
      r.host = lower(host.substr(1));
      if (r.host.empty()) return bad("empty domain");
    } else {
      r.kind = Rule::kHost;
      r.host = lower(host);
    }
    m.rules_.push_back(std::move(r));
  }
  return m;
}

bool AddressMatcher::matches(std::string_view host_in, std::uint16_t port) const {
  if (rules_.empty() || host_in.empty()) return false;
  std::error_code ec;
  auto ip_raw = asio::ip::make_address(std::string(host_in), ec);
  const bool is_ip = !ec;
  const auto ip = is_ip ? normalize(ip_raw) : asio::ip::address{};
  const std::string host = is_ip ? std::string() : lower(host_in);
  for (const auto& r : rules_) {
    if (r.port_lo || r.port_hi) {
      if (port == 0 || port < r.port_lo || port > r.port_hi) continue;
    }
    switch (r.kind) {
      case Rule::kIp:
        if (is_ip && ip == r.ip) return true;
        break;
      case Rule::kCidr:
        if (is_ip && in_cidr(ip, r.net, r.prefix)) return true;
        break;
      case Rule::kRange:
        if (is_ip && ip.is_v4() == r.lo.is_v4()) {
          auto x = bytes16(ip), lo = bytes16(r.lo), hi = bytes16(r.hi);
          if (x >= lo && x <= hi) return true;
        }
        break;
      case Rule::kHost:
        if (!is_ip && host == r.host) return true;
        break;
      case Rule::kDomain:
        if (!is_ip && (host == r.host || (host.size() > r.host.size() &&
                                          host.compare(host.size() - r.host.size(), r.host.size(), r.host) == 0 &&
                                          host[host.size() - r.host.size() - 1] == '.'))) {
          return true;
        }
        break;
      case Rule::kGlob:
        if (glob_match(r.host, is_ip ? std::string(host_in) : host)) return true;
        break;
    }
  }
  return false;
}

bool AddressMatcher::matches_addr(std::string_view addr) const {
  std::string_view host, port;
  split_host_port(addr, host, port);
  std::uint16_t p = 0;
  if (!port.empty()) {
    auto v = to_port(port);
    if (!v) return false;
    p = *v;
  }
  return matches(host, p);
}

namespace {

class MatcherBypass final : public Bypass {
 public:
  MatcherBypass(AddressMatcher m, bool whitelist, std::string network)
      : m_(std::move(m)), whitelist_(whitelist), network_(std::move(network)) {}
  bool is_whitelist() const noexcept override { return whitelist_; }
  bool contains(std::string_view network, std::string_view addr, const BypassOptions&) const override {
    if (addr.empty()) return false;
    // A bypass scoped to one network says nothing about the other.
    if (!network_.empty() && !network.empty() && network.substr(0, 3) != std::string_view(network_).substr(0, 3)) {
      return false;
    }
    const bool matched = m_.matches_addr(addr);
    return whitelist_ ? !matched : matched;
  }

 private:
  AddressMatcher m_;
  bool whitelist_;
  std::string network_;
};

class BypassGroup final : public Bypass {
 public:
  explicit BypassGroup(std::vector<BypassPtr> v) : v_(std::move(v)) {}
  bool is_whitelist() const noexcept override { return false; }
  bool contains(std::string_view network, std::string_view addr, const BypassOptions& o) const override {
    // Whitelists must all let the address through; then any blacklist match bypasses it.
    bool any_white = false, white_all_contain = true, black_any = false;
    for (auto& b : v_) {
      if (!b) continue;
      const bool c = b->contains(network, addr, o);
      if (b->is_whitelist()) {
        any_white = true;
        if (!c) white_all_contain = false;
      } else if (c) {
        black_any = true;
      }
    }
    if (any_white && white_all_contain) return true;
    return black_any;
  }

 private:
  std::vector<BypassPtr> v_;
};

class MatcherAdmission final : public Admission {
 public:
  MatcherAdmission(AddressMatcher m, bool whitelist) : m_(std::move(m)), whitelist_(whitelist) {}
  bool admit(std::string_view, const Address& client) const override {
    const bool matched = m_.matches(client.host, 0);
    return whitelist_ ? matched : !matched;
  }

 private:
  AddressMatcher m_;
  bool whitelist_;
};

class AdmissionGroup final : public Admission {
 public:
  explicit AdmissionGroup(std::vector<AdmissionPtr> v) : v_(std::move(v)) {}
  bool admit(std::string_view network, const Address& client) const override {
    for (auto& a : v_) {
      if (a && !a->admit(network, client)) return false;
    }
    return true;
  }

 private:
  std::vector<AdmissionPtr> v_;
};

}  // namespace

Result<BypassPtr, ConfigError> make_bypass(const std::vector<std::string>& matchers, bool whitelist,
                                           std::string network) {
  if (!network.empty() && network != "tcp" && network != "udp") {
    return config_error("bypass network must be tcp or udp, got \"" + network + "\"");
  }
  auto m = AddressMatcher::compile(matchers);
  if (!m) return m.error();
  return BypassPtr(std::make_shared<MatcherBypass>(std::move(*m), whitelist, std::move(network)));
}

BypassPtr make_bypass_group(std::vector<BypassPtr> bypasses) {
  bypasses.erase(std::remove(bypasses.begin(), bypasses.end(), nullptr), bypasses.end());
  if (bypasses.empty()) return nullptr;
  if (bypasses.size() == 1) return bypasses.front();
  return std::make_shared<BypassGroup>(std::move(bypasses));
}

Result<AdmissionPtr, ConfigError> make_admission(const std::vector<std::string>& matchers, bool whitelist) {
  auto m = AddressMatcher::compile(matchers);
  if (!m) return m.error();
  return AdmissionPtr(std::make_shared<MatcherAdmission>(std::move(*m), whitelist));
}

AdmissionPtr make_admission_group(std::vector<AdmissionPtr> admissions) {
  admissions.erase(std::remove(admissions.begin(), admissions.end(), nullptr), admissions.end());
  if (admissions.empty()) return nullptr;
  if (admissions.size() == 1) return admissions.front();
  return std::make_shared<AdmissionGroup>(std::move(admissions));
}

}  // namespace gost
