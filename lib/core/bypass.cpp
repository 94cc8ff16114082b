// Address matchers, bypass and admission, with GOST's semantics (go-gost/x bypass/,
// internal/matcher/, admission/):
//   - a pattern is, in this order: a CIDR; a glob (contains '*' or '?'); an IP or an IP range
//     "a-b" (these two ignore the port); else an address "host[:port[-port]]" where host is an
//     exact name or IP, or ".domain" for the domain and its subdomains;
//   - an address pattern also matches the subdomains of a name given with a leading dot, and a
//     name pattern given without one matches only itself;
//   - a target without a port has port 0 (so "x.com:0-65535" matches "x.com");
//   - a bypass scoped to a network says "proxy" for every other network;
//   - an empty bypass says "proxy", except a blacklist scoped to a network, which bypasses all
//     of that network.
// GOST silently turns unparsable patterns into address patterns that never match; here they are
// configuration errors that name the pattern.
#include "gost/core/bypass.hpp"

#include <algorithm>
#include <array>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <cctype>
#include <charconv>
#include <optional>

#include "gost/core/log.hpp"

namespace gost {
namespace {

// One element of a compiled glob: a literal byte, '?', '*', or a bracket class.
struct GlobTok {
  enum Kind { kLit, kAny, kStar, kClass } kind = kLit;
  char c = 0;
  bool negated = false;
  std::vector<std::pair<char, char>> ranges;  // kClass: inclusive byte ranges

  bool matches(char x) const {
    switch (kind) {
      case kLit:
        return x == c;
      case kAny:
        return true;
      case kClass: {
        bool in = std::any_of(ranges.begin(), ranges.end(),
                              [x](const auto& r) { return x >= r.first && x <= r.second; });
        return in != negated;
      }
      case kStar:
        break;
    }
    return false;
  }
};
using Glob = std::vector<GlobTok>;

}  // namespace

struct AddressMatcher::Rule {
  enum Kind { kCidr, kRange, kAddr, kGlob } kind = kAddr;
  asio::ip::address lo, hi;  // kRange bounds (equal for one IP); kCidr: lo is the network
  unsigned prefix = 0;       // kCidr
  std::string host;          // kAddr: lower-case name, ".domain", or an IP's text
  std::optional<asio::ip::address> host_ip;  // kAddr whose host is an IP ("[::1]:53")
  std::vector<Glob> globs;                   // kGlob: the brace alternatives
  bool any_port = true;                      // kAddr / kGlob
  std::uint16_t port_lo = 0, port_hi = 0;
};

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A DNS name ends with an optional root dot; "example.com." is "example.com".
std::string_view strip_root_dot(std::string_view s) {
  if (s.size() > 1 && s.back() == '.') s.remove_suffix(1);
  return s;
}

std::optional<unsigned> to_uint(std::string_view s, unsigned max) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::optional<asio::ip::address> to_ip(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::error_code ec;
  auto a = asio::ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  return a;
}

// IPv4-mapped IPv6 addresses compare as IPv4 (GOST unmaps before matching).
asio::ip::address normalize(asio::ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  if (a.is_v6() && a.to_v6().scope_id() != 0) {
    auto v6 = a.to_v6();
    v6.scope_id(0);
    return v6;
  }
  return a;
}

std::array<unsigned char, 16> bytes16(const asio::ip::address& a) {
  std::array<unsigned char, 16> out{};
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.begin() + 12);
    return out;
  }
  return a.to_v6().to_bytes();
}

