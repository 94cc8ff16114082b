#include "sni/codec.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace gost::sni {
namespace {

std::uint32_t be16(Bytes b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) << 8 | b[at + 1];
}

void put16(std::vector<std::uint8_t>& v, std::size_t at, std::size_t n) {
  v[at] = static_cast<std::uint8_t>(n >> 8);
  v[at + 1] = static_cast<std::uint8_t>(n);
}

void put24(std::vector<std::uint8_t>& v, std::size_t at, std::size_t n) {
  v[at] = static_cast<std::uint8_t>(n >> 16);
  v[at + 1] = static_cast<std::uint8_t>(n >> 8);
  v[at + 2] = static_cast<std::uint8_t>(n);
}

std::uint32_t crc32_ieee(std::string_view s) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : s) c = table[(c ^ ch) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string b64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                      static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                      static_cast<unsigned char>(in[i + 2]);
    out += kB64[v >> 18 & 63];
    out += kB64[v >> 12 & 63];
    out += kB64[v >> 6 & 63];
    out += kB64[v & 63];
  }
  std::size_t rest = in.size() - i;
  if (rest == 1) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    out += kB64[v >> 18 & 63];
    out += kB64[v >> 12 & 63];
  } else if (rest == 2) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                      static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += kB64[v >> 18 & 63];
    out += kB64[v >> 12 & 63];
    out += kB64[v >> 6 & 63];
  }
  return out;
}

