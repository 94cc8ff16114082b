// Authers with GOST's semantics (go-gost/x auth/): the client id is the user name; an empty
// table accepts nobody; a user whose stored password is empty is accepted with any password
// (GOST's "user only" entries); a group accepts when any member does.
#include "gost/core/auth.hpp"

#include <fstream>

namespace gost {
namespace {

// Compares without an early exit on the first differing byte.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

class StaticAuther final : public Auther {
 public:
  explicit StaticAuther(std::map<std::string, std::string> users) : users_(std::move(users)) {}
  asio::awaitable<std::optional<std::string>> authenticate(std::string user, std::string password,
                                                           AuthOptions) override {
    auto it = users_.find(user);
    if (it == users_.end()) co_return std::nullopt;
    if (!it->second.empty() && !same_secret(password, it->second)) co_return std::nullopt;
    co_return user;
  }

 private:
  const std::map<std::string, std::string> users_;
};

class AutherGroup final : public Auther {
 public:
  explicit AutherGroup(std::vector<AutherPtr> v) : v_(std::move(v)) {}
  asio::awaitable<std::optional<std::string>> authenticate(std::string user, std::string password,
                                                           AuthOptions opts) override {
    for (const auto& a : v_) {
      if (auto id = co_await a->authenticate(user, password, opts)) co_return id;
    }
    co_return std::nullopt;
  }

 private:
  const std::vector<AutherPtr> v_;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

AutherPtr make_static_auther(std::map<std::string, std::string> users) {
  return std::make_shared<StaticAuther>(std::move(users));
}

// GOST's format: the user is the first word, the password is the rest of the line (trimmed, so
// it may hold spaces or '#'); only lines whose first non-blank character is '#' are comments.
// GOST also accepts a line with a user alone, meaning "any password"; that is refused here as a
// likely mistake, together with lines holding control characters.
Result<std::map<std::string, std::string>, ConfigError> parse_auther_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return config_error("auther file \"" + path + "\": cannot open it");
  std::map<std::string, std::string> users;
  std::string raw;
  int n = 0;
  while (std::getline(f, raw)) {
    ++n;
    auto bad = [&](const char* why) {
      return config_error("auther file \"" + path + "\" line " + std::to_string(n) + ": " + why);
    };
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return bad("control character");
    }
    std::size_t sp = 0;
    while (sp < line.size() && !is_space(line[sp])) ++sp;
    const std::string_view user = line.substr(0, sp);
    const std::string_view pass = trim(line.substr(sp));
    if (pass.empty()) return bad("expected \"user password\", found a user without a password");
    users[std::string(user)] = std::string(pass);
  }
  if (f.bad()) return config_error("auther file \"" + path + "\": read error");
  return users;
}

AutherPtr make_auther_group(std::vector<AutherPtr> authers) {
  std::erase(authers, nullptr);
  if (authers.empty()) return nullptr;
  if (authers.size() == 1) return authers.front();
  return std::make_shared<AutherGroup>(std::move(authers));
}

}  // namespace gost
