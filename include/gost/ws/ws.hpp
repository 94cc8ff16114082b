#pragma once
// WebSocket (RFC 6455) as a gost transport: the ws/wss listeners and dialers, and the
// handshakes for layering WebSocket over any Stream (mws/mwss put smux on top).
//
// The returned Stream carries the bytes of binary messages: every write_some sends one binary
// message (as GOST does); read_some returns message payload bytes in order, whatever the
// message boundaries (text messages are accepted too). Pings are answered, pongs ignored,
// shutdown_write() sends a close frame, a close frame from the peer reads as EOF.

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <map>
#include <string>

#include "gost/core/error.hpp"
#include "gost/core/metadata.hpp"
#include "gost/core/registry.hpp"
#include "gost/core/stream.hpp"

namespace gost::ws {

struct Options {
  std::string path = "/ws";                       // path / ws.path
  std::string host;                               // host / ws.host (client Host header; "" = node)
  std::map<std::string, std::string> header;      // header / ws.header: extra request (client) or
                                                  // response (server) headers
  std::size_t read_buffer_size = 4096;            // readBufferSize
  std::size_t write_buffer_size = 4096;           // writeBufferSize (largest frame written at once)
  std::chrono::milliseconds keepalive{};          // keepAlive + ttl (client ping period), 0 = off
  std::chrono::milliseconds handshake_timeout{};  // handshakeTimeout, 0 = none
};

// Reads GOST's ws keys (path, host, header, readBufferSize, writeBufferSize, keepAlive + ttl,
// handshakeTimeout), each also accepted with a "ws." prefix. enableCompression is ignored
// (permessage-deflate is never offered nor accepted).
Result<Options, ConfigError> options_from(const Metadata& md);

// Client side: sends the Upgrade request for opts.path with Host opts.host (or host_port when
// empty) and verifies the 101 answer. Takes ownership of s; on error s is closed.
asio::awaitable<Result<StreamPtr>> client_handshake(StreamPtr s, Options opts,
                                                    std::string host_port);
// Server side: reads the Upgrade request, checks method, path and the WebSocket headers, and
// answers 101 (or 400/404 and fails with errc::bad_request).
asio::awaitable<Result<StreamPtr>> server_handshake(StreamPtr s, Options opts);

// Registers the ws and wss listeners and dialers.
void register_module(Registry& r);

}  // namespace gost::ws
