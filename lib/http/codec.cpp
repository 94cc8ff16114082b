#include "http/codec.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace gost::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Finds the end of a head: index just past CRLFCRLF (or LFLF), or npos.
std::size_t head_end(Bytes in) {
  const auto* p = reinterpret_cast<const char*>(in.data());
  std::string_view s(p, in.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\n') continue;
    if (i + 1 < s.size() && s[i + 1] == '\n') return i + 2;
    if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

// Splits the head into lines (without CR/LF); the last (empty) line is dropped.
bool split_lines(std::string_view head, std::vector<std::string_view>& lines) {
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto nl = head.find('\n', pos);
    if (nl == std::string_view::npos) return false;
    auto line = head.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = nl + 1;
  }
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return true;
}

bool parse_version(std::string_view v, int& minor) {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1.") return false;
  if (v[7] != '0' && v[7] != '1') return false;
  minor = v[7] - '0';
  return true;
}

std::error_code parse_fields(const std::vector<std::string_view>& lines, Headers& h) {
  if (lines.size() > kMaxHeaders + 1) return make_error_code(errc::bad_request);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto line = lines[i];
    if (line.empty() || line.front() == ' ' || line.front() == '\t') return make_error_code(errc::bad_request);  // obs-fold
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return make_error_code(errc::bad_request);
    auto name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_tchar)) return make_error_code(errc::bad_request);
    auto value = trim_ows(line.substr(colon + 1));
    for (char c : value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return make_error_code(errc::bad_request);
    }
    h.add(std::string(name), std::string(value));
  }
  return {};
}

