// TLS contexts, the generated default certificate and GOST's metadata keys.
#include <climits>
#include <cstdio>
#include <mutex>
#include <string_view>

#include "tls/ssl.hpp"

namespace gost::tls {
namespace {
// The library's record buffers (about 17 KiB each way) are given back while empty, so an idle
// connection holds none (BoringSSL always does this; the flag is accepted there and ignored).
constexpr long kModes = SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS;

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int v) const override {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(static_cast<unsigned int>(v)), buf, sizeof buf);
    return buf;
  }
};

class VerifyCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls.verify"; }
  std::string message(int v) const override {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
  }
};

// GOST's metadata keys come as "certFile", "tls.certFile" or the URL's short
// "cert".
std::string get_first(const Metadata& md, std::initializer_list<std::string_view> keys) {
  for (auto k : keys) {
    if (auto v = md.get(k); v && !v->empty()) return *v;
  }
  return {};
}

std::vector<std::string> get_list(const Metadata& md, std::string_view a, std::string_view b) {
  if (md.contains(a)) return md.get_strings(a);
  return md.get_strings(b);
}

std::chrono::milliseconds handshake_timeout_from(const Metadata& md,
                                                 std::chrono::milliseconds def) {
  for (std::string_view k : {"tls.handshakeTimeout", "handshakeTimeout"}) {
    if (auto v = md.get(k); v && !v->empty()) {
      if (auto d = parse_duration(*v)) return *d;
    }
  }
  return def;
}

// "VersionTLS12", "tls1.2", "1.2" -> TLS1_2_VERSION; 0 for empty or unknown.
int tls_version(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c != '.' && c != '_' && c != ' ') s += static_cast<char>(std::tolower(c));
  }
  if (s.rfind("version", 0) == 0) s = s.substr(7);
  if (s.rfind("tls", 0) == 0) s = s.substr(3);
  if (s == "10") return TLS1_VERSION;
  if (s == "11") return TLS1_1_VERSION;
  if (s == "12") return TLS1_2_VERSION;
  if (s == "13") return TLS1_3_VERSION;
  return 0;
}

std::error_code bad_option() { return make_error_code(std::errc::invalid_argument); }

std::error_code apply_versions(SSL_CTX* ctx, const std::string& min, const std::string& max) {
  int lo = TLS1_2_VERSION;  // Go's default floor for both sides
  if (!min.empty()) {
    lo = tls_version(min);
    if (!lo) return bad_option();
  }
  if (!SSL_CTX_set_min_proto_version(ctx, static_cast<uint16_t>(lo)))
    return last_error(bad_option());
  if (!max.empty()) {
    int hi = tls_version(max);
    if (!hi) return bad_option();
    if (!SSL_CTX_set_max_proto_version(ctx, static_cast<uint16_t>(hi)))
      return last_error(bad_option());
  }
  return {};
}

