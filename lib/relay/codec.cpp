#include "relay/codec.hpp"

#include <asio/ip/address.hpp>
#include <type_traits>

namespace gost::relay {
namespace {

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned>(p[0]) << 8) | p[1]);
}
void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

std::error_code bad() { return make_error_code(errc::bad_request); }

// Decodes one feature's DATA (LEN bytes) by its type.
std::optional<Feature> decode_feature(std::uint8_t type, Bytes b) {
  switch (type) {
    case kFeatureUserAuth: {
      if (b.size() < 2) return std::nullopt;
      std::size_t pos = 0;
      const std::size_t ulen = b[pos++];
      if (b.size() < pos + ulen + 1) return std::nullopt;
      UserAuthFeature f;
      f.username.assign(reinterpret_cast<const char*>(b.data() + pos), ulen);
      pos += ulen;
      const std::size_t plen = b[pos++];
      if (b.size() < pos + plen) return std::nullopt;
      f.password.assign(reinterpret_cast<const char*>(b.data() + pos), plen);
      return Feature(std::move(f));
    }
    case kFeatureAddr: {
      if (b.size() < 4) return std::nullopt;
      std::size_t pos = 1;
      AddrFeature f;
      switch (b[0]) {
        case kAddrIPv4: {
          if (b.size() < 3 + 4) return std::nullopt;
          asio::ip::address_v4::bytes_type ip;
          for (std::size_t i = 0; i < 4; ++i) ip[i] = b[pos + i];
          f.addr.host = asio::ip::address_v4(ip).to_string();
          pos += 4;
          break;
        }
        case kAddrIPv6: {
          if (b.size() < 3 + 16) return std::nullopt;
          asio::ip::address_v6::bytes_type ip;
          for (std::size_t i = 0; i < 16; ++i) ip[i] = b[pos + i];
          f.addr.host = asio::ip::address_v6(ip).to_string();
          pos += 16;
          break;
        }
        case kAddrDomain: {
          const std::size_t alen = b[pos];
          if (b.size() < 4 + alen) return std::nullopt;
          ++pos;
          f.addr.host.assign(reinterpret_cast<const char*>(b.data() + pos), alen);
          pos += alen;
          break;
        }
        default:
          return std::nullopt;
      }
      f.addr.port = be16(b.data() + pos);
      return Feature(std::move(f));
    }
    case kFeatureTunnel: {
      if (b.size() < 16) return std::nullopt;
      TunnelFeature f;
      for (std::size_t i = 0; i < 16; ++i) f.id[i] = b[i];
      return Feature(f);
    }
    case kFeatureNetwork: {
      if (b.size() < 2) return std::nullopt;
      return Feature(NetworkFeature{be16(b.data())});
    }
    default:
      return std::nullopt;
  }
}

std::error_code encode_feature(const Feature& f, std::vector<std::uint8_t>& out) {
  std::vector<std::uint8_t> data;
  std::uint8_t type = 0;
  if (auto* ua = std::get_if<UserAuthFeature>(&f)) {
    type = kFeatureUserAuth;
    if (ua->username.size() > 0xFF || ua->password.size() > 0xFF) return bad();
    data.push_back(static_cast<std::uint8_t>(ua->username.size()));
    data.insert(data.end(), ua->username.begin(), ua->username.end());
    data.push_back(static_cast<std::uint8_t>(ua->password.size()));
    data.insert(data.end(), ua->password.begin(), ua->password.end());
  } else if (auto* af = std::get_if<AddrFeature>(&f)) {
    type = kFeatureAddr;
    const auto& host = af->addr.host;
    std::error_code ec;
    auto ip = host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                           : asio::ip::make_address(host, ec);
    if (!ec && ip.is_v6() && ip.to_v6().is_v4_mapped())
      ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
    if (ec) {
      if (host.size() > 0xFF) return bad();
      data.push_back(kAddrDomain);
      data.push_back(static_cast<std::uint8_t>(host.size()));
      data.insert(data.end(), host.begin(), host.end());
    } else if (ip.is_v4()) {
      data.push_back(kAddrIPv4);
      auto b = ip.to_v4().to_bytes();
      data.insert(data.end(), b.begin(), b.end());
    } else {
      data.push_back(kAddrIPv6);
      auto b = ip.to_v6().to_bytes();
      data.insert(data.end(), b.begin(), b.end());
    }
    put16(data, af->addr.port);
  } else if (auto* tf = std::get_if<TunnelFeature>(&f)) {
    type = kFeatureTunnel;
    data.insert(data.end(), tf->id.begin(), tf->id.end());
  } else if (auto* nf = std::get_if<NetworkFeature>(&f)) {
    type = kFeatureNetwork;
    put16(data, nf->network);
  }
  out.push_back(type);
  put16(out, static_cast<std::uint16_t>(data.size()));  // at most 1 + 256 + 256 bytes
  out.insert(out.end(), data.begin(), data.end());
  return {};
}