template <class T, class F>
Parsed<T> parse_head(Bytes in, F&& first_line) {
  auto end = head_end(in);
  if (end == std::string_view::npos) {
    if (in.size() >= kMaxHeadSize) return Parsed<T>::fail(make_error_code(errc::message_too_large));
    return Parsed<T>::more();
  }
  if (end > kMaxHeadSize) return Parsed<T>::fail(make_error_code(errc::message_too_large));
  std::string_view head(reinterpret_cast<const char*>(in.data()), end);
  std::vector<std::string_view> lines;
  if (!split_lines(head, lines) || lines.empty()) return Parsed<T>::fail(make_error_code(errc::bad_request));
  T out;
  if (!first_line(lines[0], out)) return Parsed<T>::fail(make_error_code(errc::bad_request));
  if (auto ec = parse_fields(lines, out.headers)) return Parsed<T>::fail(ec);
  return Parsed<T>::done(end, std::move(out));
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<BodyFraming> framing(const Headers& h) {
  if (h.find("Transfer-Encoding")) {
    // Only chunked as the final coding is delimitable; anything else is refused for requests.
    if (!h.has_token("Transfer-Encoding", "chunked")) return make_error_code(errc::bad_request);
    if (h.find("Content-Length")) return make_error_code(errc::bad_request);  // request smuggling guard
    return BodyFraming{BodyKind::chunked, 0};
  }
  std::optional<std::uint64_t> len;
  for (auto& [k, v] : h.items) {
    if (!iequals(k, "Content-Length")) continue;
    auto n = parse_u64(trim_ows(v));
    if (!n || (len && *len != *n)) return make_error_code(errc::bad_request);
    len = n;
  }
  if (len) return BodyFraming{*len ? BodyKind::length : BodyKind::none, *len};
  return BodyFraming{BodyKind::none, 0};
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

const std::string* Headers::find(std::string_view name) const {
  for (auto& [k, v] : items) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

void Headers::set(std::string_view name, std::string value) {
  erase(name);
  items.emplace_back(std::string(name), std::move(value));
}

void Headers::erase(std::string_view name) {
  std::erase_if(items, [&](auto& kv) { return iequals(kv.first, name); });
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
  for (auto& [k, v] : items) {
    if (!iequals(k, name)) continue;
    std::string_view s = v;
    while (!s.empty()) {
      auto comma = s.find(',');
      auto part = trim_ows(s.substr(0, comma));
      if (iequals(part, token)) return true;
      if (comma == std::string_view::npos) break;
      s.remove_prefix(comma + 1);
    }
  }
  return false;
}

Parsed<RequestHead> parse_request_head(Bytes in) {
  return parse_head<RequestHead>(in, [](std::string_view line, RequestHead& r) {
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) return false;
    auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
    auto method = line.substr(0, sp1);
    if (!std::all_of(method.begin(), method.end(), is_tchar)) return false;
    auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (char c : target) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    }
    if (!parse_version(line.substr(sp2 + 1), r.version_minor)) return false;
    r.method = std::string(method);
    r.target = std::string(target);
    return true;
  });
}

Parsed<ResponseHead> parse_response_head(Bytes in) {
  return parse_head<ResponseHead>(in, [](std::string_view line, ResponseHead& r) {
    if (line.size() < 12 || !parse_version(line.substr(0, 8), r.version_minor) || line[8] != ' ') return false;
    auto code = line.substr(9, 3);
    if (!std::all_of(code.begin(), code.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return false;
    }
    r.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (r.status < 100) return false;
    if (line.size() > 12) {
      if (line[12] != ' ') return false;
      r.reason = std::string(line.substr(13));
    }
    return true;
  });
}

void serialize(const RequestHead& h, std::string& out) {
  out += h.method;
  out += ' ';
  out += h.target;
  out += h.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  for (auto& [k, v] : h.headers.items) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "\r\n";
}

void serialize(const ResponseHead& h, std::string& out) {
  out += h.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(h.status);
  out += ' ';
  out += h.reason;
  out += "\r\n";
  for (auto& [k, v] : h.headers.items) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "\r\n";
}

std::optional<AbsoluteUri> parse_absolute_uri(std::string_view t) {
  auto sep = t.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  AbsoluteUri u;
  u.scheme = std::string(t.substr(0, sep));
  for (auto& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  auto rest = t.substr(sep + 3);
  auto slash = rest.find_first_of("/?#");
  auto authority = rest.substr(0, slash);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);  // userinfo
  if (authority.empty()) return std::nullopt;
  const std::uint16_t def = u.scheme == "https" ? 443 : 80;
  auto a = Address::parse(authority, def);
  if (!a || a->host.empty()) return std::nullopt;
  u.has_port = authority.back() != ']' && authority.find(':') != std::string_view::npos &&
               authority.find(':') == authority.rfind(':');
  u.authority = *a;
  std::string origin = slash == std::string_view::npos ? std::string() : std::string(rest.substr(slash));
  if (auto hash = origin.find('#'); hash != std::string::npos) origin.erase(hash);
  if (origin.empty() || origin.front() != '/') origin.insert(origin.begin(), '/');
  u.origin_form = std::move(origin);
  return u;
}

Result<BodyFraming> request_framing(const RequestHead& h) { return framing(h.headers); }

Result<BodyFraming> response_framing(const ResponseHead& h, std::string_view method) {
  if (iequals(method, "HEAD") || (h.status >= 100 && h.status < 200) || h.status == 204 || h.status == 304) {
    return BodyFraming{BodyKind::none, 0};
  }
  if (iequals(method, "CONNECT") && h.status / 100 == 2) return BodyFraming{BodyKind::none, 0};
  if (h.headers.find("Transfer-Encoding")) {
    if (h.headers.has_token("Transfer-Encoding", "chunked")) return BodyFraming{BodyKind::chunked, 0};
    return BodyFraming{BodyKind::until_close, 0};
  }
  auto f = framing(h.headers);
  if (!f) return f;
  if (!h.headers.find("Content-Length")) return BodyFraming{BodyKind::until_close, 0};
  return f;
}

std::size_t ChunkedScanner::feed(Bytes in) {
  std::size_t i = 0;
  while (i < in.size() && state_ != State::done && state_ != State::error) {
    const char c = static_cast<char>(in[i]);
    switch (state_) {
      case State::size:
        if (std::isxdigit(static_cast<unsigned char>(c))) {
          if (++size_digits_ > 15) {
            state_ = State::error;
            return i;
          }
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(std::isdigit(static_cast<unsigned char>(c))
                                                                        ? c - '0'
                                                                        : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
          ++i;
        } else if (size_digits_ > 0 && (c == ';' || c == ' ' || c == '\t')) {
          state_ = State::ext;
          ++i;
        } else if (size_digits_ > 0 && c == '\r') {
          state_ = State::size_lf;
          ++i;
        } else {
          state_ = State::error;
          return i;
        }
        break;
      case State::ext:
        if (++line_len_ > 4096) {
          state_ = State::error;
          return i;
        }
        if (c == '\r') state_ = State::size_lf;
        ++i;
        break;
      case State::size_lf:
        if (c != '\n') {
          state_ = State::error;
          return i;
        }
        ++i;
        line_len_ = 0;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? State::trailer_start : State::data;
        break;
      case State::data: {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::data_cr;
        break;
      }
      case State::data_cr:
        if (c != '\r') {
          state_ = State::error;
          return i;
        }
        ++i;
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (c != '\n') {
          state_ = State::error;
          return i;
        }
        ++i;
        state_ = State::size;
        break;
      case State::trailer_start:  // start of a trailer line, or the final CRLF
        if (c == '\r') {
          state_ = State::final_lf;
        } else {
          state_ = State::trailer;
          line_len_ = 1;
        }
        ++i;
        break;
      case State::trailer:
        if (++line_len_ > 8192) {
          state_ = State::error;
          return i;
        }
        if (c == '\r') state_ = State::trailer_lf;
        ++i;
        break;
      case State::trailer_lf:
        if (c != '\n') {
          state_ = State::error;
          return i;
        }
        ++i;
        state_ = State::trailer_start;
        break;
      case State::final_lf:
        if (c != '\n') {
          state_ = State::error;
          return i;
        }
        ++i;
        state_ = State::done;
        break;
      case State::done:
      case State::error:
        break;
    }
  }
  return i;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return std::nullopt;  // data after padding
    const char* p = std::strchr(kB64, c);
    int v;
    if (p && c) v = static_cast<int>(p - kB64);
    else if (c == '-') v = 62;  // URL-safe alphabet too
    else if (c == '_') v = 63;
    else return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (pad > 2) return std::nullopt;
  return out;
}

std::optional<Credentials> parse_basic_auth(std::string_view v) {
  v = trim_ows(v);
  auto sp = v.find(' ');
  if (sp == std::string_view::npos || !iequals(v.substr(0, sp), "Basic")) return std::nullopt;
  auto dec = base64_decode(trim_ows(v.substr(sp + 1)));
  if (!dec) return std::nullopt;
  auto colon = dec->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return Credentials{dec->substr(0, colon), dec->substr(colon + 1)};
}

std::string basic_auth_value(const Credentials& c) { return "Basic " + base64_encode(c.username + ":" + c.password); }

}  // namespace gost::http