// Length-prefixed ALPN wire format; empty entries and names over 255 bytes are
// dropped.
std::string alpn_wire(const std::vector<std::string>& protos) {
  std::string w;
  for (auto& p : protos) {
    if (p.empty() || p.size() > 255) continue;
    w += static_cast<char>(p.size());
    w += p;
  }
  return w;
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  auto* sc = static_cast<ServerContext*>(arg);
  if (sc->alpn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(
          &sel, outlen, reinterpret_cast<const unsigned char*>(sc->alpn_wire.data()),
          static_cast<unsigned int>(sc->alpn_wire.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    // No protocol in common: go on without ALPN rather than fail the handshake.
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

bool file_exists(const std::string& p) {
  if (FILE* f = std::fopen(p.c_str(), "rb")) {
    std::fclose(f);
    return true;
  }
  return false;
}

std::error_code load_cert_key(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    return last_error(make_error_code(std::errc::no_such_file_or_directory));
  const std::string& k = key.empty() ? cert : key;
  if (SSL_CTX_use_PrivateKey_file(ctx, k.c_str(), SSL_FILETYPE_PEM) != 1)
    return last_error(make_error_code(std::errc::no_such_file_or_directory));
  if (SSL_CTX_check_private_key(ctx) != 1) return last_error(bad_option());
  return {};
}

PkeyPtr generate_key() {
#if defined(OPENSSL_IS_BORINGSSL)
  EC_KEY* ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  if (!ec || !EC_KEY_generate_key(ec)) {
    EC_KEY_free(ec);
    return nullptr;
  }
  PkeyPtr k(EVP_PKEY_new());
  if (!k || !EVP_PKEY_assign_EC_KEY(k.get(), ec)) {
    EC_KEY_free(ec);
    return nullptr;
  }
  return k;
#else
  return PkeyPtr(EVP_EC_gen("P-256"));
#endif
}

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory c;
  return c;
}

const std::error_category& verify_category() noexcept {
  static const VerifyCategory c;
  return c;
}

std::error_code last_error(std::error_code fallback) {
  unsigned long e = ERR_get_error();
  unsigned long last = e;
  while (e != 0) {  // the first queued error is the root cause; drain the rest
    e = ERR_get_error();
  }
  if (last == 0) return fallback;
  return {static_cast<int>(static_cast<unsigned int>(last & 0x7fffffffUL)), tls_category()};
}

Result<KeyPair> generate_self_signed(const std::string& cn, int days, const std::string& org) {
  KeyPair kp;
  kp.key = generate_key();
  if (!kp.key) return last_error(make_error_code(std::errc::not_enough_memory));
  kp.cert.reset(X509_new());
  X509* x = kp.cert.get();
  if (!x) return last_error(make_error_code(std::errc::not_enough_memory));
  X509_set_version(x, 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return last_error(bad_option());
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  if (days >= 0) {
    X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(days) * 86400);
  } else {  // expired: not after is in the past
    X509_gmtime_adj(X509_getm_notBefore(x), static_cast<long>(days) * 86400 * 2);
    X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(days) * 86400);
  }
  X509_set_pubkey(x, kp.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  // subjectAltName: the name (a DNS name or an IP address), so name checks have
  // a SAN.
  std::string san = (cn.find_first_not_of("0123456789.") == std::string::npos ||
                     cn.find(':') != std::string::npos)
                        ? "IP:" + cn
                        : "DNS:" + cn;
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &v3, nid, value);
    if (!ext) return false;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return true;
  };
  if (!add_ext(NID_subject_alt_name, san.c_str()) ||
      !add_ext(NID_basic_constraints, "critical,CA:TRUE"))
    return last_error(bad_option());
  if (!X509_sign(x, kp.key.get(), EVP_sha256())) return last_error(bad_option());
  return kp;
}

Result<const KeyPair*> default_keypair() {
  static std::once_flag once;
  static Result<KeyPair> kp = make_error_code(errc::closed);
  std::call_once(once, [] { kp = generate_self_signed("gost.run", 365); });
  if (!kp) return kp.error();
  return &*kp;
}

Result<std::shared_ptr<ClientContext>> make_client_context(const ClientOptions& o) {
  auto c = std::make_shared<ClientContext>();
  c->opts = o;
  c->ctx.reset(SSL_CTX_new(TLS_method()));
  if (!c->ctx) return last_error(make_error_code(std::errc::not_enough_memory));
  SSL_CTX* ctx = c->ctx.get();
  SSL_CTX_set_mode(ctx, kModes);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (auto ec = apply_versions(ctx, o.min_version, o.max_version)) return ec;
  if (o.secure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!o.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1)
        return last_error(make_error_code(std::errc::no_such_file_or_directory));
    } else {
      SSL_CTX_set_default_verify_paths(ctx);
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!o.cert_file.empty()) {
    if (auto ec = load_cert_key(ctx, o.cert_file, o.key_file)) return ec;
  }
  if (auto w = alpn_wire(o.alpn); !w.empty()) {
    // Returns 0 on success (unlike most of the API).
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(w.data()),
                                static_cast<unsigned int>(w.size())) != 0)
      return last_error(bad_option());
  }
  ERR_clear_error();
  return c;
}

