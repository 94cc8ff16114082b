#pragma once
// Address: a host (IP literal or domain name) and a port.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <asio/ip/address.hpp>

#include "gost/core/error.hpp"

namespace gost {

struct Address {
  std::string host;  // IP literal (without brackets) or domain name; empty = any
  std::uint16_t port = 0;

  Address() = default;
  Address(std::string h, std::uint16_t p) : host(std::move(h)), port(p) {}

  // Parses "host:port", "[v6]:port", ":port". A missing port is an error unless
  // default_port is given.
  static Result<Address> parse(std::string_view s, std::optional<std::uint16_t> default_port = {});

  // "host:port" with IPv6 hosts in brackets.
  std::string to_string() const;
  bool empty() const noexcept { return host.empty() && port == 0; }
  // The host as an IP address if it is one.
  std::optional<asio::ip::address> ip() const;
  bool is_ip() const { return ip().has_value(); }

  friend bool operator==(const Address&, const Address&) = default;
};

}  // namespace gost
