// Fuzzes the sni codecs: the ClientHello parser (what parses must rewrite and parse back with
// the new SNI and the old name in 0xFFFE), the HTTP head parser and GOST's name decoding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sni/codec.hpp"

using namespace gost;
using namespace gost::sni;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  auto ch = parse_client_hello(in);
  if (ch.ok()) {
    if (ch.consumed > size || ch.consumed != ch.value.record_size) std::abort();
    auto out = rewrite_client_hello(in, ch.value, "front.example");
    if (out) {
      auto again = parse_client_hello(*out);
      if (!again.ok() || again.consumed != out->size()) std::abort();
      if (again.value.server_name != "front.example") std::abort();
      if (again.value.gost_host != ch.value.server_name) std::abort();
      // Restoring gives back the input when its SNI was one plain host_name entry and it
      // had no 0xFFFE of its own.
      auto back = restore_client_hello(*out, again.value);
      if (!ch.value.server_name.empty() && !back) std::abort();
      if (back) {
        auto b2 = parse_client_hello(*back);
        if (!b2.ok() || b2.value.server_name != ch.value.server_name || b2.value.gost_at != 0)
          std::abort();
      }
    } else if (ch.value.sni_at != 0 && ch.value.record_size < 8192) {
      std::abort();  // a small hello with an SNI can always be rewritten
    }
  }
  auto h = parse_http_head(in, 4096);
  if (h.ok()) {
    if (h.consumed > size) std::abort();
    Bytes head(data, h.consumed);
    auto f = rewrite_http_head(head, h.value, "cdn.example");
    auto g = parse_http_head(f, 1 << 20);
    if (!g.ok() || g.value.host != "cdn.example") std::abort();
    if (h.value.target_size == 0 && g.value.gost_target != h.value.host) std::abort();
    (void)restore_http_head(f, g.value);
  }
  std::string_view s(reinterpret_cast<const char*>(data), size);
  if (auto n = decode_server_name(s)) {
    if (encode_server_name(*n) != s) std::abort();
  }
  return 0;
}