// Raw (unpadded) base64url, strict as Go's RawURLEncoding: no padding, no stray bits.
std::optional<std::string> unb64url(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

bool looks_like_tls(Bytes b) noexcept {
  return b.size() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04;
}

Parsed<ClientHello> parse_client_hello(Bytes b) {
  using P = Parsed<ClientHello>;
  const auto bad = make_error_code(errc::bad_request);
  if (b.size() >= 3 && !looks_like_tls(b)) return P::fail(bad);
  if (b.size() < kRecordHeaderSize) return P::more();
  const std::size_t frag = be16(b, 3);
  if (frag == 0 || frag > 16384 + 2048) return P::fail(bad);
  const std::size_t end = kRecordHeaderSize + frag;
  if (b.size() < end) return P::more();

  ClientHello ch;
  ch.record_size = end;
  std::size_t p = kRecordHeaderSize;
  // Handshake header: ClientHello whose body lies within this record.
  if (end - p < 4 || b[p] != 0x01) return P::fail(bad);
  const std::size_t hs_len = static_cast<std::size_t>(b[p + 1]) << 16 | be16(b, p + 2);
  p += 4;
  if (hs_len > end - p) return P::fail(bad);
  const std::size_t body_end = p + hs_len;
  auto need = [&](std::size_t n) { return body_end - p >= n; };
  if (!need(2 + 32 + 1)) return P::fail(bad);
  p += 2 + 32;
  const std::size_t sid = b[p];
  p += 1;
  if (sid > 32 || !need(sid + 2)) return P::fail(bad);
  p += sid;
  const std::size_t cs = be16(b, p);
  p += 2;
  if (cs < 2 || cs % 2 != 0 || !need(cs + 1)) return P::fail(bad);
  p += cs;
  const std::size_t cm = b[p];
  p += 1;
  if (cm < 1 || !need(cm)) return P::fail(bad);
  p += cm;
  if (p == body_end) return P::done(end, std::move(ch));  // no extensions
  if (!need(2)) return P::fail(bad);
  ch.extensions_at = p;
  const std::size_t ext_len = be16(b, p);
  p += 2;
  if (ext_len != body_end - p) return P::fail(bad);
  bool seen_sni = false, seen_gost = false;
  while (p < body_end) {
    if (!need(4)) return P::fail(bad);
    const std::uint32_t type = be16(b, p);
    const std::size_t len = be16(b, p + 2);
    const std::size_t at = p;
    p += 4;
    if (!need(len)) return P::fail(bad);
    const std::size_t data = p;
    p += len;
    if (type == 0x0000) {
      if (seen_sni) return P::fail(bad);  // duplicate extensions are illegal (RFC 8446 §4.2)
      seen_sni = true;
      ch.sni_at = at;
      ch.sni_size = 4 + len;
      // server_name_list; the first host_name entry is the name.
      if (len < 2 || be16(b, data) != len - 2) return P::fail(bad);
      std::size_t q = data + 2;
      while (q < data + len) {
        if (data + len - q < 3) return P::fail(bad);
        const std::uint8_t name_type = b[q];
        const std::size_t nlen = be16(b, q + 1);
        q += 3;
        if (nlen > data + len - q) return P::fail(bad);
        if (name_type == 0 && ch.server_name.empty()) {
          if (nlen == 0) return P::fail(bad);
          ch.server_name.assign(reinterpret_cast<const char*>(b.data() + q), nlen);
        }
        q += nlen;
      }
    } else if (type == kGostHostExtension) {
      if (seen_gost) return P::fail(bad);
      seen_gost = true;
      ch.gost_at = at;
      ch.gost_size = 4 + len;
      auto name =
          decode_server_name(std::string_view(reinterpret_cast<const char*>(b.data() + data), len));
      if (name) ch.gost_host = std::move(*name);
    }
  }
  return P::done(end, std::move(ch));
}

namespace {
// The record with the SNI set to `name` (in place), any 0xFFFE dropped and, when gost is
// given, a new 0xFFFE appended carrying it. Lengths are fixed up.
std::optional<std::vector<std::uint8_t>> rebuild(Bytes b, const ClientHello& ch,
                                                 std::string_view name, const std::string* gost) {
  if (ch.sni_at == 0 || ch.extensions_at == 0 || ch.record_size > b.size() || name.empty() ||
      name.size() > 0xFFFF - 5)
    return std::nullopt;
  // New server_name extension: type 0, list length, one host_name entry.
  std::vector<std::uint8_t> sni(4 + 2 + 3 + name.size());
  put16(sni, 0, 0);
  put16(sni, 2, 2 + 3 + name.size());
  put16(sni, 4, 3 + name.size());
  sni[6] = 0;
  put16(sni, 7, name.size());
  std::copy(name.begin(), name.end(), sni.begin() + 9);

  std::vector<std::uint8_t> out;
  out.reserve(ch.record_size + sni.size() + (gost ? gost->size() + 4 : 0));
  auto copy = [&](std::size_t from, std::size_t to) {
    out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(to));
  };
  if (ch.gost_size != 0 && ch.gost_at < ch.sni_at) {
    copy(0, ch.gost_at);
    copy(ch.gost_at + ch.gost_size, ch.sni_at);
    out.insert(out.end(), sni.begin(), sni.end());
    copy(ch.sni_at + ch.sni_size, ch.record_size);
  } else if (ch.gost_size != 0) {
    copy(0, ch.sni_at);
    out.insert(out.end(), sni.begin(), sni.end());
    copy(ch.sni_at + ch.sni_size, ch.gost_at);
    copy(ch.gost_at + ch.gost_size, ch.record_size);
  } else {
    copy(0, ch.sni_at);
    out.insert(out.end(), sni.begin(), sni.end());
    copy(ch.sni_at + ch.sni_size, ch.record_size);
  }
  if (gost) {
    std::vector<std::uint8_t> ext(4);
    put16(ext, 0, kGostHostExtension);
    put16(ext, 2, gost->size());
    ext.insert(ext.end(), gost->begin(), gost->end());
    out.insert(out.end(), ext.begin(), ext.end());
  }
  const std::size_t frag = out.size() - kRecordHeaderSize;
  const std::size_t body = frag - 4;
  const std::size_t exts = out.size() - ch.extensions_at - 2;
  if (frag > 16384 || exts > 0xFFFF) return std::nullopt;
  put16(out, 3, frag);
  put24(out, kRecordHeaderSize + 1, body);
  put16(out, ch.extensions_at, exts);
  return out;
}
}  // namespace

std::optional<std::vector<std::uint8_t>> rewrite_client_hello(Bytes record, const ClientHello& ch,
                                                              std::string_view host) {
  const std::string enc = encode_server_name(ch.server_name);
  return rebuild(record, ch, host, &enc);
}

std::optional<std::vector<std::uint8_t>> restore_client_hello(Bytes record, const ClientHello& ch) {
  if (ch.gost_host.empty()) return std::nullopt;
  return rebuild(record, ch, ch.gost_host, nullptr);
}

std::string encode_server_name(std::string_view name) {
  const std::uint32_t c = crc32_ieee(name);
  std::string raw;
  raw += static_cast<char>(c >> 24);
  raw += static_cast<char>(c >> 16);
  raw += static_cast<char>(c >> 8);
  raw += static_cast<char>(c);
  raw += b64url(name);
  return b64url(raw);
}

