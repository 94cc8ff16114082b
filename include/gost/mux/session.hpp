#pragma once
// smux sessions (wire-compatible with xtaci/smux v1 and v2), as GOST uses them for mtcp, mtls,
// mws/mwss and for the reversed-role sessions of SOCKS5 MUX-BIND (0xF2) and relay BIND.
//
// A Session runs over one StreamPtr (TCP, TLS, WebSocket...) and carries many streams. The
// client side opens odd stream ids, the server side even ones; either side may open() and
// accept(), as in smux (GOST's BIND reverses the roles: the proxy server is the smux client).
//
// Threading: a Session and its streams are bound to the executor of the underlying stream and
// must only be used from it (the same rule as Stream). Create it with Session::client() /
// Session::server() from a coroutine or plain code running on that executor.
//
// Half-close: a stream's shutdown_write() sends FIN and the peer may go on writing (xtaci/smux
// peers cannot: their writes end at a FIN). smux has no reset, so a stream closed here before
// the peer's FIN answers data that still comes for it with a second FIN, and a stream that gets
// a second FIN fails its writes (broken_pipe): a relay then ends instead of pumping into a
// stream nobody reads. A second FIN is harmless to smux peers, which ignore FINs they have seen.
//
// Lifetime: the Session is shared (SessionPtr). Streams returned by open()/accept() keep the
// session state alive; close() on the session (or a dead transport, or a keepalive timeout)
// fails every stream: their pending reads complete with an error and later reads with
// errc::closed.

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "gost/core/error.hpp"
#include "gost/core/metadata.hpp"
#include "gost/core/stream.hpp"

namespace gost::mux {

// smux configuration; defaults are smux's DefaultConfig().
struct Options {
  int version = 1;                  // mux.version: 1 or 2 (2 adds window updates)
  bool keepalive_disabled = false;  // mux.keepaliveDisabled
  std::chrono::milliseconds keepalive_interval{10'000};  // mux.keepaliveInterval (NOP period)
  std::chrono::milliseconds keepalive_timeout{30'000};   // mux.keepaliveTimeout (no frame -> close)
  std::size_t max_frame_size = 32768;                // mux.maxFrameSize (payload bytes, <= 65535)
  std::size_t max_receive_buffer = 4 * 1024 * 1024;  // mux.maxReceiveBuffer (session-wide, v1)
  std::size_t max_stream_buffer = 65536;             // mux.maxStreamBuffer (per stream window, v2)
  std::size_t accept_backlog = 1024;                 // streams waiting for accept() (GOST: 1024)

  // Checks the values as smux's VerifyConfig does.
  std::error_code verify() const;
};

// Reads GOST's mux.* metadata keys over the defaults. Invalid values give a ConfigError that
// names the key.
Result<Options, ConfigError> options_from(const Metadata& md);

class Session;
using SessionPtr = std::shared_ptr<Session>;

class Session {
 public:
  virtual ~Session() = default;

  // Starts a session over conn. The session owns conn and starts its reader, writer and
  // keepalive coroutines on conn->get_executor(). opts must verify().
  static SessionPtr client(StreamPtr conn, Options opts = {});
  static SessionPtr server(StreamPtr conn, Options opts = {});

  // Opens a new stream (sends SYN). Fails with errc::closed once the session is closed, or
  // with errc::unsupported when the stream ids are exhausted (smux "go away").
  virtual asio::awaitable<Result<StreamPtr>> open() = 0;
  // Waits for a stream the peer opened. Fails with errc::closed once the session is closed.
  virtual asio::awaitable<Result<StreamPtr>> accept() = 0;
  // Closes the session and the transport; wakes every pending operation. Idempotent.
  virtual void close() noexcept = 0;
  virtual bool is_closed() const noexcept = 0;
  // Streams open right now (opened or accepted, not yet fully closed).
  virtual std::size_t num_streams() const noexcept = 0;

  virtual asio::any_io_executor get_executor() = 0;
  virtual Address local_address() const = 0;
  virtual Address remote_address() const = 0;
};

}  // namespace gost::mux
