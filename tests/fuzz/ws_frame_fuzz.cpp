// Fuzzes the WebSocket frame-header parser over a stream of frames (with fragmentation rules
// and masking) and the HTTP head parser; what parses must serialize and parse back the same.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "ws/codec.hpp"

using namespace gost;
using namespace gost::ws;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  // A sequence of frames, as a reader walks them.
  MessageState st;
  std::size_t pos = 0;
  for (int i = 0; i < 1000 && pos < size; ++i) {
    auto p = parse_frame_header(in.subspan(pos));
    if (!p.ok()) break;
    if (p.consumed < 2 || p.consumed > 14 || p.consumed > size - pos) std::abort();
    std::vector<std::uint8_t> out;
    serialize_frame_header(p.value, out);
    auto q = parse_frame_header(out);
    if (!q.ok() || q.consumed != out.size() || q.value.length != p.value.length ||
        q.value.opcode != p.value.opcode || q.value.fin != p.value.fin ||
        q.value.masked != p.value.masked || q.value.mask != p.value.mask)
      std::abort();
    if (st.on_frame(p.value)) break;
    pos += p.consumed;
    const std::size_t avail = size - pos;
    const std::size_t n = p.value.length < avail ? static_cast<std::size_t>(p.value.length) : avail;
    std::vector<std::uint8_t> payload(in.begin() + static_cast<std::ptrdiff_t>(pos),
                                      in.begin() + static_cast<std::ptrdiff_t>(pos + n));
    auto copy = payload;
    apply_mask(payload, p.value.mask, 0);
    apply_mask(payload, p.value.mask, 0);
    if (payload != copy) std::abort();
    pos += n;
  }
  // The same bytes as an HTTP head.
  auto h = parse_http_head(in);
  if (h.ok()) {
    if (h.consumed > size || h.consumed < 4) std::abort();
    (void)h.value.get("Sec-WebSocket-Key");
    (void)h.value.has_token("Connection", "upgrade");
  }
  if (size < 256) (void)accept_key(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