bool in_cidr(const asio::ip::address& a, const asio::ip::address& net, unsigned prefix) {
  if (a.is_v4() != net.is_v4()) return false;
  auto x = bytes16(a), y = bytes16(net);
  unsigned bits = net.is_v4() ? prefix + 96 : prefix;
  for (unsigned i = 0; i < 16 && bits > 0; ++i) {
    unsigned take = std::min(8u, bits);
    auto mask = static_cast<unsigned char>(0xFFu << (8 - take));
    if ((x[i] & mask) != (y[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

// Splits "host:port", "[v6]:port", "[v6]", "host" and a bare IPv6 literal into host and port
// text. A string with several colons and no brackets is all host, as in Go.
void split_host_port(std::string_view s, std::string_view& host, std::string_view& port) {
  port = {};
  host = s;
  if (!s.empty() && s.front() == '[') {
    auto c = s.find(']');
    if (c == std::string_view::npos) return;
    host = s.substr(1, c - 1);
    if (c + 1 < s.size() && s[c + 1] == ':') port = s.substr(c + 2);
    return;
  }
  auto first = s.find(':');
  if (first != std::string_view::npos && first == s.rfind(':')) {
    host = s.substr(0, first);
    port = s.substr(first + 1);
  }
}

// --- glob ----------------------------------------------------------------------------------------
// The subset of gobwas/glob that GOST patterns use, without separators: '*' any run, '?' one
// character, "[abc]" / "[a-z]" / "[!a-z]" classes, "{a,b}" alternatives, '\' escapes.

constexpr std::size_t kMaxGlobAlternatives = 256;

// Expands the first top-level "{...}" of p into each of its alternatives, recursively.
bool expand_braces(const std::string& p, std::vector<std::string>& out, std::string& err) {
  std::size_t open = std::string::npos;
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') {
      ++i;
    } else if (in_class) {
      if (p[i] == ']') in_class = false;
    } else if (p[i] == '[') {
      in_class = true;
    } else if (p[i] == '{') {
      open = i;
      break;
    }
  }
  if (open == std::string::npos) {
    if (out.size() >= kMaxGlobAlternatives) {
      err = "too many {} alternatives";
      return false;
    }
    out.push_back(p);
    return true;
  }
  std::vector<std::string> alts;
  std::string cur;
  int depth = 0;
  std::size_t close = std::string::npos;
  for (std::size_t i = open + 1; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      cur += c;
      cur += p[++i];
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}') {
      if (depth == 0) {
        close = i;
        break;
      }
      --depth;
    }
    if (c == ',' && depth == 0) {
      alts.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (close == std::string::npos) {
    err = "unclosed '{'";
    return false;
  }
  alts.push_back(std::move(cur));
  const std::string prefix = p.substr(0, open), suffix = p.substr(close + 1);
  for (auto& a : alts) {
    if (!expand_braces(prefix + a + suffix, out, err)) return false;
  }
  return true;
}

bool compile_glob_one(std::string_view p, Glob& g, std::string& err) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    GlobTok t;
    char c = p[i];
    if (c == '\\') {
      if (i + 1 == p.size()) {
        err = "trailing '\\'";
        return false;
      }
      t.c = p[++i];
    } else if (c == '*') {
      if (!g.empty() && g.back().kind == GlobTok::kStar) continue;
      t.kind = GlobTok::kStar;
    } else if (c == '?') {
      t.kind = GlobTok::kAny;
    } else if (c == '[') {
      t.kind = GlobTok::kClass;
      std::size_t j = i + 1;
      if (j < p.size() && (p[j] == '!' || p[j] == '^')) {
        t.negated = true;
        ++j;
      }
      bool closed = false;
      for (; j < p.size(); ++j) {
        if (p[j] == ']') {
          closed = true;
          break;
        }
        char lo = p[j];
        if (lo == '\\' && j + 1 < p.size()) lo = p[++j];
        char hi = lo;
        if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
          hi = p[j + 2];
          j += 2;
          if (hi == '\\' && j + 1 < p.size()) hi = p[++j];
        }
        if (lo > hi) {
          err = "bad range in '[...]'";
          return false;
        }
        t.ranges.emplace_back(lo, hi);
      }
      if (!closed) {
        err = "unclosed '['";
        return false;
      }
      if (t.ranges.empty()) {
        err = "empty '[]'";
        return false;
      }
      i = j;
    } else {
      t.c = c;
    }
    g.push_back(std::move(t));
  }
  return true;
}

