#pragma once
// Auther (GOST's Authenticator): checks a username/password and yields a client id.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "gost/core/address.hpp"
#include "gost/core/error.hpp"

namespace gost {

struct Credentials {
  std::string username;
  std::string password;
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

struct AuthOptions {
  std::string service;
  Address client;
};

class Auther {
 public:
  virtual ~Auther() = default;
  // Returns the client id (the user name for the built-in authers) when the pair is accepted,
  // nullopt when it is not.
  virtual asio::awaitable<std::optional<std::string>> authenticate(std::string user,
                                                                   std::string password,
                                                                   AuthOptions opts) = 0;
};
using AutherPtr = std::shared_ptr<Auther>;

// An auther backed by a fixed user -> password table.
AutherPtr make_static_auther(std::map<std::string, std::string> users);
// Parses an auther file: one "user pass" pair per line, '#' comments, blank lines ignored.
Result<std::map<std::string, std::string>, ConfigError> parse_auther_file(const std::string& path);
// Accepts a client when any auther of the group accepts it.
AutherPtr make_auther_group(std::vector<AutherPtr> authers);

}  // namespace gost
