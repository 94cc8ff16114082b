// Fuzzes the Shadowsocks stream decoder (both editions, both roles) with raw input, with valid
// streams (which must decode to exactly what was encoded, fed in any split) and with valid
// streams with one byte flipped (which must fail or, never, decode to something else), plus the
// UDP packet and UDP-tun frame parsers.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ss/codec.hpp"

using namespace gost;
using namespace gost::ss;

namespace {
std::int64_t fixed_clock() { return 1700000000; }

const Keys& keys_for(unsigned i) {
  static const std::vector<Keys> ks = [] {
    std::vector<Keys> v;
    const char* psk16 = "AAECAwQFBgcICQoLDA0ODw==";
    const char* psk32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    v.push_back(*make_keys("aes-128-gcm", "fuzz"));
    v.push_back(*make_keys("aes-256-gcm", "fuzz"));
    v.push_back(*make_keys("chacha20-ietf-poly1305", "fuzz"));
    v.push_back(*make_keys("2022-blake3-aes-128-gcm", psk16));
    v.push_back(*make_keys("2022-blake3-aes-256-gcm", psk32));
    v.push_back(*make_keys("none", ""));
    return v;
  }();
  return ks[i % ks.size()];
}

struct Out {
  std::vector<std::uint8_t> plain;
  bool failed = false;
};

Out decode(Decoder& d, std::vector<std::uint8_t> wire, std::size_t feed) {
  Out o;
  std::vector<std::uint8_t> buf;
  std::vector<std::uint8_t> direct(70000);
  std::size_t given = 0;
  for (int guard = 0; guard < 1000000; ++guard) {
    auto st = d.step(buf.data(), buf.size(), (guard & 1) ? direct.data() : nullptr,
                     (guard & 1) ? direct.size() : 0);
    if (st.status == ParseStatus::error) {
      o.failed = true;
      return o;
    }
    if (st.status == ParseStatus::ok) {
      if (st.consumed == 0 || st.consumed > buf.size()) std::abort();
      if (st.in_out) {
        o.plain.insert(o.plain.end(), direct.begin(),
                       direct.begin() + static_cast<std::ptrdiff_t>(st.plain_len));
      } else {
        if (st.plain_off + st.plain_len > st.consumed) std::abort();
        o.plain.insert(o.plain.end(), buf.begin() + static_cast<std::ptrdiff_t>(st.plain_off),
                       buf.begin() + static_cast<std::ptrdiff_t>(st.plain_off + st.plain_len));
      }
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(st.consumed));
      continue;
    }
    if (st.need <= buf.size()) std::abort();  // need_more must ask for more than it has
    if (given == wire.size()) return o;
    const std::size_t n = std::min(feed, wire.size() - given);
    buf.insert(buf.end(), wire.begin() + static_cast<std::ptrdiff_t>(given),
               wire.begin() + static_cast<std::ptrdiff_t>(given + n));
    given += n;
  }
  return o;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const unsigned sel = data[0];
  const std::size_t feed = 1 + data[1];
  const Keys& k = keys_for(sel & 7);
  const bool server = (sel >> 3) & 1;
  const unsigned mode = (sel >> 4) & 3;
  std::vector<std::uint8_t> in(data + 2, data + size);
  const auto drole = server ? Decoder::Role::server : Decoder::Role::client;
  const auto erole = server ? Encoder::Role::client : Encoder::Role::server;
  std::vector<std::uint8_t> req_salt(k.method->salt_size, 0x5A);

  if (mode == 0) {
    Decoder d(&k, drole);
    d.set_clock(fixed_clock);
    d.set_request_salt(req_salt.data(), req_salt.size());
    decode(d, in, feed);
  } else if (mode == 1 || mode == 2) {
    Encoder e(&k, erole);
    e.set_clock(fixed_clock);
    e.set_salt(std::vector<std::uint8_t>(k.method->salt_size, 0x5A));
    if (e.set_target(Address("fuzz.example", 443))) std::abort();
    e.set_response_info(req_salt, k.key());
    std::vector<std::uint8_t> wire(80 * 1024);
    std::size_t consumed = 0;
    const std::size_t w = e.encode(in.data(), in.size(), wire.data(), wire.size(), &consumed);
    if (w == 0 && !(k.method->plain() && in.empty())) std::abort();
    wire.resize(w);
    std::vector<std::uint8_t> want;
    if (server) {
      if (serialize_address(Address("fuzz.example", 443), want)) std::abort();
    }
    want.insert(want.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(consumed));
    if (mode == 2 && !wire.empty())
      wire[(static_cast<std::size_t>(data[1]) * 131 + size) % wire.size()] ^= 0x80;
    Decoder d(&k, drole);
    d.set_clock(fixed_clock);
    d.set_request_salt(req_salt.data(), req_salt.size());
    auto o = decode(d, wire, feed);
    if (mode == 1 && (o.failed || o.plain != want)) std::abort();
    // Without encryption (none) nothing detects a flipped byte.
    if (mode == 2 && !k.method->plain() && !o.failed && o.plain.size() >= want.size()) {
      std::abort();
    }
  } else {
    auto f = parse_tun_frame(Bytes(in));
    if (f.ok() && (f.consumed > in.size() || f.value.data_off + f.value.data_len > f.consumed)) {
      std::abort();
    }
    Address a;
    std::size_t off = 0, len = 0;
    auto copy = in;
    if (!open_packet(k, copy.data(), copy.size(), &a, &off, &len) && off + len > copy.size()) {
      std::abort();
    }
    if (k.method->edition == Edition::aead2022) {
      Packet2022 info;
      copy = in;
      if (!open_2022_packet(k, server, copy.data(), copy.size(), &info, &off, &len,
                            fixed_clock()) &&
          off + len > copy.size()) {
        std::abort();
      }
    }
  }
  return 0;
}
