#include "gost/core/auth.hpp"

#include <fstream>
#include <sstream>

namespace gost {
namespace {

class StaticAuther final : public Auther {
 public:
  explicit StaticAuther(std::map<std::string, std::string> users) : users_(std::move(users)) {}
  asio::awaitable<std::optional<std::string>> authenticate(std::string user, std::string password,
                                                           AuthOptions) override {
    auto it = users_.find(user);
    if (it == users_.end() || it->second != password) co_return std::nullopt;
    co_return user;
  }

 private:
  std::map<std::string, std::string> users_;
};

class AutherGroup final : public Auther {
 public:
  explicit AutherGroup(std::vector<AutherPtr> v) : v_(std::move(v)) {}
  asio::awaitable<std::optional<std::string>> authenticate(std::string user, std::string password,
                                                           AuthOptions opts) override {
    for (auto& a : v_) {
      if (auto id = co_await a->authenticate(user, password, opts)) co_return id;
    }
    co_return std::nullopt;
  }

 private:
  std::vector<AutherPtr> v_;
};

}  // namespace

AutherPtr make_static_auther(std::map<std::string, std::string> users) {
  return std::make_shared<StaticAuther>(std::move(users));
}

Result<std::map<std::string, std::string>, ConfigError> parse_auther_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return config_error("auther file \"" + path + "\": cannot open");
  std::map<std::string, std::string> users;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream in(line);
    std::string user, pass, extra;
    if (!(in >> user)) continue;  // blank line
    if (!(in >> pass) || (in >> extra)) {
      return config_error("auther file \"" + path + "\" line " + std::to_string(n) + ": expected \"user password\"");
    }
    users[user] = pass;
  }
  return users;
}

AutherPtr make_auther_group(std::vector<AutherPtr> authers) {
  std::erase(authers, nullptr);
  if (authers.empty()) return nullptr;
  if (authers.size() == 1) return authers.front();
  return std::make_shared<AutherGroup>(std::move(authers));
}

}  // namespace gost
