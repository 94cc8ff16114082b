#pragma once
// Bypass and Admission: address matchers.
//
// Matchers (case-insensitive): CIDR "10.0.0.0/8"; IP range "1.1.1.1-1.1.1.9"; exact IP or host with
// an optional port or port range ("x.com", "x.com:80", "x.com:8000-9000", "[::1]:53");
// ".example.com" (the domain and its subdomains); glob "*.example.com" (optional ":port").

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/error.hpp"

namespace gost {

struct BypassOptions {
  std::string service;
  std::string host;  // e.g. HTTP Host
  std::string path;
};

class Bypass {
 public:
  virtual ~Bypass() = default;
  virtual bool is_whitelist() const noexcept = 0;
  // True means "do not proxy": on a service the request is refused; on a hop the route is cut
  // there; on a node the node is skipped. addr is "host:port" or "host". network is "tcp",
  // "udp" or empty.
  virtual bool contains(std::string_view network, std::string_view addr,
                        const BypassOptions& opts = {}) const = 0;
};
using BypassPtr = std::shared_ptr<Bypass>;

// A compiled set of matchers; an invalid matcher is a ConfigError naming it.
class AddressMatcher {
 public:
  static Result<AddressMatcher, ConfigError> compile(const std::vector<std::string>& patterns);
  // host may be a domain or IP; port 0 means "no port given".
  bool matches(std::string_view host, std::uint16_t port) const;
  // Splits "host:port" / "[v6]:port" / "host" and matches.
  bool matches_addr(std::string_view addr) const;
  bool empty() const noexcept;

  struct Rule;
  AddressMatcher();
  ~AddressMatcher();
  AddressMatcher(AddressMatcher&&) noexcept;
  AddressMatcher& operator=(AddressMatcher&&) noexcept;

 private:
  std::vector<Rule> rules_;
};

// Matcher-based bypass. whitelist inverts the result; a non-empty network restricts it to
// "tcp" or "udp" (other networks are never bypassed).
Result<BypassPtr, ConfigError> make_bypass(const std::vector<std::string>& matchers,
                                           bool whitelist = false, std::string network = {});
// Several bypasses as one, combined as GOST does: whitelists must all pass, then any blacklist
// match bypasses.
BypassPtr make_bypass_group(std::vector<BypassPtr> bypasses);

class Admission {
 public:
  virtual ~Admission() = default;
  // True when the client may connect.
  virtual bool admit(std::string_view network, const Address& client) const = 0;
};
using AdmissionPtr = std::shared_ptr<Admission>;

// whitelist: only matching clients are admitted; otherwise matching clients are refused.
Result<AdmissionPtr, ConfigError> make_admission(const std::vector<std::string>& matchers,
                                                 bool whitelist = false);
// Admits a client only when every admission of the group admits it.
AdmissionPtr make_admission_group(std::vector<AdmissionPtr> admissions);

}  // namespace gost
