#include "ws/codec.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace gost::ws {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// SHA-1 (FIPS 180-4), only for the handshake's accept key.
std::array<std::uint8_t, 20> sha1(std::string_view msg) {
  std::uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  std::vector<std::uint8_t> m(msg.begin(), msg.end());
  const std::uint64_t bits = static_cast<std::uint64_t>(msg.size()) * 8;
  m.push_back(0x80);
  while (m.size() % 64 != 56) m.push_back(0);
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<std::uint8_t>(bits >> (i * 8)));
  auto rol = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (std::size_t off = 0; off < m.size(); off += 64) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      const std::size_t p = off + static_cast<std::size_t>(i) * 4;
      w[i] = (std::uint32_t{m[p]} << 24) | (std::uint32_t{m[p + 1]} << 16) |
             (std::uint32_t{m[p + 2]} << 8) | std::uint32_t{m[p + 3]};
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999u;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1u;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCu;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6u;
      }
      const std::uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<std::uint8_t, 20> out{};
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 4; ++j)
      out[static_cast<std::size_t>(i * 4 + j)] = static_cast<std::uint8_t>(h[i] >> (24 - j * 8));
  }
  return out;
}

}  // namespace

Parsed<FrameHeader> parse_frame_header(Bytes in) {
  using P = Parsed<FrameHeader>;
  if (in.size() < 2) return P::more();
  FrameHeader h;
  const std::uint8_t b0 = in[0], b1 = in[1];
  h.fin = (b0 & 0x80) != 0;
  if ((b0 & 0x70) != 0) return P::fail(errc::bad_request);  // RSV1-3: no extensions
  const std::uint8_t op = b0 & 0x0F;
  switch (op) {
    case 0x0:
    case 0x1:
    case 0x2:
    case 0x8:
    case 0x9:
    case 0xA:
      break;
    default:
      return P::fail(errc::bad_request);
  }
  h.opcode = static_cast<Opcode>(op);
  h.masked = (b1 & 0x80) != 0;
  std::size_t pos = 2;
  const std::uint8_t len7 = b1 & 0x7F;
  if (len7 < 126) {
    h.length = len7;
  } else if (len7 == 126) {
    if (in.size() < pos + 2) return P::more();
    h.length = (std::uint64_t{in[2]} << 8) | in[3];
    pos += 2;
  } else {
    if (in.size() < pos + 8) return P::more();
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | in[2 + i];
    if (v >> 63) return P::fail(errc::bad_request);
    h.length = v;
    pos += 8;
  }
  if (is_control(h.opcode) && (!h.fin || h.length > 125)) return P::fail(errc::bad_request);
  if (h.masked) {
    if (in.size() < pos + 4) return P::more();
    for (std::size_t i = 0; i < 4; ++i) h.mask[i] = in[pos + i];
    pos += 4;
  }
  return P::done(pos, h);
}

void serialize_frame_header(const FrameHeader& h, std::vector<std::uint8_t>& out) {
  out.push_back(
      static_cast<std::uint8_t>((h.fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(h.opcode)));
  const std::uint8_t m = h.masked ? 0x80 : 0x00;
  if (h.length < 126) {
    out.push_back(static_cast<std::uint8_t>(m | h.length));
  } else if (h.length <= 0xFFFF) {
    out.push_back(m | 126);
    out.push_back(static_cast<std::uint8_t>(h.length >> 8));
    out.push_back(static_cast<std::uint8_t>(h.length));
  } else {
    out.push_back(m | 127);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(h.length >> (i * 8)));
  }
  if (h.masked) out.insert(out.end(), h.mask.begin(), h.mask.end());
}

void apply_mask(std::span<std::uint8_t> data, const std::array<std::uint8_t, 4>& key,
                std::uint64_t offset) {
  // Eight bytes at a time: the key pattern repeats every 4 bytes, so it lines up in 8.
  std::uint8_t k8[8];
  for (std::size_t j = 0; j < 8; ++j) k8[j] = key[(offset + j) & 3];
  std::uint64_t k64;
  std::memcpy(&k64, k8, 8);
  std::uint8_t* p = data.data();
  const std::size_t n = data.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= k64;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] ^= key[(offset + i) & 3];
}

std::error_code MessageState::on_frame(const FrameHeader& h) {
  if (is_control(h.opcode)) return {};
  if (h.opcode == Opcode::continuation) {
    if (!in_message_) return make_error_code(errc::bad_request);
  } else if (in_message_) {
    return make_error_code(errc::bad_request);
  }
  in_message_ = !h.fin;
  return {};
}

std::string base64_encode(std::span<const std::uint8_t> data) {
  static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == data.size()) {
    const std::uint32_t v = std::uint32_t{data[i]} << 16;
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string accept_key(std::string_view key) {
  std::string s(trim(key));
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  auto d = sha1(s);
  return base64_encode(d);
}

std::optional<std::string> HttpHead::get(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

bool HttpHead::has_token(std::string_view name, std::string_view token) const {
  for (const auto& [k, v] : headers) {
    if (!iequals(k, name)) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto item = trim(rest.substr(0, comma));
      if (iequals(item, token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

Parsed<HttpHead> parse_http_head(Bytes in) {
  using P = Parsed<HttpHead>;
  std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  const auto end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > kMaxHeadSize) return P::fail(errc::message_too_large);
    // A head starts with a token; refuse binary garbage early.
    for (char ch : text.substr(0, std::min<std::size_t>(text.size(), 16))) {
      if (ch == '\0') return P::fail(errc::bad_request);
    }
    return P::more();
  }
  if (end + 4 > kMaxHeadSize) return P::fail(errc::message_too_large);
  HttpHead h;
  std::string_view head = text.substr(0, end);
  auto eol = head.find("\r\n");
  std::string_view first = head.substr(0, eol);
  auto sp1 = first.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return P::fail(errc::bad_request);
  auto sp2 = first.find(' ', sp1 + 1);
  h.a = std::string(first.substr(0, sp1));
  if (sp2 == std::string_view::npos) {
    h.b = std::string(first.substr(sp1 + 1));
  } else {
    h.b = std::string(first.substr(sp1 + 1, sp2 - sp1 - 1));
    h.c = std::string(first.substr(sp2 + 1));
  }
  if (h.b.empty()) return P::fail(errc::bad_request);
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  while (!rest.empty()) {
    auto e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return P::fail(errc::bad_request);
    auto name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) return P::fail(errc::bad_request);
    h.headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
    if (h.headers.size() > 100) return P::fail(errc::message_too_large);
  }
  return P::done(end + 4, std::move(h));
}

}  // namespace gost::ws
