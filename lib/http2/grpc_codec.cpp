#include "http2/grpc_codec.hpp"

namespace gost::http2::grpc {
namespace {

// Reads a protobuf varint (at most 10 bytes). Returns bytes used, 0 when incomplete, -1 when bad.
int read_varint(Bytes in, std::size_t pos, std::uint64_t& v) {
  v = 0;
  for (int i = 0; i < 10; ++i) {
    if (pos + static_cast<std::size_t>(i) >= in.size()) return 0;
    std::uint8_t b = in[pos + static_cast<std::size_t>(i)];
    if (i == 9 && b > 1) return -1;
    v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return i + 1;
  }
  return -1;
}

void put_varint(std::uint64_t v, std::vector<std::uint8_t>& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace

void serialize_chunk(Bytes data, std::vector<std::uint8_t>& out) {
  std::size_t msg = data.empty() ? 0 : 1 + varint_size(data.size()) + data.size();
  out.push_back(0);
  out.push_back(static_cast<std::uint8_t>(msg >> 24));
  out.push_back(static_cast<std::uint8_t>(msg >> 16));
  out.push_back(static_cast<std::uint8_t>(msg >> 8));
  out.push_back(static_cast<std::uint8_t>(msg));
  if (data.empty()) return;
  out.push_back(0x0A);
  put_varint(data.size(), out);
  out.insert(out.end(), data.begin(), data.end());
}

Parsed<ChunkRef> parse_chunk(Bytes in, std::size_t max_message) {
  using P = Parsed<ChunkRef>;
  if (in.size() < 5) return P::more();
  if (in[0] > 1) return P::fail(make_error_code(errc::bad_request));
  std::size_t len = (std::size_t{in[1]} << 24) | (std::size_t{in[2]} << 16) |
                    (std::size_t{in[3]} << 8) | std::size_t{in[4]};
  if (len > max_message) return P::fail(make_error_code(errc::message_too_large));
  if (in[0] == 1) return P::fail(make_error_code(errc::unsupported));
  if (in.size() < 5 + len) return P::more();
  Bytes msg = in.subspan(5, len);
  ChunkRef ref;
  std::size_t pos = 0;
  while (pos < msg.size()) {
    std::uint64_t key = 0;
    int k = read_varint(msg, pos, key);
    if (k <= 0) return P::fail(make_error_code(errc::bad_request));
    pos += static_cast<std::size_t>(k);
    const std::uint64_t field = key >> 3;
    switch (key & 7) {
      case 0: {  // varint
        std::uint64_t v = 0;
        int n = read_varint(msg, pos, v);
        if (n <= 0) return P::fail(make_error_code(errc::bad_request));
        pos += static_cast<std::size_t>(n);
        break;
      }
      case 1:  // 64-bit
        if (msg.size() - pos < 8) return P::fail(make_error_code(errc::bad_request));
        pos += 8;
        break;
      case 5:  // 32-bit
        if (msg.size() - pos < 4) return P::fail(make_error_code(errc::bad_request));
        pos += 4;
        break;
      case 2: {  // length-delimited
        std::uint64_t l = 0;
        int n = read_varint(msg, pos, l);
        if (n <= 0) return P::fail(make_error_code(errc::bad_request));
        pos += static_cast<std::size_t>(n);
        if (l > msg.size() - pos) return P::fail(make_error_code(errc::bad_request));
        if (field == 1) {  // the last occurrence wins, as in protobuf
          ref.offset = 5 + pos;
          ref.length = static_cast<std::size_t>(l);
        }
        pos += static_cast<std::size_t>(l);
        break;
      }
      default:
        return P::fail(make_error_code(errc::bad_request));
    }
    if (field == 0) return P::fail(make_error_code(errc::bad_request));
  }
  return P::done(5 + len, ref);
}

std::string tunnel_path(std::string_view path) {
  std::string service = "GostTunel";
  std::string method = "Tunnel";
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  auto slash = path.find('/');
  if (slash == std::string_view::npos) {
    if (!path.empty()) service = std::string(path);
  } else {
    service = std::string(path.substr(0, slash));
    method = std::string(path.substr(slash + 1));
    for (auto& c : method)
      if (c == '/') c = '-';
  }
  return "/" + service + "/" + method;
}

}  // namespace gost::http2::grpc
