#include "gost/core/address.hpp"

#include <charconv>

namespace gost {
namespace {
std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}
}  // namespace

Result<Address> Address::parse(std::string_view s, std::optional<std::uint16_t> default_port) {
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return errc::bad_request;
    host = s.substr(1, close - 1);
    auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return errc::bad_request;
      port = rest.substr(1);
    }
    std::error_code ec;
    auto ip = asio::ip::make_address(std::string(host), ec);
    if (ec || !ip.is_v6()) return errc::bad_request;
  } else {
    auto colon = s.rfind(':');
    if (colon != std::string_view::npos && s.find(':') != colon) {
      // Several colons and no brackets: a bare IPv6 literal without a port.
      std::error_code ec;
      asio::ip::make_address(std::string(s), ec);
      if (ec) return errc::bad_request;
      host = s;
    } else if (colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
    } else {
      host = s;
    }
  }
  if (host.size() > 255) return errc::bad_request;
  for (char c : host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '/' || c == '@' || c == '[' ||
        c == ']') {
      return errc::bad_request;
    }
  }
  Address a;
  a.host = std::string(host);
  if (port.empty()) {
    if (!default_port) return errc::bad_request;
    a.port = *default_port;
  } else {
    auto p = parse_port(port);
    if (!p) return errc::bad_request;
    a.port = *p;
  }
  return a;
}

std::string Address::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<asio::ip::address> Address::ip() const {
  if (host.empty()) return std::nullopt;
  std::error_code ec;
  auto a = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return a;
}

}  // namespace gost