Result<std::shared_ptr<ServerContext>> make_server_context(const ServerOptions& o) {
  auto c = std::make_shared<ServerContext>();
  c->opts = o;
  c->alpn_wire = alpn_wire(o.alpn);
  c->ctx.reset(SSL_CTX_new(TLS_method()));
  if (!c->ctx) return last_error(make_error_code(std::errc::not_enough_memory));
  SSL_CTX* ctx = c->ctx.get();
  SSL_CTX_set_mode(ctx, kModes);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (auto ec = apply_versions(ctx, o.min_version, o.max_version)) return ec;
  if (!o.cert_file.empty()) {
    if (auto ec = load_cert_key(ctx, o.cert_file, o.key_file)) return ec;
  } else if (file_exists("cert.pem") && file_exists("key.pem")) {
    // As GOST: cert.pem / key.pem in the working directory are the default
    // certificate.
    if (auto ec = load_cert_key(ctx, "cert.pem", "key.pem")) return ec;
  } else if (!o.common_name.empty() || !o.organization.empty() || o.validity.count() > 0) {
    const int days =
        o.validity.count() > 0 ? static_cast<int>((o.validity.count() + 23) / 24) : 365;
    auto kp = generate_self_signed(o.common_name.empty() ? "gost.run" : o.common_name, days,
                                   o.organization.empty() ? "GOST" : o.organization);
    if (!kp) return kp.error();
    if (SSL_CTX_use_certificate(ctx, kp->cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, kp->key.get()) != 1)
      return last_error(bad_option());
  } else {
    auto kp = default_keypair();
    if (!kp) return kp.error();
    if (SSL_CTX_use_certificate(ctx, (*kp)->cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, (*kp)->key.get()) != 1)
      return last_error(bad_option());
  }
  if (!o.ca_file.empty()) {
    // Mutual TLS: clients must present a certificate signed by one of these
    // CAs.
    if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1)
      return last_error(make_error_code(std::errc::no_such_file_or_directory));
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    if (auto* names = SSL_load_client_CA_file(o.ca_file.c_str()))
      SSL_CTX_set_client_CA_list(ctx, names);
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, c.get());
  // Session resumption by tickets only: no server-side session cache to share
  // between threads.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  ERR_clear_error();
  return c;
}

ClientOptions client_options_from(const Metadata& md) {
  ClientOptions o;
  for (std::string_view k : {"tls.secure", "secure"}) {
    if (md.contains(k)) {
      o.secure = md.get_bool(k, false);
      break;
    }
  }
  o.server_name = get_first(md, {"tls.serverName", "serverName"});
  o.ca_file = get_first(md, {"tls.caFile", "caFile", "ca"});
  o.cert_file = get_first(md, {"tls.certFile", "certFile", "cert"});
  o.key_file = get_first(md, {"tls.keyFile", "keyFile", "key"});
  o.alpn = get_list(md, "tls.alpn", "alpn");
  o.min_version = get_first(md, {"tls.minVersion", "minVersion"});
  o.max_version = get_first(md, {"tls.maxVersion", "maxVersion"});
  o.handshake_timeout = handshake_timeout_from(md, o.handshake_timeout);
  return o;
}

ServerOptions server_options_from(const Metadata& md) {
  ServerOptions o;
  o.cert_file = get_first(md, {"tls.certFile", "certFile", "cert"});
  o.key_file = get_first(md, {"tls.keyFile", "keyFile", "key"});
  o.ca_file = get_first(md, {"tls.caFile", "caFile", "ca"});
  o.alpn = get_list(md, "tls.alpn", "alpn");
  o.min_version = get_first(md, {"tls.minVersion", "minVersion"});
  o.max_version = get_first(md, {"tls.maxVersion", "maxVersion"});
  o.handshake_timeout = handshake_timeout_from(md, o.handshake_timeout);
  o.common_name = get_first(md, {"tls.commonName", "commonName"});
  o.organization = get_first(md, {"tls.organization", "organization"});
  if (auto v = get_first(md, {"tls.validity", "validity"}); !v.empty()) {
    if (auto d = parse_duration(v)) o.validity = std::chrono::duration_cast<std::chrono::hours>(*d);
  }
  return o;
}

}  // namespace gost::tls
