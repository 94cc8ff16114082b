// Fuzzes the SOCKS4/4a request and reply parsers; what parses must serialize and parse back
// to the same value.
#include <algorithm>
#include <asio/ip/address.hpp>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "socks/codec.hpp"

using namespace gost::socks;

namespace {
bool is_ip_literal(const std::string& h) {
  std::error_code ec;
  (void)asio::ip::make_address(h, ec);
  return !ec;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gost::Bytes in(data, size);
  auto req = parse_socks4_request(in);
  if (req.ok()) {
    if (req.consumed > size) std::abort();
    std::vector<std::uint8_t> out;
    if (serialize(req.value, out)) {
      // Only a SOCKS4a "domain" that is really an IPv6 literal cannot be sent back.
      std::error_code ec;
      auto ip = asio::ip::make_address(req.value.target.host, ec);
      if (ec || !ip.is_v6()) std::abort();
      return 0;
    }
    auto again = parse_socks4_request(out);
    if (!again.ok() || again.consumed != out.size()) std::abort();
    if (again.value.command != req.value.command || again.value.userid != req.value.userid ||
        again.value.target.port != req.value.target.port) {
      std::abort();
    }
    if (!is_ip_literal(req.value.target.host) && again.value.target.host != req.value.target.host)
      std::abort();
  }
  auto rep = parse_socks4_reply(in);
  if (rep.ok()) {
    std::vector<std::uint8_t> out;
    if (serialize(rep.value, out)) std::abort();
    if (out.size() != 8 || !std::equal(out.begin(), out.end(), data)) std::abort();
  }
  return 0;
}
