// Fuzzes the relay protocol parsers (request, response, features, UDP frame) and the UDP-tun
// frame parser on the same input. What parses must serialize, parse back, and serialize to the
// same bytes again (addresses may be normalised once: a domain that is an IP literal becomes
// an IP address).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "relay/codec.hpp"
#include "socks/udptun.hpp"

using namespace gost;
using namespace gost::relay;

namespace {
template <class T, class Parse>
void roundtrip(Bytes in, Parse parse) {
  auto p = parse(in);
  if (!p.ok()) return;
  if (p.consumed > in.size()) std::abort();
  std::vector<std::uint8_t> out;
  if (serialize(p.value, out)) return;  // e.g. a feature block that grows past 65535 bytes
  auto q = parse(Bytes(out));
  if (!q.ok() || q.consumed != out.size()) std::abort();
  std::vector<std::uint8_t> again;
  if (serialize(q.value, again) || again != out) std::abort();
  if (q.value.features.list.size() != p.value.features.list.size()) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  roundtrip<Request>(in, parse_request);
  roundtrip<Response>(in, parse_response);
  auto f = parse_features(in);
  if (f.ok() && f.consumed != in.size()) std::abort();
  auto u = parse_udp_frame(in);
  if (u.ok() && (u.consumed != 2 + u.value || u.consumed > in.size())) std::abort();
  auto t = socks::parse_udp_tun_frame(in);
  if (t.ok()) {
    if (t.consumed > in.size() || t.value.header_len + t.value.data_len != t.consumed) std::abort();
    std::vector<std::uint8_t> h;
    if (!socks::serialize_udp_tun_header(t.value.addr, t.value.data_len, h)) {
      auto t2 = socks::parse_udp_tun_frame(Bytes(h));
      if (t.value.data_len == 0 && !t2.ok()) std::abort();
    }
  }
  return 0;
}
