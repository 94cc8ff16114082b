#pragma once
// Shadowsocks: handlers and connectors "ss" (TCP) and "ssu" (UDP), AEAD ciphers aes-128-gcm,
// aes-256-gcm, chacha20-ietf-poly1305 (SIP004) and the 2022 edition 2022-blake3-aes-128-gcm,
// 2022-blake3-aes-256-gcm (SIP022; with several users through identity headers), and
// GOST's "none" / "dummy" (no encryption).
//
// The method and password come from auth (username = method, password = password or, for 2022,
// base64 PSKs separated by ':'), as GOST takes them; `ss://base64(method:password)@host:port`
// (SIP002) is decoded by the CLI.
//   handler metadata: readTimeout (15s: the request must arrive within it; a stream that fails
//     authentication or replays a salt is read and discarded for this long, never answered),
//     users (2022: name -> base64 user PSK; the password is then the server's identity PSK),
//     hash ("host"), ssu: udp.bufferSize / udpBufferSize (65535).
//   2022 over UDP uses SIP022 packets as GOST builds them (session subkey from the session id's
//     little-endian bytes), with a 64-packet replay window per session.
//   connector metadata: none needed. "ssu" over a datagram transport (udp) sends one AEAD packet
//     per datagram; over a stream transport it is an ss stream carrying GOST UDP-tun frames.

#include "gost/core/registry.hpp"

namespace gost::ss {

Result<HandlerPtr, ConfigError> make_ss_handler(const HandlerArgs& args);
Result<HandlerPtr, ConfigError> make_ssu_handler(const HandlerArgs& args);
Result<ConnectorPtr, ConfigError> make_ss_connector(const ConnectorArgs& args);
Result<ConnectorPtr, ConfigError> make_ssu_connector(const ConnectorArgs& args);

void register_module(Registry& r);

}  // namespace gost::ss
