#pragma once
// HTTP/1.x message heads, chunked framing and Basic credentials (RFC 9110, RFC 9112, RFC 7617).
// Pure: no I/O. Conventions in gost/core/codec.hpp.

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

struct Headers {
  std::vector<std::pair<std::string, std::string>> items;  // in order, names as received

  // First value of a header (case-insensitive name), or nullptr.
  const std::string* find(std::string_view name) const;
  void set(std::string_view name, std::string value);  // replaces every existing one
  void add(std::string name, std::string value) { items.emplace_back(std::move(name), std::move(value)); }
  void erase(std::string_view name);
  // True when a comma-separated header (Connection, Transfer-Encoding) lists token.
  bool has_token(std::string_view name, std::string_view token) const;
};

//   request-line = method SP request-target SP HTTP-version CRLF
//   *( field-line CRLF ) CRLF        field-line = field-name ":" OWS field-value OWS
struct RequestHead {
  std::string method;
  std::string target;
  int version_minor = 1;  // HTTP/1.<minor>
  Headers headers;
};

//   status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
struct ResponseHead {
  int version_minor = 1;
  int status = 0;
  std::string reason;
  Headers headers;
};

// Heads end at the first empty line; bytes after it belong to the body. A head longer than
// kMaxHeadSize is errc::message_too_large; bad syntax (obs-fold, bad names, control bytes,
// more than kMaxHeaders fields) is errc::bad_request.
Parsed<RequestHead> parse_request_head(Bytes in);
Parsed<ResponseHead> parse_response_head(Bytes in);

void serialize(const RequestHead& h, std::string& out);
void serialize(const ResponseHead& h, std::string& out);

// An absolute-form target "http://host[:port]/path?query" split up. nullopt when the target is
// not absolute-form or the authority is bad.
struct AbsoluteUri {
  std::string scheme;  // lower-case
  Address authority;   // port defaults to 80 (http) / 443 (https)
  std::string origin_form;  // "/path?query" ("/" when empty)
  bool has_port = false;
};
std::optional<AbsoluteUri> parse_absolute_uri(std::string_view target);

// How a message body is delimited (RFC 9112 §6.3).
enum class BodyKind { none, length, chunked, until_close };
struct BodyFraming {
  BodyKind kind = BodyKind::none;
  std::uint64_t length = 0;
};
// errc::bad_request for conflicting or malformed Content-Length / Transfer-Encoding.
Result<BodyFraming> request_framing(const RequestHead& h);
Result<BodyFraming> response_framing(const ResponseHead& h, std::string_view request_method);

// Finds where a chunked body ends, fed with the raw bytes as they arrive.
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF;  last-chunk = 1*("0") [ chunk-ext ] CRLF
class ChunkedScanner {
 public:
  // Consumes bytes of in that belong to the body; returns how many (all of in unless the body
  // ended inside it). done() then tells whether the body is complete; failed() whether it was
  // malformed.
  std::size_t feed(Bytes in);
  bool done() const noexcept { return state_ == State::done; }
  bool failed() const noexcept { return state_ == State::error; }

 private:
  enum class State { size, ext, size_lf, data, data_cr, data_lf, trailer_start, trailer, trailer_lf, final_lf, done, error };
  State state_ = State::size;
  std::uint64_t remaining_ = 0;
  int size_digits_ = 0;
  std::size_t line_len_ = 0;
};

// "Basic base64(user:pass)" -> credentials; nullopt when malformed.
std::optional<Credentials> parse_basic_auth(std::string_view header_value);
std::string basic_auth_value(const Credentials& c);
std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace gost::http
