// Fuzzes the smux frame parser (v1 and v2) over a stream of frames; what parses must
// serialize and parse back to the same frame.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "mux/codec.hpp"

using namespace gost;
using namespace gost::mux;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  for (std::uint8_t version : {std::uint8_t{1}, std::uint8_t{2}}) {
    std::size_t pos = 0;
    for (int i = 0; i < 10000 && pos < size; ++i) {
      auto p = parse_frame(in.subspan(pos), version);
      if (!p.ok()) break;
      if (p.consumed < kHeaderSize || p.consumed > size - pos) std::abort();
      const Frame& f = p.value;
      if (f.cmd == Cmd::upd && f.data.size() != kUpdSize) std::abort();
      if (f.cmd != Cmd::upd && f.cmd != Cmd::psh && !f.data.empty()) std::abort();
      std::vector<std::uint8_t> out;
      serialize_frame(f, out);
      auto q = parse_frame(out, version);
      if (!q.ok() || q.consumed != out.size() || q.value.cmd != f.cmd || q.value.sid != f.sid ||
          q.value.data != f.data || q.value.consumed != f.consumed || q.value.window != f.window)
        std::abort();
      pos += p.consumed;
    }
  }
  return 0;
}
