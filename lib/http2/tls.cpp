// TLS for the HTTP/2 transports (ALPN "h2").
#include "http2/common.hpp"

namespace gost::http2 {

Result<std::shared_ptr<TlsServer>, ConfigError> make_tls_server(const Metadata&) {
  return config_error("http2: TLS is not available in this build (use h2c, or grpc with insecure=true)");
}

Result<std::shared_ptr<TlsClient>, ConfigError> make_tls_client(const Metadata&) {
  return config_error("http2: TLS is not available in this build (use h2c, or grpc with insecure=true)");
}

}  // namespace gost::http2
