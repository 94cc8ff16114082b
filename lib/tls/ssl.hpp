#pragma once
// Internal: OpenSSL / BoringSSL includes, RAII handles and the tls error
// category. The same source builds against OpenSSL 3 and BoringSSL
// (GOST_TLS_BORINGSSL).

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <system_error>

#include "gost/tls/tls.hpp"

namespace gost::tls {

struct SslCtxFree {
  void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const noexcept { SSL_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// Errors from the TLS library: the value is the packed ERR_get_error() code
// (its reason text is the message). Certificate verification failures use
// verify_category() with the X509_V_ERR_* value.
const std::error_category& tls_category() noexcept;
const std::error_category& verify_category() noexcept;

// The last error queued by the library (and clears the queue); `fallback` when
// none.
std::error_code last_error(std::error_code fallback);

class ClientContext {
 public:
  SslCtxPtr ctx;
  ClientOptions opts;
};

class ServerContext {
 public:
  SslCtxPtr ctx;
  ServerOptions opts;
  std::string alpn_wire;  // the server's ALPN list in wire format (length-prefixed)
};

// A key and a self-signed certificate generated once per process (thread-safe).
struct KeyPair {
  PkeyPtr key;
  X509Ptr cert;
};
Result<const KeyPair*> default_keypair();
// A fresh key and self-signed certificate for cn, valid from now-1h for `days`
// (negative days: already expired). Used by the default certificate and by
// tests.
Result<KeyPair> generate_self_signed(const std::string& cn, int days,
                                     const std::string& org = "GOST");

}  // namespace gost::tls
