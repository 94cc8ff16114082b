#include "mux/codec.hpp"

namespace gost::mux {
namespace {
std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}
void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
}  // namespace

Parsed<Frame> parse_header(Bytes in, std::uint8_t version) {
  using P = Parsed<Frame>;
  if (in.size() < kHeaderSize) return P::more();
  Frame f;
  f.version = in[0];
  if (f.version != version) return P::fail(errc::bad_request);
  if (in[1] > 4) return P::fail(errc::bad_request);
  f.cmd = static_cast<Cmd>(in[1]);
  f.sid = le32(in.data() + 4);
  return P::done(kHeaderSize, std::move(f));
}

Parsed<FrameView> parse_frame_view(Bytes in, std::uint8_t version) {
  using P = Parsed<FrameView>;
  auto h = parse_header(in, version);
  if (h.failed()) return P::fail(h.ec);
  if (!h.ok()) return P::more();
  const std::size_t len = std::size_t{in[2]} | (std::size_t{in[3]} << 8);
  FrameView f;
  f.version = h.value.version;
  f.cmd = h.value.cmd;
  f.sid = h.value.sid;
  std::size_t payload = 0;
  if (f.cmd == Cmd::psh) payload = len;
  if (f.cmd == Cmd::upd) payload = kUpdSize;
  if (in.size() < kHeaderSize + payload) return P::more();
  f.payload = in.subspan(kHeaderSize, payload);
  if (f.cmd == Cmd::upd) {
    f.consumed = le32(f.payload.data());
    f.window = le32(f.payload.data() + 4);
  }
  return P::done(kHeaderSize + payload, f);
}

Parsed<Frame> parse_frame(Bytes in, std::uint8_t version) {
  using P = Parsed<Frame>;
  auto v = parse_frame_view(in, version);
  if (v.failed()) return P::fail(v.ec);
  if (!v.ok()) return P::more();
  Frame f;
  f.version = v.value.version;
  f.cmd = v.value.cmd;
  f.sid = v.value.sid;
  f.data.assign(v.value.payload.begin(), v.value.payload.end());
  f.consumed = v.value.consumed;
  f.window = v.value.window;
  return P::done(v.consumed, std::move(f));
}

void serialize_header(std::uint8_t version, Cmd cmd, std::uint16_t length, std::uint32_t sid,
                      std::vector<std::uint8_t>& out) {
  out.push_back(version);
  out.push_back(static_cast<std::uint8_t>(cmd));
  out.push_back(static_cast<std::uint8_t>(length & 0xFF));
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  put32(out, sid);
}

void serialize_frame(const Frame& f, std::vector<std::uint8_t>& out) {
  serialize_header(f.version, f.cmd, static_cast<std::uint16_t>(f.data.size()), f.sid, out);
  out.insert(out.end(), f.data.begin(), f.data.end());
}

void serialize_upd(std::uint8_t version, std::uint32_t sid, std::uint32_t consumed,
                   std::uint32_t window, std::vector<std::uint8_t>& out) {
  serialize_header(version, Cmd::upd, static_cast<std::uint16_t>(kUpdSize), sid, out);
  put32(out, consumed);
  put32(out, window);
}

}  // namespace gost::mux