std::optional<std::string> decode_server_name(std::string_view s) {
  auto raw = unb64url(s);
  if (!raw || raw->size() < 4) return std::nullopt;
  auto name = unb64url(std::string_view(*raw).substr(4));
  if (!name) return std::nullopt;
  const auto* u = reinterpret_cast<const unsigned char*>(raw->data());
  const std::uint32_t want = static_cast<std::uint32_t>(u[0]) << 24 |
                             static_cast<std::uint32_t>(u[1]) << 16 |
                             static_cast<std::uint32_t>(u[2]) << 8 | u[3];
  if (crc32_ieee(*name) != want) return std::nullopt;
  return name;
}

Parsed<HttpHead> parse_http_head(Bytes b, std::size_t max_size) {
  using P = Parsed<HttpHead>;
  std::string_view s(reinterpret_cast<const char*>(b.data()), std::min(b.size(), max_size));
  auto end = s.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (b.size() >= max_size) return P::fail(make_error_code(errc::message_too_large));
    return P::more();
  }
  const std::size_t head_size = end + 4;
  HttpHead h;
  std::size_t p = s.find("\r\n");  // skip the request line
  if (p == 0) return P::fail(make_error_code(errc::bad_request));
  p += 2;
  while (p < end + 2) {
    const std::size_t eol = s.find("\r\n", p);
    std::string_view line = s.substr(p, eol - p);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return P::fail(make_error_code(errc::bad_request));
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Host") && h.host_size == 0) {
      h.host = std::string(value);
      h.host_at = p;
      h.host_size = eol + 2 - p;
    } else if (iequals(name, "Gost-Target") && h.target_size == 0) {
      if (auto t = decode_server_name(value)) h.gost_target = std::move(*t);
      h.target_at = p;
      h.target_size = eol + 2 - p;
    }
    p = eol + 2;
  }
  return P::done(head_size, std::move(h));
}

namespace {
// head with the [at, at+size) ranges (sorted, non-overlapping) replaced.
struct Edit {
  std::size_t at, size;
  std::string with;
};
std::vector<std::uint8_t> apply(Bytes head, std::vector<Edit> edits) {
  // An insertion (size 0) at the start of a removed line goes before the removal.
  std::sort(edits.begin(), edits.end(), [](const Edit& x, const Edit& y) {
    return x.at != y.at ? x.at < y.at : x.size < y.size;
  });
  std::vector<std::uint8_t> out;
  out.reserve(head.size() + 128);
  std::size_t p = 0;
  for (auto& e : edits) {
    out.insert(out.end(), head.begin() + static_cast<std::ptrdiff_t>(p),
               head.begin() + static_cast<std::ptrdiff_t>(e.at));
    out.insert(out.end(), e.with.begin(), e.with.end());
    p = e.at + e.size;
  }
  out.insert(out.end(), head.begin() + static_cast<std::ptrdiff_t>(p), head.end());
  return out;
}
}  // namespace

std::vector<std::uint8_t> rewrite_http_head(Bytes head, const HttpHead& h, std::string_view host) {
  std::string lines =
      "Host: " + std::string(host) + "\r\nGost-Target: " + encode_server_name(h.host) + "\r\n";
  std::vector<Edit> edits;
  if (h.target_size) edits.push_back({h.target_at, h.target_size, ""});
  if (h.host_size) {
    edits.push_back({h.host_at, h.host_size, std::move(lines)});
  } else {
    // No Host line: add ours after the request line.
    std::string_view s(reinterpret_cast<const char*>(head.data()), head.size());
    edits.push_back({s.find("\r\n") + 2, 0, std::move(lines)});
  }
  return apply(head, std::move(edits));
}

std::vector<std::uint8_t> restore_http_head(Bytes head, const HttpHead& h) {
  std::vector<Edit> edits;
  if (h.target_size) edits.push_back({h.target_at, h.target_size, ""});
  if (!h.gost_target.empty()) {
    std::string line = "Host: " + h.gost_target + "\r\n";
    if (h.host_size) {
      edits.push_back({h.host_at, h.host_size, std::move(line)});
    } else {
      std::string_view s(reinterpret_cast<const char*>(head.data()), head.size());
      edits.push_back({s.find("\r\n") + 2, 0, std::move(line)});
    }
  }
  return apply(head, std::move(edits));
}

}  // namespace gost::sni
