// TLS for the HTTP/2 transports (h2, http2, grpc without insecure), from the tls module when it
// is built, with ALPN "h2" offered on both sides.
#include "http2/common.hpp"

#if defined(GOST_HTTP2_HAVE_TLS)
#include "gost/tls/tls.hpp"
#endif

namespace gost::http2 {

#if defined(GOST_HTTP2_HAVE_TLS)
namespace {

class TlsServerImpl final : public TlsServer {
 public:
  explicit TlsServerImpl(std::shared_ptr<tls::ServerContext> ctx) : ctx_(std::move(ctx)) {}
  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s) override {
    co_return co_await tls::server_handshake(std::move(s), ctx_);
  }

 private:
  std::shared_ptr<tls::ServerContext> ctx_;
};

class TlsClientImpl final : public TlsClient {
 public:
  explicit TlsClientImpl(std::shared_ptr<tls::ClientContext> ctx) : ctx_(std::move(ctx)) {}
  asio::awaitable<Result<StreamPtr>> handshake(StreamPtr s, std::string server_name) override {
    auto r = co_await tls::client_handshake(std::move(s), ctx_, std::move(server_name));
    if (!r) co_return r.error();
    // The server must speak HTTP/2: it chose "h2" (or, like some servers, no ALPN at all).
    auto alpn = tls::negotiated_alpn(**r);
    if (!alpn.empty() && alpn != "h2") {
      (*r)->close();
      co_return errc::unsupported;
    }
    co_return std::move(*r);
  }

 private:
  std::shared_ptr<tls::ClientContext> ctx_;
};

}  // namespace

Result<std::shared_ptr<TlsServer>, ConfigError> make_tls_server(const Metadata& md) {
  auto opts = tls::server_options_from(md);
  opts.alpn = {"h2"};
  auto ctx = tls::make_server_context(opts);
  if (!ctx)
    return config_error("http2: cannot build the TLS server context: " + ctx.error().message());
  return std::shared_ptr<TlsServer>(std::make_shared<TlsServerImpl>(std::move(*ctx)));
}

Result<std::shared_ptr<TlsClient>, ConfigError> make_tls_client(const Metadata& md) {
  auto opts = tls::client_options_from(md);
  opts.alpn = {"h2"};
  auto ctx = tls::make_client_context(opts);
  if (!ctx)
    return config_error("http2: cannot build the TLS client context: " + ctx.error().message());
  return std::shared_ptr<TlsClient>(std::make_shared<TlsClientImpl>(std::move(*ctx)));
}
#else
Result<std::shared_ptr<TlsServer>, ConfigError> make_tls_server(const Metadata&) {
  return config_error(
      "h2, http2 and grpc over TLS need the tls module, which this build lacks (use h2c, or grpc "
      "with grpcInsecure=true)");
}

Result<std::shared_ptr<TlsClient>, ConfigError> make_tls_client(const Metadata&) {
  return config_error(
      "h2, http2 and grpc over TLS need the tls module, which this build lacks (use h2c, or grpc "
      "with grpcInsecure=true)");
}
#endif

}  // namespace gost::http2
