#include "ss/codec.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "socks/codec.hpp"
#include "ss/blake3.hpp"

namespace gost::ss {
namespace {

constexpr std::string_view kSessionContext = "shadowsocks 2022 session subkey";
constexpr std::string_view kIdentityContext = "shadowsocks 2022 identity subkey";

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(static_cast<unsigned>(p[0]) << 8 | p[1]);
}
void put16(std::uint8_t* p, std::size_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
std::int64_t be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return static_cast<std::int64_t>(v);
}
void put64(std::uint8_t* p, std::int64_t sv) {
  auto v = static_cast<std::uint64_t>(sv);
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

std::array<std::uint8_t, 16> psk_hash(const std::vector<std::uint8_t>& psk) {
  std::array<std::uint8_t, 16> h{};
  blake3_hash(psk.data(), psk.size(), h.data(), h.size());
  return h;
}

}  // namespace

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<Keys, std::string> make_keys(const std::string& method, const std::string& password,
                                    const std::map<std::string, std::string>& users) {
  Keys k;
  k.method = find_method(method);
  if (!k.method) return std::string("unsupported method \"" + method + "\"");
  if (k.method->plain()) {
    k.psks.emplace_back();
    return k;
  }
  if (k.method->edition == Edition::aead) {
    if (password.empty()) return std::string("empty password");
    k.psks.push_back(password_key(password, k.method->key_size));
    return k;
  }
  std::size_t start = 0;
  for (;;) {
    auto end = password.find(':', start);
    auto part = password.substr(start, end == std::string::npos ? std::string::npos : end - start);
    auto d = base64_decode(part);
    if (!d) return std::string("the 2022 PSK \"" + part + "\" is not base64");
    if (d->size() != k.method->key_size) {
      return std::string("the 2022 PSK \"" + part + "\" has " + std::to_string(d->size()) +
                         " bytes, " + method + " needs " + std::to_string(k.method->key_size));
    }
    k.psks.push_back(std::move(*d));
    if (k.psks.size() > 4) return std::string("at most 4 PSKs (identity hops) are supported");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  for (const auto& [name, pass] : users) {
    auto d = base64_decode(pass);
    if (!d || d->size() != k.method->key_size) {
      return std::string("user \"" + name + "\": the PSK must be base64 of " +
                         std::to_string(k.method->key_size) + " bytes");
    }
    const auto h = psk_hash(*d);  // before *d is moved from
    k.users[h] = {name, std::move(*d)};
  }
  return k;
}

// ---------------------------------------------------------------- Decoder

Decoder::Step Decoder::fail(std::error_code ec) {
  Step s;
  s.status = ParseStatus::error;
  s.ec = ec;
  return s;
}

Decoder::Step Decoder::step(std::uint8_t* data, std::size_t size, std::uint8_t* out,
                            std::size_t out_cap) {
  const Method& m = *keys_->method;
  const bool v2022 = m.edition == Edition::aead2022;
  const bool server = role_ == Role::server;
  Step st;
  auto more = [&](std::size_t n) {
    st.status = ParseStatus::need_more;
    st.need = n;
    return st;
  };
  auto ok = [&](std::size_t consumed, std::size_t off, std::size_t len) {
    st.status = ParseStatus::ok;
    st.consumed = consumed;
    st.plain_off = off;
    st.plain_len = len;
    return st;
  };
  const auto bad = make_error_code(errc::bad_request);
  if (m.plain()) {
    // No encryption: whatever arrived is plaintext.
    if (size == 0) return more(1);
    return ok(size, 0, size);
  }
  switch (stage_) {
    case kSalt: {
      const std::size_t ss = m.salt_size;
      const bool eih = v2022 && server && !keys_->users.empty();
      const std::size_t n = ss + (eih ? 16 : 0);
      if (size < n) return more(n);
      hs().salt.assign(data, ss);
      session_key_ = &keys_->key();
      if (eih) {
        std::uint8_t idkey[kMaxKeySize];
        derive_2022(kIdentityContext, keys_->key().data(), m.key_size, hs().salt.data(), ss, idkey);
        std::array<std::uint8_t, 16> h;
        std::memcpy(h.data(), data + ss, 16);
        if (!aes_block(m, idkey, h.data(), false)) return fail(bad);
        auto it = keys_->users.find(h);
        if (it == keys_->users.end()) return fail(make_error_code(errc::auth_failed));
        user_ = &it->second.first;
        session_key_ = &it->second.second;
      }
      bool inited;
      if (v2022) {
        std::uint8_t sub[kMaxKeySize];
        derive_2022(kSessionContext, session_key_->data(), m.key_size, hs().salt.data(), ss, sub);
        inited = aead_.init(m, sub, false);
      } else {
        auto sub = aead_subkey(*session_key_, hs().salt.data(), ss);
        inited = aead_.init(m, sub.data(), false);
      }
      if (!inited) return fail(bad);
      stage_ = v2022 ? kFixed : kLen;
      return ok(n, 0, 0);
    }
    case kFixed: {
      const std::size_t hl = server ? 11 : 1 + 8 + m.salt_size + 2;
      const std::size_t n = hl + kTagSize;
      if (size < n) return more(n);
      if (!aead_.open(data, n, data)) return fail(make_error_code(errc::auth_failed));
      if (data[0] != (server ? 0 : 1)) return fail(bad);
      const std::int64_t now = hs().now ? hs().now() : unix_now();
      const std::int64_t ts = be64(data + 1);
      if (ts < now - kTimestampWindow || ts > now + kTimestampWindow) {
        return fail(make_error_code(errc::timeout));
      }
      if (server) {
        len_ = be16(data + 9);
        if (len_ == 0) return fail(bad);
        if (keys_->filter && !keys_->filter->check_and_add(hs().salt.data(), hs().salt.size())) {
          return fail(make_error_code(errc::forbidden));
        }
        replay_checked_ = true;
        stage_ = kVar;
      } else {
        if (hs().req_salt.size() != m.salt_size ||
            std::memcmp(data + 9, hs().req_salt.data(), m.salt_size) != 0) {
          return fail(bad);
        }
        len_ = be16(data + 9 + m.salt_size);
        stage_ = len_ > 0 ? kFirst : kLen;
      }
      return ok(n, 0, 0);
    }
    case kVar: {
      const std::size_t n = len_ + kTagSize;
      if (size < n) return more(n);
      if (!aead_.open(data, n, data)) return fail(bad);
      auto a = socks::parse_socks5_address(Bytes(data, len_));
      if (!a.ok()) return fail(bad);
      const std::size_t al = a.consumed;
      if (len_ < al + 2) return fail(bad);
      const std::size_t pad = be16(data + al);
      if (pad > kMaxPadding || al + 2 + pad > len_) return fail(bad);
      const std::size_t payload = len_ - al - 2 - pad;
      if (pad == 0 && payload == 0) return fail(bad);
      // The address is moved next to the initial payload: the plaintext then reads exactly as
      // the AEAD edition's first chunk (address, then data).
      std::memmove(data + 2 + pad, data, al);
      stage_ = kLen;
      return ok(n, 2 + pad, al + payload);
    }
    case kFirst: {
      const std::size_t n = len_ + kTagSize;
      if (size < n) return more(n);
      if (!aead_.open(data, n, data)) return fail(bad);
      stage_ = kLen;
      return ok(n, 0, len_);
    }
    case kLen: {
      const std::size_t n = 2 + kTagSize;
      if (size < n) return more(n);
      if (!aead_.open(data, n, data)) return fail(make_error_code(errc::auth_failed));
      len_ = be16(data);
      if (len_ > m.max_payload()) return fail(bad);
      if (!v2022 && server && !replay_checked_) {
        replay_checked_ = true;
        if (keys_->filter && !keys_->filter->check_and_add(hs().salt.data(), hs().salt.size())) {
          return fail(make_error_code(errc::forbidden));
        }
      }
      stage_ = kPayload;
      return ok(n, 0, 0);
    }
    case kPayload: {
      const std::size_t n = len_ + kTagSize;
      if (size < n) return more(n);
      stage_ = kLen;
      if (out && out_cap >= len_) {
        if (!aead_.open(data, n, out)) return fail(bad);
        st.in_out = true;
        return ok(n, 0, len_);
      }
      if (!aead_.open(data, n, data)) return fail(bad);
      return ok(n, 0, len_);
    }
  }
  return fail(bad);
}

// ---------------------------------------------------------------- Encoder

const std::string& Decoder::user() const {
  static const std::string none;
  return user_ ? *user_ : none;
}

const Salt& Decoder::peer_salt() const {
  static const Salt none;
  return hs_ ? hs_->salt : none;
}

Encoder::Encoder(const Keys* keys, Role role) : keys_(keys), role_(role) {
  Salt& salt = hs().salt;
  salt.n = static_cast<std::uint8_t>(keys->method->salt_size);
  random_bytes(salt.data(), salt.size());
}

const Salt& Encoder::salt() const {
  static const Salt none;
  return hs_ ? hs_->salt : none;
}

std::error_code Encoder::set_target(const Address& target) {
  hs().target.clear();
  return socks::serialize_socks5_address(target, hs().target);
}

std::size_t Encoder::start(const std::uint8_t* in, std::size_t n, std::uint8_t* out,
                           std::size_t cap, std::size_t* consumed) {
  const Method& m = *keys_->method;
  const bool v2022 = m.edition == Edition::aead2022;
  const bool client = role_ == Role::client;
  *consumed = 0;
  if (cap < kHeaderRoom + kChunkOverhead) return 0;
  const Salt& salt = hs().salt;
  const std::vector<std::uint8_t>& key =
      (!client && v2022 && session_key_) ? *session_key_ : keys_->key();
  bool inited;
  if (v2022) {
    std::uint8_t sub[kMaxKeySize];
    derive_2022(kSessionContext, key.data(), m.key_size, salt.data(), salt.size(), sub);
    inited = aead_.init(m, sub, true);
  } else {
    auto sub = aead_subkey(key, salt.data(), salt.size());
    inited = aead_.init(m, sub.data(), true);
  }
  if (!inited) return 0;
  std::uint8_t* p = out;
  std::memcpy(p, salt.data(), salt.size());
  p += salt.size();
  const std::int64_t now = hs().now ? hs().now() : unix_now();
  if (!v2022) {
    if (client) {
      const std::size_t take = std::min(n, m.max_payload() - hs().target.size());
      std::uint8_t len[2];
      put16(len, hs().target.size() + take);
      if (!aead_.seal(len, 2, p)) return 0;
      p += 2 + kTagSize;
      if (!aead_.seal(hs().target.data(), hs().target.size(), p, in, take)) return 0;
      p += hs().target.size() + take + kTagSize;
      *consumed = take;
    }
  } else if (client) {
    for (std::size_t i = 0; i + 1 < keys_->psks.size(); ++i) {
      std::uint8_t idkey[kMaxKeySize];
      derive_2022(kIdentityContext, keys_->psks[i].data(), m.key_size, salt.data(), salt.size(),
                  idkey);
      auto h = psk_hash(keys_->psks[i + 1]);
      if (!aes_block(m, idkey, h.data(), true)) return 0;
      std::memcpy(p, h.data(), 16);
      p += 16;
    }
    const std::size_t room = cap - static_cast<std::size_t>(p - out) - 11 - 2 * kTagSize -
                             hs().target.size() - 2 - kChunkOverhead;
    const std::size_t take = std::min({n, m.max_payload() - hs().target.size() - 2, room});
    std::size_t pad = 0;
    std::uint8_t padbuf[2 + kMaxPadding] = {};
    if (take == 0) {
      std::uint8_t r[2];
      random_bytes(r, 2);
      pad = 1 + (static_cast<std::size_t>(r[0]) << 8 | r[1]) % kMaxPadding;
    }
    put16(padbuf, pad);
    const std::size_t var_len = hs().target.size() + 2 + pad + take;
    std::uint8_t fixed[11];
    fixed[0] = 0;
    put64(fixed + 1, now);
    put16(fixed + 9, var_len);
    if (!aead_.seal(fixed, sizeof(fixed), p)) return 0;
    p += sizeof(fixed) + kTagSize;
    if (!aead_.seal(hs().target.data(), hs().target.size(), p, padbuf, 2 + pad, in, take)) return 0;
    p += var_len + kTagSize;
    *consumed = take;
  } else {
    const std::size_t room =
        cap - static_cast<std::size_t>(p - out) - 11 - m.salt_size - 2 * kTagSize - kChunkOverhead;
    const std::size_t take = std::min({n, m.max_payload(), room});
    std::uint8_t hdr[1 + 8 + kMaxSaltSize + 2];
    hdr[0] = 1;
    put64(hdr + 1, now);
    std::memcpy(hdr + 9, hs().req_salt.data(), std::min(hs().req_salt.size(), m.salt_size));
    put16(hdr + 9 + m.salt_size, take);
    const std::size_t hl = 11 + m.salt_size;
    if (!aead_.seal(hdr, hl, p)) return 0;
    p += hl + kTagSize;
    if (!aead_.seal(in, take, p)) return 0;
    p += take + kTagSize;
    *consumed = take;
  }
  started_ = true;
  hs_.reset();  // the header is out: target, request salt and clock are not needed any more
  return static_cast<std::size_t>(p - out);
}

std::size_t Encoder::encode(const std::uint8_t* in, std::size_t n, std::uint8_t* out,
                            std::size_t cap, std::size_t* consumed) {
  std::size_t used = 0;
  std::uint8_t* p = out;
  if (keys_->method->plain()) {
    // No encryption: the client's target once, then the data as is.
    if (!started_ && role_ == Role::client) {
      if (cap < hs().target.size()) return 0;
      std::memcpy(p, hs().target.data(), hs().target.size());
      p += hs().target.size();
    }
    started_ = true;
    hs_.reset();
    const std::size_t take = std::min(n, cap - static_cast<std::size_t>(p - out));
    if (take > 0) std::memcpy(p, in, take);
    *consumed = take;
    return static_cast<std::size_t>(p - out) + take;
  }
  if (!started_) {
    std::size_t w = start(in, n, out, cap, &used);
    if (w == 0) {
      *consumed = 0;
      return 0;
    }
    p += w;
  }
  const std::size_t maxp = keys_->method->max_payload();
  while (used < n) {
    const std::size_t room = cap - static_cast<std::size_t>(p - out);
    if (room < kChunkOverhead + 1) break;
    const std::size_t take = std::min({n - used, maxp, room - kChunkOverhead});
    std::uint8_t len[2];
    put16(len, take);
    if (!aead_.seal(len, 2, p)) return 0;
    p += 2 + kTagSize;
    if (!aead_.seal(in + used, take, p)) return 0;
    p += take + kTagSize;
    used += take;
  }
  *consumed = used;
  return static_cast<std::size_t>(p - out);
}

// ---------------------------------------------------------------- packets and frames

std::error_code seal_packet(const Keys& keys, const Address& addr, const std::uint8_t* data,
                            std::size_t n, std::vector<std::uint8_t>& out) {
  const Method& m = *keys.method;
  if (m.plain()) {
    if (auto ec = socks::serialize_socks5_address(addr, out)) return ec;
    out.insert(out.end(), data, data + n);
    return {};
  }
  if (m.edition != Edition::aead) return make_error_code(errc::unsupported);
  std::vector<std::uint8_t> a;
  if (auto ec = socks::serialize_socks5_address(addr, a)) return ec;
  const std::size_t base = out.size();
  out.resize(base + m.salt_size + a.size() + n + kTagSize);
  std::uint8_t* p = out.data() + base;
  random_bytes(p, m.salt_size);
  auto sub = aead_subkey(keys.key(), p, m.salt_size);
  Aead aead;
  if (!aead.init(m, sub.data(), true) || !aead.seal(a.data(), a.size(), p + m.salt_size, data, n)) {
    out.resize(base);
    return make_error_code(errc::bad_request);
  }
  return {};
}

std::error_code open_packet(const Keys& keys, std::uint8_t* pkt, std::size_t n, Address* addr,
                            std::size_t* data_off, std::size_t* data_len) {
  const Method& m = *keys.method;
  if (m.plain()) {
    auto a = socks::parse_socks5_address(Bytes(pkt, n));
    if (!a.ok()) return make_error_code(errc::bad_request);
    *addr = std::move(a.value);
    *data_off = a.consumed;
    *data_len = n - a.consumed;
    return {};
  }
  if (m.edition != Edition::aead) return make_error_code(errc::unsupported);
  if (n < m.salt_size + kTagSize) return make_error_code(errc::bad_request);
  auto sub = aead_subkey(keys.key(), pkt, m.salt_size);
  Aead aead;
  std::uint8_t* body = pkt + m.salt_size;
  const std::size_t bl = n - m.salt_size;
  if (!aead.init(m, sub.data(), false) || !aead.open(body, bl, body)) {
    return make_error_code(errc::auth_failed);
  }
  auto a = socks::parse_socks5_address(Bytes(body, bl - kTagSize));
  if (!a.ok()) return make_error_code(errc::bad_request);
  *addr = std::move(a.value);
  *data_off = m.salt_size + a.consumed;
  *data_len = bl - kTagSize - a.consumed;
  return {};
}

namespace {
void put64be(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}
std::uint64_t get64be(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}
bool body_aead(const Method& m, const std::uint8_t* key, std::uint64_t session_id,
               const std::uint8_t* sep, bool encrypt, Aead* aead) {
  std::uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<std::uint8_t>(session_id >> (8 * i));
  std::uint8_t sub[kMaxKeySize];
  derive_2022(kSessionContext, key, m.key_size, le, 8, sub);
  if (!aead->init(m, sub, encrypt)) return false;
  aead->set_nonce(sep + 4);
  return true;
}

std::error_code seal_2022(const Keys& keys, const std::uint8_t* sep_key,
                          const std::vector<std::uint8_t>& body_key, bool eih,
                          std::uint64_t session_id, std::uint64_t packet_id,
                          std::uint64_t client_session_id, bool response, const Address& addr,
                          const std::uint8_t* data, std::size_t n, std::vector<std::uint8_t>& out,
                          std::int64_t now) {
  const Method& m = *keys.method;
  if (m.edition != Edition::aead2022) return make_error_code(errc::unsupported);
  std::uint8_t sep[16];
  put64be(sep, session_id);
  put64be(sep + 8, packet_id);
  std::vector<std::uint8_t> hdr;
  hdr.push_back(response ? 1 : 0);
  hdr.resize(9);
  put64(hdr.data() + 1, now);
  if (response) {
    hdr.resize(17);
    put64be(hdr.data() + 9, client_session_id);
  }
  hdr.push_back(0);  // no padding
  hdr.push_back(0);
  if (auto ec = socks::serialize_socks5_address(addr, hdr)) return ec;
  const std::size_t base = out.size();
  std::uint8_t enc_sep[16];
  std::memcpy(enc_sep, sep, 16);
  if (!aes_block(m, sep_key, enc_sep, true)) return make_error_code(errc::bad_request);
  out.insert(out.end(), enc_sep, enc_sep + 16);
  if (eih) {
    for (std::size_t i = 0; i + 1 < keys.psks.size(); ++i) {
      auto h = psk_hash(keys.psks[i + 1]);
      for (int j = 0; j < 16; ++j) h[static_cast<std::size_t>(j)] ^= sep[j];
      if (!aes_block(m, keys.psks[i].data(), h.data(), true)) {
        out.resize(base);
        return make_error_code(errc::bad_request);
      }
      out.insert(out.end(), h.begin(), h.end());
    }
  }
  Aead aead;
  const std::size_t at = out.size();
  out.resize(at + hdr.size() + n + kTagSize);
  if (!body_aead(m, body_key.data(), session_id, sep, true, &aead) ||
      !aead.seal(hdr.data(), hdr.size(), out.data() + at, data, n)) {
    out.resize(base);
    return make_error_code(errc::bad_request);
  }
  return {};
}
}  // namespace

std::error_code seal_2022_request(const Keys& keys, std::uint64_t session_id,
                                  std::uint64_t packet_id, const Address& target,
                                  const std::uint8_t* data, std::size_t n,
                                  std::vector<std::uint8_t>& out, std::int64_t now) {
  return seal_2022(keys, keys.psks.front().data(), keys.key(), keys.psks.size() > 1, session_id,
                   packet_id, 0, false, target, data, n, out, now);
}

std::error_code seal_2022_response(const Keys& keys, const std::vector<std::uint8_t>& key,
                                   std::uint64_t session_id, std::uint64_t packet_id,
                                   std::uint64_t client_session_id, const Address& from,
                                   const std::uint8_t* data, std::size_t n,
                                   std::vector<std::uint8_t>& out, std::int64_t now) {
  return seal_2022(keys, key.data(), key, false, session_id, packet_id, client_session_id, true,
                   from, data, n, out, now);
}

std::error_code open_2022_packet(const Keys& keys, bool server, std::uint8_t* pkt, std::size_t n,
                                 Packet2022* info, std::size_t* data_off, std::size_t* data_len,
                                 std::int64_t now) {
  const Method& m = *keys.method;
  if (m.edition != Edition::aead2022) return make_error_code(errc::unsupported);
  const bool eih = server && !keys.users.empty();
  const std::size_t head = 16 + (eih ? 16 : 0);
  if (n < head + kTagSize + 11) return make_error_code(errc::bad_request);
  std::uint8_t sep[16];
  std::memcpy(sep, pkt, 16);
  if (!aes_block(m, keys.key().data(), sep, false)) return make_error_code(errc::bad_request);
  info->session_id = get64be(sep);
  info->packet_id = get64be(sep + 8);
  info->key = keys.key();
  info->user.clear();
  if (eih) {
    std::array<std::uint8_t, 16> h;
    std::memcpy(h.data(), pkt + 16, 16);
    if (!aes_block(m, keys.key().data(), h.data(), false))
      return make_error_code(errc::bad_request);
    for (std::size_t j = 0; j < 16; ++j) h[j] ^= sep[j];
    auto it = keys.users.find(h);
    if (it == keys.users.end()) return make_error_code(errc::auth_failed);
    info->user = it->second.first;
    info->key = it->second.second;
  }
  Aead aead;
  std::uint8_t* body = pkt + head;
  const std::size_t bl = n - head;
  if (!body_aead(m, info->key.data(), info->session_id, sep, false, &aead) ||
      !aead.open(body, bl, body)) {
    return make_error_code(errc::auth_failed);
  }
  const std::size_t pl = bl - kTagSize;
  if (body[0] != (server ? 0 : 1)) return make_error_code(errc::bad_request);
  const std::int64_t ts = be64(body + 1);
  if (ts < now - kTimestampWindow || ts > now + kTimestampWindow) {
    return make_error_code(errc::timeout);
  }
  std::size_t pos = 9;
  if (!server) {
    if (pl < 17) return make_error_code(errc::bad_request);
    info->client_session_id = get64be(body + 9);
    pos = 17;
  }
  if (pl < pos + 2) return make_error_code(errc::bad_request);
  const std::size_t pad = be16(body + pos);
  pos += 2;
  if (pad > kMaxPadding || pl < pos + pad) return make_error_code(errc::bad_request);
  pos += pad;
  auto a = socks::parse_socks5_address(Bytes(body + pos, pl - pos));
  if (!a.ok()) return make_error_code(errc::bad_request);
  info->addr = std::move(a.value);
  pos += a.consumed;
  *data_off = head + pos;
  *data_len = pl - pos;
  return {};
}

bool PacketWindow::check_and_add(std::uint64_t id) {
  if (!init_) {
    init_ = true;
    last_ = id;
    bits_ = 1;
    return true;
  }
  if (id > last_) {
    const std::uint64_t shift = id - last_;
    bits_ = shift >= 64 ? 1 : (bits_ << shift) | 1;
    last_ = id;
    return true;
  }
  const std::uint64_t back = last_ - id;
  if (back >= 64) return false;
  const std::uint64_t bit = std::uint64_t{1} << back;
  if (bits_ & bit) return false;
  bits_ |= bit;
  return true;
}

Parsed<TunFrame> parse_tun_frame(Bytes in) {
  if (in.size() < 3) return Parsed<TunFrame>::more();
  const std::size_t len = be16(in.data());
  if (in[2] != kTunFrag) return Parsed<TunFrame>::fail(make_error_code(errc::bad_request));
  auto a = socks::parse_socks5_address(in.subspan(3));
  if (a.failed()) return Parsed<TunFrame>::fail(a.ec);
  if (a.need_more()) return Parsed<TunFrame>::more();
  const std::size_t hl = 3 + a.consumed;
  if (in.size() < hl + len) return Parsed<TunFrame>::more();
  TunFrame f;
  f.addr = std::move(a.value);
  f.data_off = hl;
  f.data_len = len;
  return Parsed<TunFrame>::done(hl + len, std::move(f));
}

std::error_code serialize_tun_header(const Address& addr, std::size_t data_len,
                                     std::vector<std::uint8_t>& out) {
  if (data_len > 0xFFFF) return make_error_code(errc::message_too_large);
  std::uint8_t h[3];
  put16(h, data_len);
  h[2] = kTunFrag;
  const std::size_t base = out.size();
  out.insert(out.end(), h, h + 3);
  if (auto ec = socks::serialize_socks5_address(addr, out)) {
    out.resize(base);
    return ec;
  }
  return {};
}

Parsed<Address> parse_address(Bytes in) { return socks::parse_socks5_address(in); }
std::error_code serialize_address(const Address& a, std::vector<std::uint8_t>& out) {
  return socks::serialize_socks5_address(a, out);
}

}  // namespace gost::ss