std::error_code encode_message(std::uint8_t ver, std::uint8_t second, const Features& fs,
                               std::vector<std::uint8_t>& out) {
  std::vector<std::uint8_t> body;
  for (const auto& f : fs.list) {
    if (auto ec = encode_feature(f, body)) return ec;
  }
  if (body.size() > 0xFFFF) return make_error_code(errc::message_too_large);
  out.push_back(ver);
  out.push_back(second);
  put16(out, static_cast<std::uint16_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return {};
}

template <class T>
const T* find(const Features& fs) {
  for (const auto& f : fs.list) {
    if (auto* p = std::get_if<T>(&f)) return p;
  }
  return nullptr;
}

// Header + features; `second` is CMD/FLAGS or STATUS.
template <class M>
Parsed<M> parse_message(Bytes in) {
  using P = Parsed<M>;
  if (in.empty()) return P::more();
  if (in[0] != kVersion1) return P::fail(bad());
  if (in.size() < 4) return P::more();
  const std::size_t flen = be16(in.data() + 2);
  if (in.size() < 4 + flen) return P::more();
  auto fs = parse_features(in.subspan(4, flen));
  if (!fs.ok()) return P::fail(fs.failed() ? fs.ec : bad());
  M m;
  m.version = in[0];
  if constexpr (std::is_same_v<M, Request>) {
    m.cmd = in[1];
  } else {
    m.status = in[1];
  }
  m.features = std::move(fs.value);
  return P::done(4 + flen, std::move(m));
}

}  // namespace

const UserAuthFeature* Features::user_auth() const { return find<UserAuthFeature>(*this); }
const AddrFeature* Features::addr() const { return find<AddrFeature>(*this); }
const TunnelFeature* Features::tunnel() const { return find<TunnelFeature>(*this); }
const NetworkFeature* Features::network() const { return find<NetworkFeature>(*this); }

Parsed<Features> parse_features(Bytes in) {
  using P = Parsed<Features>;
  Features fs;
  std::size_t pos = 0;
  while (pos < in.size()) {
    if (in.size() - pos < 3) return P::fail(bad());
    const std::uint8_t type = in[pos];
    const std::size_t len = be16(in.data() + pos + 1);
    pos += 3;
    if (in.size() - pos < len) return P::fail(bad());
    auto f = decode_feature(type, in.subspan(pos, len));
    if (!f) return P::fail(bad());
    fs.list.push_back(std::move(*f));
    pos += len;
  }
  return P::done(in.size(), std::move(fs));
}

Parsed<Request> parse_request(Bytes in) { return parse_message<Request>(in); }
Parsed<Response> parse_response(Bytes in) { return parse_message<Response>(in); }

std::error_code serialize(const Request& req, std::vector<std::uint8_t>& out) {
  return encode_message(req.version, req.cmd, req.features, out);
}
std::error_code serialize(const Response& resp, std::vector<std::uint8_t>& out) {
  return encode_message(resp.version, resp.status, resp.features, out);
}

std::string network_name(std::uint16_t id) {
  switch (id) {
    case kNetworkUdp:
      return "udp";
    case kNetworkIp:
      return "ip";
    case kNetworkUnix:
      return "unix";
    case kNetworkSerial:
      return "serial";
    default:
      return "tcp";
  }
}

Parsed<std::size_t> parse_udp_frame(Bytes in) {
  using P = Parsed<std::size_t>;
  if (in.size() < 2) return P::more();
  const std::size_t len = be16(in.data());
  if (in.size() < 2 + len) return P::more();
  return P::done(2 + len, len);
}

std::error_code serialize_udp_frame_header(std::size_t len, std::vector<std::uint8_t>& out) {
  if (len > 0xFFFF) return make_error_code(errc::message_too_large);
  put16(out, static_cast<std::uint16_t>(len));
  return {};
}

}  // namespace gost::relay
