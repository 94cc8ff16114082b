#pragma once
// HTTP/1.x message heads, chunked framing and Basic credentials (RFC 9110, RFC 9112, RFC 7617).
// Pure: no I/O. Conventions in gost/core/codec.hpp (heads serialize to std::string, the form
// the handler writes).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/auth.hpp"
#include "gost/core/codec.hpp"

namespace gost::http {

inline constexpr std::size_t kMaxHeadSize = 64 * 1024;
inline constexpr std::size_t kMaxHeaders = 100;
inline constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

bool iequals(std::string_view a, std::string_view b) noexcept;

// Header fields in the order received; names keep their case, lookups ignore it.
struct Headers {
  std::vector<std::pair<std::string, std::string>> items;

  // First value of a field, or nullptr.
  const std::string* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  // Replaces every existing field of that name by one at the end.
  void set(std::string_view name, std::string value);
  void add(std::string name, std::string value) {
    items.emplace_back(std::move(name), std::move(value));
  }
  void erase(std::string_view name);
  // True when a comma-separated list field (Connection, Transfer-Encoding, ...) in any of its
  // lines holds token (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const;
};

// Calls f(token) for each non-empty element of a comma-separated list, OWS trimmed.
template <class F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto part = list.substr(0, comma);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (!part.empty()) f(part);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// RFC 9112 §2.1, §3, §4, §5:
//   HTTP-message = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]
//   request-line = method SP request-target SP HTTP-version
//   status-line  = HTTP-version SP status-code SP [ reason-phrase ]
//   field-line   = field-name ":" OWS field-value OWS
//   HTTP-version = "HTTP/" DIGIT "." DIGIT
// Recipients also accept a bare LF as line end (§2.2); empty lines before a request-line are
// skipped (§2.2). Rejected (errc::bad_request): obs-fold, whitespace before ":", a field name
// that is not a token, control bytes in a value, a version other than HTTP/1.0 or HTTP/1.1,
// more than kMaxHeaders fields. A head longer than kMaxHeadSize is errc::message_too_large.
struct RequestHead {
  std::string method;
  std::string target;
  int version_minor = 1;  // HTTP/1.<minor>
  Headers headers;
};

struct ResponseHead {
  int version_minor = 1;
  int status = 0;
  std::string reason;
  Headers headers;
};

Parsed<RequestHead> parse_request_head(Bytes in);
Parsed<ResponseHead> parse_response_head(Bytes in);

// Where the head in `in` ends (just past the empty line), searching from `from` on (a caller
// that reads more calls again with from = previous size, so a slow client costs O(n) in all).
// kNotFound when there is no complete head yet. Leading empty lines do not end a head.
std::size_t find_head_end(Bytes in, std::size_t from = 0);

// Tells early that a request cannot be valid: fed with the bytes of a request as they arrive,
// it checks the request-line (method token, target without controls or spaces, HTTP/1.0 or
// HTTP/1.1) and turns bad at the first byte that cannot belong to one, so a client sending
// garbage without line ends need not be waited for. It never rejects what parse_request_head
// accepts; the field lines are left to parse_request_head.
class RequestLineChecker {
 public:
  // Checks the next bytes; false once the request-line is known to be bad.
  bool feed(Bytes in);
  bool bad() const noexcept { return phase_ == Phase::bad; }

 private:
  enum class Phase { leading, leading_lf, method, target, version, version_lf, done, bad };
  Phase phase_ = Phase::leading;
  std::size_t n_ = 0;  // bytes of the current part
};

void serialize(const RequestHead& h, std::string& out);
void serialize(const ResponseHead& h, std::string& out);

// The standard reason phrase of a status code ("" when unknown).
std::string_view reason_phrase(int status);

// authority-form (CONNECT): host ":" port, port 1..65535, IPv6 in brackets.
std::optional<Address> parse_authority_form(std::string_view target);

// absolute-form: "http://[userinfo@]host[:port][/path][?query]" split up.
struct AbsoluteUri {
  std::string scheme;       // lower-case
  Address address;          // port defaults to 80 (http) / 443 (https)
  std::string authority;    // "host[:port]" as written, without userinfo (the new Host)
  std::string origin_form;  // "/path?query" ("/" when empty; fragment dropped)
};
// nullopt when the target is not absolute-form or its authority is bad.
std::optional<AbsoluteUri> parse_absolute_uri(std::string_view target);

// How a message body is delimited (RFC 9112 §6.3).
enum class BodyKind { none, length, chunked, until_close };
struct BodyFraming {
  BodyKind kind = BodyKind::none;
  std::uint64_t length = 0;
};
// Requests: Transfer-Encoding whose final coding is chunked, or Content-Length, or no body.
// errc::bad_request for any other Transfer-Encoding, Transfer-Encoding together with
// Content-Length (a smuggling vector), Transfer-Encoding in HTTP/1.0, or a bad/conflicting
// Content-Length.
Result<BodyFraming> request_framing(const RequestHead& h);
// Responses: none for HEAD, 1xx, 204, 304 and 2xx to CONNECT; chunked when the final coding
// is chunked; any other Transfer-Encoding or no length at all is until_close; a bad
// Content-Length is errc::bad_request.
Result<BodyFraming> response_framing(const ResponseHead& h, std::string_view request_method);

// Finds where a chunked body ends, fed with the raw bytes as they arrive.
//   chunked-body   = *chunk last-chunk trailer-section CRLF
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size     = 1*HEXDIG
//   last-chunk     = 1*("0") [ chunk-ext ] CRLF
//   trailer-section = *( field-line CRLF )
// Line ends must be CRLF here (the bytes are passed on verbatim, and a lenient proxy in front
// of a strict origin is how requests get smuggled).
class ChunkedScanner {
 public:
  // Consumes the bytes of `in` that belong to the body and returns how many: all of `in`
  // unless the body ended (done()) or turned out malformed (failed()) inside it.
  // With `data`, it also stops right after each run of chunk-data and points *data at that
  // run (a subspan of in), so a caller can de-chunk; *data is empty when it stopped for
  // another reason.
  std::size_t feed(Bytes in, Bytes* data = nullptr);
  bool done() const noexcept { return state_ == State::done; }
  bool failed() const noexcept { return state_ == State::error; }

 private:
  enum class State {
    size,
    ext,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer_start,
    trailer,
    trailer_lf,
    final_lf,
    done,
    error
  };
  State state_ = State::size;
  std::uint64_t remaining_ = 0;
  int size_digits_ = 0;
  std::size_t line_len_ = 0;
  std::size_t trailer_bytes_ = 0;
};

// "Basic base64(user:pass)" -> credentials; nullopt when malformed (RFC 7617).
std::optional<Credentials> parse_basic_auth(std::string_view header_value);
std::string basic_auth_value(const Credentials& c);
std::string base64_encode(std::string_view in);
// Standard alphabet; padding optional. nullopt on any other byte.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace gost::http
