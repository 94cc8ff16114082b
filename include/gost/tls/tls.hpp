#pragma once
// TLS as a Stream layer (OpenSSL or BoringSSL, through memory BIOs so it runs over any Stream:
// TCP, WebSocket, a mux substream, ...), and the options GOST reads from metadata.
//
// Contexts are built once per node / listener and are thread-safe; every handshake creates its
// own SSL object from them.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "gost/core/error.hpp"
#include "gost/core/metadata.hpp"
#include "gost/core/stream.hpp"

namespace gost::tls {

struct ClientOptions {
  // Verify the server's chain (against ca_file, or the system store) and its name.
  bool secure = false;
  // SNI and the name verified; empty: the host given to client_handshake().
  std::string server_name;
  std::string ca_file, cert_file, key_file;
  std::vector<std::string> alpn;
  // "VersionTLS12", "VersionTLS13" (Go's names); empty: TLS 1.2 minimum, library maximum.
  std::string min_version, max_version;
  // Bound on the whole handshake; 0 = no bound (a caller's own timeout applies).
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(15)};
};

struct ServerOptions {
  // No cert_file: cert.pem/key.pem from the working directory if both exist, else a generated
  // self-signed certificate (as GOST does; one per process unless the three keys below are set).
  std::string cert_file, key_file;
  // When set, clients must present a certificate signed by one of these CAs (mutual TLS).
  std::string ca_file;
  std::vector<std::string> alpn;
  std::string min_version, max_version;
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(15)};
  // The generated certificate: CN, O and validity (GOST's defaults: gost.run, GOST, 1 year).
  std::string common_name, organization;
  std::chrono::hours validity{0};
};

class ClientContext;  // opaque, built once per node, thread-safe
class ServerContext;  // opaque, built once per listener, thread-safe

Result<std::shared_ptr<ClientContext>> make_client_context(const ClientOptions&);
Result<std::shared_ptr<ServerContext>> make_server_context(const ServerOptions&);

// GOST's metadata keys: secure, serverName, caFile, certFile, keyFile (and the URL's
// ca/cert/key), alpn (list), handshakeTimeout, minVersion, maxVersion; for the server's
// generated certificate commonName, organization, validity. A `tls.` prefix is accepted too.
ClientOptions client_options_from(const Metadata& md);
ServerOptions server_options_from(const Metadata& md);

// Take ownership of s and return a Stream speaking TLS over it (s is closed on error). host is
// used for SNI and verification when the options' server_name is empty (an IP literal sends no
// SNI). The handshake is bounded by the context's handshake_timeout.
asio::awaitable<Result<StreamPtr>> client_handshake(StreamPtr s, std::shared_ptr<ClientContext> ctx,
                                                    std::string host);
asio::awaitable<Result<StreamPtr>> server_handshake(StreamPtr s, std::shared_ptr<ServerContext> ctx);

// The ALPN protocol the handshake selected; "" when none or when s is not a TLS stream.
std::string negotiated_alpn(const Stream& s);
// The SNI name a client sent (server side); "" when none or not a TLS stream.
std::string server_name(const Stream& s);

}  // namespace gost::tls
