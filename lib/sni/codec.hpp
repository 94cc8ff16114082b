#pragma once
// Pure codecs of the sni module (no I/O): the TLS ClientHello fields GOST's sni handler and
// connector look at, the HTTP request head's Host, and GOST's encoding of the real host name
// carried next to a fronted one.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gost/core/codec.hpp"

namespace gost::sni {

// GOST's private ClientHello extension carrying the real server name when the sni connector
// replaced the SNI (go-gost/x connector/sni).
inline constexpr std::uint16_t kGostHostExtension = 0xFFFE;
// TLS record header length.
inline constexpr std::size_t kRecordHeaderSize = 5;

// The ClientHello of one TLS record, with the offsets needed to rewrite it.
struct ClientHello {
  std::string server_name;        // the SNI host_name ("" when absent)
  std::string gost_host;          // the name in extension 0xFFFE, when present and valid
  std::size_t record_size = 0;    // header + fragment
  std::size_t extensions_at = 0;  // offset of the extensions' 2-byte length (0: none)
  std::size_t sni_at = 0;         // offset of the server_name extension (0: none)
  std::size_t sni_size = 0;       // its size, 4-byte extension header included
  std::size_t gost_at = 0;        // the 0xFFFE extension (0: none)
  std::size_t gost_size = 0;
};

// True when b starts like a TLS handshake record: type 0x16, version 3.x (x <= 4). GOST
// checks 0x16 0x03 0x01 only; later record versions are accepted too. b.size() >= 3.
bool looks_like_tls(Bytes b) noexcept;

// Parses a TLS record holding a ClientHello (RFC 8446 §4.1.2, RFC 6066 §3):
//   record:      type(1)=0x16 | legacy_record_version(2) | length(2) | fragment
//   handshake:   msg_type(1)=0x01 | length(3) | body (must fit in this one record)
//   body:        legacy_version(2) | random(32) | session_id<0..32> |
//                cipher_suites<2..2^16-2> | compression_methods<1..2^8-1> |
//                [extensions<0..2^16-1>]
//   extension:   type(2) | extension_data<0..2^16-1>
//   server_name: server_name_list<1..2^16-1> of name_type(1) | HostName<1..2^16-1>
// need_more until the whole record is there; consumed = record_size.
Parsed<ClientHello> parse_client_hello(Bytes record);

// The record with its SNI replaced by `host` and the old name appended in extension 0xFFFE,
// as GOST's sni connector sends it (an earlier 0xFFFE is dropped). Lengths are fixed up. nullopt
// when the record has no SNI or the result would not fit in one record.
std::optional<std::vector<std::uint8_t>> rewrite_client_hello(Bytes record, const ClientHello& ch,
                                                              std::string_view host);

// The inverse, for the handler: the SNI set back to gost_host and the 0xFFFE extension
// removed, which gives back the ClientHello the client made byte for byte (TLS 1.3 hashes it
// into the handshake transcript, so the target must see exactly that). nullopt without a
// gost_host.
std::optional<std::vector<std::uint8_t>> restore_client_hello(Bytes record, const ClientHello& ch);

// GOST's encoding: base64url(crc32(name) big-endian | base64url(name)), without padding.
std::string encode_server_name(std::string_view name);
std::optional<std::string> decode_server_name(std::string_view s);

// The head of an HTTP/1 request, up to and including the empty line.
struct HttpHead {
  std::string host;         // the Host header, trimmed ("" when absent)
  std::string gost_target;  // the decoded Gost-Target header (set by GOST's sni connector)
  std::size_t host_at = 0, host_size = 0;      // the Host line, CRLF included (size 0: none)
  std::size_t target_at = 0, target_size = 0;  // the Gost-Target line (size 0: none)
};
// need_more until CRLF CRLF; error past max_size or on a line without ':' after the first.
Parsed<HttpHead> parse_http_head(Bytes b, std::size_t max_size = 64 * 1024);

// The head with `Host: host` and `Gost-Target: encode_server_name(old host)` (the connector).
std::vector<std::uint8_t> rewrite_http_head(Bytes head, const HttpHead& h, std::string_view host);
// The head with the Host line set back to the decoded Gost-Target and that line removed (the
// handler, so the target sees its own name).
std::vector<std::uint8_t> restore_http_head(Bytes head, const HttpHead& h);

}  // namespace gost::sni
