#include "http/codec.hpp"

#include <algorithm>
#include <charconv>

namespace gost::http {
namespace {

constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

//   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|"
//         / "~" / DIGIT / ALPHA
constexpr bool is_tchar(char c) noexcept {
  if (is_digit(c) || is_alpha(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// field-value and reason-phrase bytes: VCHAR, obs-text, SP, HTAB.
bool is_text(std::string_view s) noexcept {
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view as_chars(Bytes in) noexcept {
  return {reinterpret_cast<const char*>(in.data()), in.size()};
}

// Length of the empty lines (CRLF or LF) at the start of s.
std::size_t leading_empty_lines(std::string_view s) noexcept {
  std::size_t i = 0;
  for (;;) {
    if (i + 1 < s.size() && s[i] == '\r' && s[i + 1] == '\n') {
      i += 2;
    } else if (i < s.size() && s[i] == '\n') {
      i += 1;
    } else {
      return i;
    }
  }
}

// Splits off the next line (without its CRLF / LF) from s.
std::string_view next_line(std::string_view& s) noexcept {
  auto nl = s.find('\n');
  auto line = s.substr(0, nl);
  s.remove_prefix(nl == std::string_view::npos ? s.size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool parse_version(std::string_view v, int& minor) noexcept {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1.") return false;
  if (v[7] != '0' && v[7] != '1') return false;
  minor = v[7] - '0';
  return true;
}

bool parse_request_line(std::string_view line, RequestHead& r) {
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(method) || target.empty()) return false;
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  if (!parse_version(line.substr(sp2 + 1), r.version_minor)) return false;
  r.method = std::string(method);
  r.target = std::string(target);
  return true;
}

bool parse_status_line(std::string_view line, ResponseHead& r) {
  if (line.size() < 12 || !parse_version(line.substr(0, 8), r.version_minor) || line[8] != ' ') {
    return false;
  }
  auto code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), is_digit)) return false;
  r.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (r.status < 100) return false;
  if (line.size() > 12) {
    if (line[12] != ' ') return false;
    auto reason = line.substr(13);
    if (!is_text(reason)) return false;
    r.reason = std::string(reason);
  }
  return true;
}

std::error_code parse_fields(std::string_view rest, Headers& h) {
  while (!rest.empty()) {
    auto line = next_line(rest);
    if (line.empty()) break;  // the empty line that ends the head
    if (h.items.size() >= kMaxHeaders) return make_error_code(errc::bad_request);
    if (line.front() == ' ' || line.front() == '\t') return make_error_code(errc::bad_request);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return make_error_code(errc::bad_request);
    auto name = line.substr(0, colon);
    if (!is_token(name)) return make_error_code(errc::bad_request);
    auto value = trim_ows(line.substr(colon + 1));
    if (!is_text(value)) return make_error_code(errc::bad_request);
    h.add(std::string(name), std::string(value));
  }
  return {};
}

template <class T, class F>
Parsed<T> parse_head(Bytes in, F first_line) {
  const auto end = find_head_end(in);
  if (end == kNotFound) {
    if (in.size() >= kMaxHeadSize) return Parsed<T>::fail(make_error_code(errc::message_too_large));
    return Parsed<T>::more();
  }
  if (end > kMaxHeadSize) return Parsed<T>::fail(make_error_code(errc::message_too_large));
  auto head = as_chars(in.first(end));
  head.remove_prefix(leading_empty_lines(head));
  T out;
  if (!first_line(next_line(head), out)) return Parsed<T>::fail(make_error_code(errc::bad_request));
  if (auto ec = parse_fields(head, out.headers)) return Parsed<T>::fail(ec);
  return Parsed<T>::done(end, std::move(out));
}

std::optional<std::uint64_t> parse_u64(std::string_view s) noexcept {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Content-Length, possibly repeated or a list of equal values (RFC 9110 §8.6).
// nullopt = absent; error = invalid or conflicting.
Result<std::optional<std::uint64_t>> content_length(const Headers& h) {
  std::optional<std::uint64_t> len;
  bool bad = false;
  for (auto& [k, v] : h.items) {
    if (!iequals(k, "Content-Length")) continue;
    bool any = false;
    for_each_token(v, [&](std::string_view t) {
      any = true;
      auto n = parse_u64(t);
      if (!n || (len && *len != *n))
        bad = true;
      else
        len = n;
    });
    if (!any) bad = true;
  }
  if (bad) return make_error_code(errc::bad_request);
  return len;
}

// The codings of every Transfer-Encoding line in order: whether "chunked" is the final one, and
// whether it appears anywhere else.
struct Codings {
  bool chunked_last = false;
  bool chunked_elsewhere = false;
};
Codings transfer_codings(const Headers& h) {
  Codings c;
  for (auto& [k, v] : h.items) {
    if (!iequals(k, "Transfer-Encoding")) continue;
    for_each_token(v, [&](std::string_view t) {
      if (c.chunked_last) c.chunked_elsewhere = true;
      // A coding may carry parameters ("gzip;q=1"); only the name matters here.
      auto name = trim_ows(t.substr(0, t.find(';')));
      c.chunked_last = iequals(name, "chunked");
    });
  }
  return c;
}

int hex_value(char c) noexcept {
  if (is_digit(c)) return c - '0';
  const char l = lower(c);
  if (l >= 'a' && l <= 'f') return l - 'a' + 10;
  return -1;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (is_digit(c)) return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

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
  std::erase_if(items, [&](const auto& kv) { return iequals(kv.first, name); });
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
  bool found = false;
  for (auto& [k, v] : items) {
    if (!iequals(k, name)) continue;
    for_each_token(v, [&](std::string_view t) { found = found || iequals(t, token); });
  }
  return found;
}

std::size_t find_head_end(Bytes in, std::size_t from) {
  const auto s = as_chars(in);
  const std::size_t start = leading_empty_lines(s);
  for (std::size_t p = std::max(from, start); p < s.size(); ++p) {
    p = s.find('\n', p);
    if (p == std::string_view::npos) break;
    // The line that this LF ends is empty: "\n\n" or "\n\r\n", after the first line.
    if (p >= start + 1 && s[p - 1] == '\n') return p + 1;
    if (p >= start + 2 && s[p - 1] == '\r' && s[p - 2] == '\n') return p + 1;
  }
  return kNotFound;
}

bool RequestLineChecker::feed(Bytes in) {
  static constexpr std::string_view kVersion = "HTTP/1.";
  for (auto byte : in) {
    const char c = static_cast<char>(byte);
    switch (phase_) {
      case Phase::leading:  // empty lines before the request-line
        if (c == '\r')
          phase_ = Phase::leading_lf;
        else if (c != '\n') {
          phase_ = Phase::method;
          n_ = 0;
          if (!is_tchar(c))
            phase_ = Phase::bad;
          else
            n_ = 1;
        }
        break;
      case Phase::leading_lf:
        // "\r" not followed by "\n" starts the request-line, and no method holds a CR.
        phase_ = c == '\n' ? Phase::leading : Phase::bad;
        break;
      case Phase::method:
        if (c == ' ' && n_ > 0) {
          phase_ = Phase::target;
          n_ = 0;
        } else if (is_tchar(c)) {
          ++n_;
        } else {
          phase_ = Phase::bad;
        }
        break;
      case Phase::target: {
        const auto u = static_cast<unsigned char>(c);
        if (c == ' ' && n_ > 0) {
          phase_ = Phase::version;
          n_ = 0;
        } else if (u <= 0x20 || u == 0x7f) {
          phase_ = Phase::bad;
        } else {
          ++n_;
        }
        break;
      }
      case Phase::version:
        if (n_ < kVersion.size()) {
          if (c != kVersion[n_]) phase_ = Phase::bad;
        } else if (n_ == kVersion.size()) {
          if (c != '0' && c != '1') phase_ = Phase::bad;
        } else if (c == '\r') {
          phase_ = Phase::version_lf;
        } else if (c == '\n') {
          phase_ = Phase::done;
        } else {
          phase_ = Phase::bad;
        }
        ++n_;
        break;
      case Phase::version_lf:
        phase_ = c == '\n' ? Phase::done : Phase::bad;
        break;
      case Phase::done:
        return true;
      case Phase::bad:
        return false;
    }
  }
  return phase_ != Phase::bad;
}

Parsed<RequestHead> parse_request_head(Bytes in) {
  return parse_head<RequestHead>(in, parse_request_line);
}

Parsed<ResponseHead> parse_response_head(Bytes in) {
  return parse_head<ResponseHead>(in, parse_status_line);
}

namespace {
void serialize_fields(const Headers& h, std::string& out) {
  for (auto& [k, v] : h.items) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "\r\n";
}
}  // namespace

void serialize(const RequestHead& h, std::string& out) {
  out += h.method;
  out += ' ';
  out += h.target;
  out += h.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  serialize_fields(h.headers, out);
}

void serialize(const ResponseHead& h, std::string& out) {
  out += h.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ";
  char code[4] = {static_cast<char>('0' + h.status / 100 % 10),
                  static_cast<char>('0' + h.status / 10 % 10),
                  static_cast<char>('0' + h.status % 10), ' '};
  out.append(code, 4);
  out += h.reason;
  out += "\r\n";
  serialize_fields(h.headers, out);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

std::optional<Address> parse_authority_form(std::string_view target) {
  // A bare IPv6 literal has several colons and no brackets: no port can be told apart.
  if (target.empty() || (target.front() != '[' && target.find(':') != target.rfind(':'))) {
    return std::nullopt;
  }
  auto a = Address::parse(target);
  if (!a || a->host.empty() || a->port == 0) return std::nullopt;
  return std::move(*a);
}

std::optional<AbsoluteUri> parse_absolute_uri(std::string_view t) {
  auto sep = t.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  AbsoluteUri u;
  u.scheme = std::string(t.substr(0, sep));
  for (auto& c : u.scheme) c = lower(c);
  std::uint16_t def = 0;
  if (u.scheme == "http")
    def = 80;
  else if (u.scheme == "https")
    def = 443;
  else
    return std::nullopt;
  auto rest = t.substr(sep + 3);
  auto slash = rest.find_first_of("/?#");
  auto authority = rest.substr(0, slash);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty()) return std::nullopt;
  if (authority.front() != '[' && authority.find(':') != authority.rfind(':')) return std::nullopt;
  auto a = Address::parse(authority, def);
  if (!a || a->host.empty() || a->port == 0) return std::nullopt;
  u.address = std::move(*a);
  u.authority = std::string(authority);
  std::string_view origin =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  origin = origin.substr(0, origin.find('#'));
  if (origin.empty() || origin.front() != '/') u.origin_form = "/";
  u.origin_form += origin;
  return u;
}

Result<BodyFraming> request_framing(const RequestHead& h) {
  auto len = content_length(h.headers);
  if (!len) return len.error();
  if (h.headers.contains("Transfer-Encoding")) {
    if (h.version_minor == 0 || len->has_value()) return make_error_code(errc::bad_request);
    auto c = transfer_codings(h.headers);
    if (!c.chunked_last || c.chunked_elsewhere) return make_error_code(errc::bad_request);
    return BodyFraming{BodyKind::chunked, 0};
  }
  if (len->has_value() && **len > 0) return BodyFraming{BodyKind::length, **len};
  return BodyFraming{BodyKind::none, 0};
}

Result<BodyFraming> response_framing(const ResponseHead& h, std::string_view method) {
  if (iequals(method, "HEAD") || h.status < 200 || h.status == 204 || h.status == 304) {
    return BodyFraming{BodyKind::none, 0};
  }
  if (iequals(method, "CONNECT") && h.status / 100 == 2) return BodyFraming{BodyKind::none, 0};
  if (h.headers.contains("Transfer-Encoding")) {
    // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3, item 3).
    auto c = transfer_codings(h.headers);
    if (h.version_minor == 1 && c.chunked_last && !c.chunked_elsewhere) {
      return BodyFraming{BodyKind::chunked, 0};
    }
    return BodyFraming{BodyKind::until_close, 0};
  }
  auto len = content_length(h.headers);
  if (!len) return len.error();
  if (!len->has_value()) return BodyFraming{BodyKind::until_close, 0};
  if (**len == 0) return BodyFraming{BodyKind::none, 0};
  return BodyFraming{BodyKind::length, **len};
}

std::size_t ChunkedScanner::feed(Bytes in, Bytes* data) {
  if (data) *data = {};
  std::size_t i = 0;
  auto fail = [&] {
    state_ = State::error;
    return i;
  };
  while (i < in.size()) {
    const char c = static_cast<char>(in[i]);
    switch (state_) {
      case State::size:
        if (const int digit = hex_value(c); digit >= 0) {
          if (++size_digits_ > 15) return fail();  // 2^60 bytes is enough for anyone
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(digit);
        } else if (size_digits_ > 0 && (c == ';' || c == ' ' || c == '\t')) {
          state_ = State::ext;
          line_len_ = 0;
        } else if (size_digits_ > 0 && c == '\r') {
          state_ = State::size_lf;
        } else {
          return fail();
        }
        ++i;
        break;
      case State::ext:  // chunk-ext (and BWS): skipped up to the CR, bounded
        if (++line_len_ > 4096) return fail();
        if (c == '\r')
          state_ = State::size_lf;
        else if (c == '\n')
          return fail();
        ++i;
        break;
      case State::size_lf:
        if (c != '\n') return fail();
        ++i;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? State::trailer_start : State::data;
        break;
      case State::data: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
        const std::size_t begin = i;
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::data_cr;
        if (data) {
          *data = in.subspan(begin, n);
          return i;
        }
        break;
      }
      case State::data_cr:
        if (c != '\r') return fail();
        ++i;
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (c != '\n') return fail();
        ++i;
        state_ = State::size;
        break;
      case State::trailer_start:  // a trailer field line, or the final CRLF
        if (c == '\r') {
          state_ = State::final_lf;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == ':') {
          return fail();
        } else {
          state_ = State::trailer;
          line_len_ = 1;
        }
        if (++trailer_bytes_ > kMaxHeadSize) return fail();
        ++i;
        break;
      case State::trailer:
        if (++line_len_ > 8192 || ++trailer_bytes_ > kMaxHeadSize) return fail();
        if (c == '\r')
          state_ = State::trailer_lf;
        else if (c == '\n' || c == '\0')
          return fail();
        ++i;
        break;
      case State::trailer_lf:
        if (c != '\n') return fail();
        ++i;
        state_ = State::trailer_start;
        break;
      case State::final_lf:
        if (c != '\n') return fail();
        ++i;
        state_ = State::done;
        return i;
      case State::done:
      case State::error:
        return i;
    }
  }
  return i;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<unsigned>(static_cast<unsigned char>(in[k]));
  };
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    unsigned v = byte(i) << 16;
    if (i + 1 < in.size()) v |= byte(i + 1) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  unsigned acc = 0;
  int bits = 0;
  std::size_t digits = 0;
  std::size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return std::nullopt;  // data after padding
    const int v = b64_value(c);
    if (v < 0) return std::nullopt;
    ++digits;
    acc = ((acc << 6) | static_cast<unsigned>(v)) & 0xFFFFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (digits % 4 == 1 || pad > 2 || (pad && (digits + pad) % 4 != 0)) return std::nullopt;
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

std::string basic_auth_value(const Credentials& c) {
  return "Basic " + base64_encode(c.username + ":" + c.password);
}

}  // namespace gost::http