// Iterative matching with one backtrack point per star: linear in practice and never
// exponential, whatever the pattern (the subject is a target host from the network).
bool glob_match(const Glob& g, std::string_view s) {
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < g.size() && g[p].kind == GlobTok::kStar) {
      star = p++;
      mark = i;
    } else if (p < g.size() && g[p].matches(s[i])) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < g.size() && g[p].kind == GlobTok::kStar) ++p;
  return p == g.size();
}

bool valid_host_chars(std::string_view h) {
  for (char ch : h) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return false;
    if (std::string_view("[]/\\@,;\"'<>|^`{}#").find(ch) != std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

AddressMatcher::AddressMatcher() = default;
AddressMatcher::~AddressMatcher() = default;
AddressMatcher::AddressMatcher(AddressMatcher&&) noexcept = default;
AddressMatcher& AddressMatcher::operator=(AddressMatcher&&) noexcept = default;

bool AddressMatcher::empty() const noexcept { return rules_.empty(); }

Result<AddressMatcher, ConfigError> AddressMatcher::compile(
    const std::vector<std::string>& patterns) {
  AddressMatcher m;
  for (const auto& raw : patterns) {
    std::string_view p = raw;
    if (auto hash = p.find('#'); hash != std::string_view::npos) p = p.substr(0, hash);
    p = trim(p);
    if (p.empty()) continue;
    auto bad = [&raw](const std::string& why) {
      return config_error("invalid matcher \"" + raw + "\": " + why);
    };
    Rule r;

    // CIDR.
    if (auto slash = p.find('/'); slash != std::string_view::npos) {
      auto net = to_ip(p.substr(0, slash));
      auto pre = to_uint(p.substr(slash + 1), 128);
      if (!net || !pre || *pre > (net->is_v4() ? 32u : 128u)) return bad("not a valid CIDR");
      r.kind = Rule::kCidr;
      r.lo = *net;
      r.prefix = *pre;
      if (net->is_v6() && net->to_v6().is_v4_mapped() && r.prefix >= 96) {
        r.lo = normalize(*net);  // ::ffff:10.0.0.0/104 is 10.0.0.0/8
        r.prefix -= 96;
      }
      m.rules_.push_back(std::move(r));
      continue;
    }

    // Glob, with an optional port or port range.
    std::string_view host, port;
    if (p.find_first_of("*?") != std::string_view::npos) {
      split_host_port(p, host, port);
      if (host.empty()) return bad("empty host");
      r.kind = Rule::kGlob;
      std::vector<std::string> alts;
      std::string err;
      if (!expand_braces(lower(strip_root_dot(host)), alts, err)) return bad(err);
      for (auto& a : alts) {
        Glob g;
        if (!compile_glob_one(a, g, err)) return bad(err);
        r.globs.push_back(std::move(g));
      }
    } else {
      // One IP, or an IP range "a-b"; both match any port.
      auto dash = p.find('-');
      if (dash == std::string_view::npos) {
        std::string_view bare = p;
        if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
          bare = bare.substr(1, bare.size() - 2);
        }
        if (auto ip = to_ip(bare)) {
          r.kind = Rule::kRange;
          r.lo = r.hi = normalize(*ip);
          m.rules_.push_back(std::move(r));
          continue;
        }
      } else if (p.find('-', dash + 1) == std::string_view::npos) {
        auto lo = to_ip(trim(p.substr(0, dash)));
        auto hi = to_ip(trim(p.substr(dash + 1)));
        if (lo && hi) {
          r.kind = Rule::kRange;
          r.lo = normalize(*lo);
          r.hi = normalize(*hi);
          if (r.lo.is_v4() != r.hi.is_v4()) return bad("IP range mixes IPv4 and IPv6");
          if (bytes16(r.lo) > bytes16(r.hi)) return bad("IP range is reversed");
          m.rules_.push_back(std::move(r));
          continue;
        }
        if (lo || hi) return bad("not a valid IP range");
      }
      // An address: host with an optional port or port range.
      split_host_port(p, host, port);
      if (host.empty()) return bad("empty host");
      r.kind = Rule::kAddr;
      if (auto ip = to_ip(host)) {
        r.host_ip = normalize(*ip);
      } else if (!valid_host_chars(host)) {
        return bad("not a valid host name");
      } else {
        r.host = lower(strip_root_dot(host));
        if (r.host == ".") return bad("empty domain");
      }
    }
    if (port.empty() && p.back() == ':') return bad("empty port");
    if (!port.empty()) {
      auto dash = port.find('-');
      auto a = to_uint(port.substr(0, dash), 65535);
      auto b = dash == std::string_view::npos ? a : to_uint(port.substr(dash + 1), 65535);
      if (!a || !b || *a > *b) return bad("not a valid port or port range");
      r.any_port = false;
      r.port_lo = static_cast<std::uint16_t>(*a);
      r.port_hi = static_cast<std::uint16_t>(*b);
    }
    m.rules_.push_back(std::move(r));
  }
  return m;
}

bool AddressMatcher::matches(std::string_view host_in, std::uint16_t port) const {
  if (rules_.empty() || host_in.empty()) return false;
  if (host_in.size() > 2 && host_in.front() == '[' && host_in.back() == ']') {
    host_in = host_in.substr(1, host_in.size() - 2);
  }
  const auto ip_raw = to_ip(host_in);
  const std::optional<asio::ip::address> ip =
      ip_raw ? std::optional<asio::ip::address>(normalize(*ip_raw)) : std::nullopt;
  const std::string host = lower(ip ? host_in : strip_root_dot(host_in));
  for (const auto& r : rules_) {
    switch (r.kind) {
      case Rule::kCidr:
        if (ip && in_cidr(*ip, r.lo, r.prefix)) return true;
        continue;
      case Rule::kRange:
        if (ip && ip->is_v4() == r.lo.is_v4()) {
          auto x = bytes16(*ip);
          if (x >= bytes16(r.lo) && x <= bytes16(r.hi)) return true;
        }
        continue;
      case Rule::kAddr:
      case Rule::kGlob:
        break;
    }
    if (!r.any_port && (port < r.port_lo || port > r.port_hi)) continue;
    if (r.kind == Rule::kGlob) {
      for (const auto& g : r.globs) {
        if (glob_match(g, host)) return true;
      }
      continue;
    }
    if (r.host_ip) {
      if (ip && *ip == *r.host_ip) return true;
      continue;
    }
    // "x.com" matches only x.com; ".x.com" matches x.com and every name under it.
    if (host == r.host) return true;
    if (r.host.front() == '.') {
      if (host.size() + 1 == r.host.size() && r.host.compare(1, std::string::npos, host) == 0) {
        return true;
      }
      if (host.size() > r.host.size() &&
          host.compare(host.size() - r.host.size(), r.host.size(), r.host) == 0) {
        return true;
      }
    }
  }
  return false;
}

bool AddressMatcher::matches_addr(std::string_view addr) const {
  std::string_view host, port;
  split_host_port(addr, host, port);
  // As GOST (strconv.Atoi): an unreadable port counts as no port.
  std::uint16_t p = 0;
  if (auto v = to_uint(port, 65535)) p = static_cast<std::uint16_t>(*v);
  return matches(host, p);
}

namespace {

class MatcherBypass final : public Bypass {
 public:
  MatcherBypass(AddressMatcher m, bool whitelist, std::string network)
      : m_(std::move(m)), whitelist_(whitelist), network_(std::move(network)) {}
  bool is_whitelist() const noexcept override { return whitelist_; }
  bool contains(std::string_view network, std::string_view addr,
                const BypassOptions&) const override {
    if (addr.empty()) return false;
    // A bypass scoped to one network lets every other network through the proxy.
    if (!network_.empty() && network_ != network) return false;
    if (m_.empty()) return !network_.empty() && !whitelist_;
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
  // A group may mix both kinds; as a member of another group it counts as a blacklist.
  bool is_whitelist() const noexcept override { return false; }
  bool contains(std::string_view network, std::string_view addr,
                const BypassOptions& o) const override {
    // Whitelists: bypass when every one of them says so.
    bool any_white = false, all_white = true;
    for (const auto& b : v_) {
      if (!b->is_whitelist()) continue;
      any_white = true;
      if (!b->contains(network, addr, o)) {
        all_white = false;
        break;
      }
    }
    if (any_white && all_white) return true;
    // Then blacklists: bypass when any one of them says so.
    for (const auto& b : v_) {
      if (!b->is_whitelist() && b->contains(network, addr, o)) return true;
    }
    return false;
  }

 private:
  std::vector<BypassPtr> v_;
};

class MatcherAdmission final : public Admission {
 public:
  MatcherAdmission(AddressMatcher m, bool whitelist) : m_(std::move(m)), whitelist_(whitelist) {}
  bool admit(std::string_view, const Address& client) const override {
    if (client.host.empty()) return true;
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
    return std::all_of(v_.begin(), v_.end(),
                       [&](const AdmissionPtr& a) { return a->admit(network, client); });
  }

 private:
  std::vector<AdmissionPtr> v_;
};

bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

}  // namespace

Result<BypassPtr, ConfigError> make_bypass(const std::vector<std::string>& matchers, bool whitelist,
                                           std::string network) {
  if (!network.empty() && network != "tcp" && network != "udp") {
    return config_error("bypass network must be \"tcp\" or \"udp\", got \"" + network + "\"");
  }
  auto m = AddressMatcher::compile(matchers);
  if (!m) return m.error();
  return BypassPtr(std::make_shared<MatcherBypass>(std::move(*m), whitelist, std::move(network)));
}

BypassPtr make_bypass_group(std::vector<BypassPtr> bypasses) {
  std::erase(bypasses, nullptr);
  if (bypasses.empty()) return nullptr;
  return std::make_shared<BypassGroup>(std::move(bypasses));
}

// GOST's admission knows IPs, CIDRs and host names, which it resolves once when it loads the
// list (a name that does not resolve is skipped). IP ranges are accepted too; anything else
// (globs, ".domain", ports) can never match a client address and is a configuration error.
Result<AdmissionPtr, ConfigError> make_admission(const std::vector<std::string>& matchers,
                                                 bool whitelist) {
  std::vector<std::string> patterns;
  for (const auto& raw : matchers) {
    std::string_view p = raw;
    if (auto hash = p.find('#'); hash != std::string_view::npos) p = p.substr(0, hash);
    p = trim(p);
    if (p.empty()) continue;
    if (to_ip(p) || p.find('/') != std::string_view::npos) {
      patterns.emplace_back(p);
      continue;
    }
    if (auto dash = p.find('-');
        dash != std::string_view::npos &&
        (to_ip(trim(p.substr(0, dash))) || to_ip(trim(p.substr(dash + 1))))) {
      patterns.emplace_back(p);  // an IP range, checked by the matcher
      continue;
    }
    if (!is_host_name(p)) {
      return config_error("invalid admission matcher \"" + raw +
                          "\": expected an IP, a CIDR, an IP range or a host name");
    }
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    std::error_code ec;
    auto results = resolver.resolve(std::string(p), "", ec);
    if (ec || results.empty()) {
      Logger::global().warn("admission: cannot resolve host name, skipped",
                            {{"matcher", raw}, {"error", ec ? ec.message() : "no address"}});
      continue;
    }
    for (const auto& e : results) patterns.push_back(e.endpoint().address().to_string());
  }
  auto m = AddressMatcher::compile(patterns);
  if (!m) return m.error();
  return AdmissionPtr(std::make_shared<MatcherAdmission>(std::move(*m), whitelist));
}

AdmissionPtr make_admission_group(std::vector<AdmissionPtr> admissions) {
  std::erase(admissions, nullptr);
  if (admissions.empty()) return nullptr;
  if (admissions.size() == 1) return admissions.front();
  return std::make_shared<AdmissionGroup>(std::move(admissions));
}

}  // namespace gost
