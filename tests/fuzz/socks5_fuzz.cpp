// Fuzzes the SOCKS5 / RFC 1929 parsers (method selection, username/password, request, reply,
// UDP header) on the same input; what parses must serialize and parse back to the same value.
#include <algorithm>
#include <asio/ip/address.hpp>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "socks/codec.hpp"

using namespace gost;
using namespace gost::socks;

namespace {
bool same_address(const Address& a, const Address& b) {
  if (a.port != b.port) return false;
  std::error_code ec;
  auto ip = asio::ip::make_address(a.host, ec);
  if (!ec) {
    auto ip2 = asio::ip::make_address(b.host, ec);
    return !ec && ip == ip2;
  }
  return a.host == b.host;
}

template <class T, class Parse, class Same>
void roundtrip(Bytes in, Parse parse, Same same) {
  auto p = parse(in);
  if (!p.ok()) return;
  if (p.consumed == 0 || p.consumed > in.size()) std::abort();
  std::vector<std::uint8_t> out;
  if (serialize(p.value, out)) std::abort();
  auto q = parse(Bytes(out));
  if (!q.ok() || q.consumed != out.size() || !same(p.value, q.value)) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  roundtrip<MethodRequest>(
      in, parse_method_request,
      [](const MethodRequest& a, const MethodRequest& b) { return a.methods == b.methods; });
  roundtrip<MethodReply>(in, parse_method_reply, [](const MethodReply& a, const MethodReply& b) {
    return a.method == b.method;
  });
  roundtrip<UserPassRequest>(in, parse_userpass_request,
                             [](const UserPassRequest& a, const UserPassRequest& b) {
                               return a.username == b.username && a.password == b.password;
                             });
  roundtrip<UserPassReply>(
      in, parse_userpass_reply,
      [](const UserPassReply& a, const UserPassReply& b) { return a.status == b.status; });
  roundtrip<Request>(in, parse_request, [](const Request& a, const Request& b) {
    return a.command == b.command && same_address(a.addr, b.addr);
  });
  roundtrip<Reply>(in, parse_reply, [](const Reply& a, const Reply& b) {
    return a.reply == b.reply && same_address(a.addr, b.addr);
  });
  roundtrip<UdpHeader>(in, parse_udp_header, [](const UdpHeader& a, const UdpHeader& b) {
    return a.rsv == b.rsv && a.frag == b.frag && same_address(a.addr, b.addr);
  });
  return 0;
}
