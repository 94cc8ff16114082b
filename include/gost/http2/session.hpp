#pragma once
// HTTP/2 sessions (nghttp2) over any Stream, as GOST's h2/h2c, http2 and grpc transports use them.
//
// A Session runs over one StreamPtr (TCP, TLS, ...) and carries many request/response
// exchanges. Each exchange is exposed as a Stream (Exchange): reads return the peer's DATA,
// writes send DATA, shutdown_write() ends our side (END_STREAM, or trailers when set).
//
// Flow control follows consumption: the window a stream (and the connection) advertises is
// only given back when the application reads the bytes, so a slow reader stops its sender and
// a stream never buffers more than Options::stream_window received bytes, nor more than
// Options::write_buffer bytes waiting to be sent (write_some() waits for room).
//
// Threading: a Session and its exchanges are bound to the executor of the underlying stream
// and must only be used from it (the same rule as Stream).
//
// Lifetime: the Session is shared (SessionPtr); its reader and writer coroutines keep it alive
// while the connection is up. Exchanges keep the session alive too. close() on the session (or
// a dead transport, or a GOAWAY/protocol error) fails every exchange: pending reads complete
// with an error. Closing an exchange that has not finished both ways resets it (RST_STREAM
// CANCEL).

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gost/core/error.hpp"
#include "gost/core/stream.hpp"

namespace gost::http2 {

struct Header {
  std::string name;  // lower case on the wire; pseudo-headers start with ':'
  std::string value;
};
using Headers = std::vector<Header>;

// The value of the first header called `name` (compared case-insensitively), or nullptr.
const std::string* find_header(const Headers& h, std::string_view name) noexcept;

struct Options {
  std::uint32_t max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS we advertise
  std::uint32_t stream_window = 256 * 1024;    // per-stream receive window (max bytes buffered)
  std::uint32_t connection_window = 4 * 1024 * 1024;  // connection receive window
  std::size_t write_buffer = 64 * 1024;      // per-stream bytes write_some() may hold unsent
  std::size_t accept_backlog = 128;          // server: requests waiting for accept()
  std::size_t max_header_bytes = 64 * 1024;  // a header block larger than this resets the stream
  bool close_when_idle = false;  // end the session (GOAWAY) once its last exchange has closed
  // Health check: after keepalive_interval without any frame from the peer a PING is sent; when
  // nothing arrives for keepalive_interval + keepalive_timeout the session is closed
  // (errc::timeout). 0 = off.
  std::chrono::milliseconds keepalive_interval{0};
  std::chrono::milliseconds keepalive_timeout{30'000};
};

// One request/response exchange used as a byte stream.
class Exchange : public Stream {
 public:
  virtual std::int32_t id() const noexcept = 0;
  // Server: the request's headers (with pseudo-headers). Client: the headers we sent.
  virtual const Headers& request_headers() const noexcept = 0;
  // Client: the final response's headers. Server: what respond() sent.
  virtual const Headers& response_headers() const noexcept = 0;
  // The response :status (client), or what respond() sent (server); 0 before that.
  virtual int status() const noexcept = 0;
  // Trailers the peer sent (complete once read_some() has returned eof).
  virtual const Headers& trailers() const noexcept = 0;
  // Server: sends the response HEADERS (":status" is added first). With end_stream the response
  // has no body and no trailers. Once only; errc::unsupported on a client exchange.
  virtual std::error_code respond(int status, Headers headers, bool end_stream) = 0;
  // Trailers to send at shutdown_write() instead of a bare END_STREAM (gRPC's grpc-status).
  virtual void set_trailers(Headers trailers) = 0;
  // Client: completes when the final response HEADERS have arrived (status() is then set), or
  // with an error when the stream or session ended first.
  virtual asio::awaitable<std::error_code> wait_response() = 0;
  // Resets the stream now with the given HTTP/2 error code (RST_STREAM). Idempotent.
  virtual void reset(std::uint32_t error_code) noexcept = 0;
};
using ExchangePtr = std::unique_ptr<Exchange>;

class Session;
using SessionPtr = std::shared_ptr<Session>;

class Session {
 public:
  virtual ~Session() = default;

  // Starts a session over conn, which it owns; its reader and writer coroutines run on
  // conn->get_executor(). Call from that executor. The client sends the connection preface.
  static Result<SessionPtr> client(StreamPtr conn, Options opts = {});
  static Result<SessionPtr> server(StreamPtr conn, Options opts = {});
  // Server, after an HTTP/1.1 request with "Upgrade: h2c" was answered with 101 (RFC 7540
  // 3.2): settings is the base64url-decoded HTTP2-Settings value, request the HTTP/1.1 request
  // as HTTP/2 headers; accept() returns it first, as stream 1 with its body already ended.
  // The client's connection preface must still follow on conn.
  static Result<SessionPtr> server_upgrade(StreamPtr conn, Options opts, std::string settings,
                                           Headers request);

  // Client: sends a request (pseudo-headers first: :method, :scheme, :authority, :path; CONNECT
  // has only :method and :authority). Unless end_stream, the request body stays open: writes to
  // the exchange are its body. Completes when the final response HEADERS arrive, whatever the
  // status (check status()). errc::closed once the session is closed; errc::unsupported on a
  // server session.
  virtual asio::awaitable<Result<ExchangePtr>> request(Headers headers, bool end_stream) = 0;
  // Client: the same, but returns as soon as the request is queued (a gRPC server may send its
  // response headers only with its first message). Use Exchange::wait_response() for them.
  virtual Result<ExchangePtr> open(Headers headers, bool end_stream) = 0;
  // Server: waits for the next request whose HEADERS are complete. The caller must respond().
  // errc::closed once the session is closed. Requests beyond accept_backlog are refused
  // (RST_STREAM REFUSED_STREAM).
  virtual asio::awaitable<Result<ExchangePtr>> accept() = 0;

  // Closes the session and the transport at once; wakes every pending operation. Idempotent.
  virtual void close() noexcept = 0;
  // Sends GOAWAY and closes once the frames already queued are written.
  virtual void shutdown() noexcept = 0;
  virtual bool is_closed() const noexcept = 0;
  // False once a GOAWAY was sent or received (the streams already open go on) or the session
  // is closed: new requests need another session.
  virtual bool can_open() const noexcept = 0;
  // Exchanges open right now.
  virtual std::size_t num_streams() const noexcept = 0;
  // Why the session ended (empty while it runs).
  virtual std::error_code error() const noexcept = 0;

  virtual asio::any_io_executor get_executor() = 0;
  virtual Address local_address() const = 0;
  virtual Address remote_address() const = 0;
};

}  // namespace gost::http2
