// TLS stream over loopback TCP pairs: handshakes, data both ways, half-close,
// mutual TLS, verification failures, timeouts, TLS stacked over TLS.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "gost/core/stream.hpp"
#include "gost/tls/tls.hpp"
#include "tls/ssl.hpp"
#include "tls/stream.hpp"

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

namespace fs = std::filesystem;
using namespace gost;
using namespace std::chrono_literals;

namespace {

// A connected pair of TcpStreams on ctx.
std::pair<StreamPtr, StreamPtr> tcp_pair(asio::io_context& ctx) {
  asio::ip::tcp::acceptor acc(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket a(ctx), b(ctx);
  a.connect(acc.local_endpoint());
  acc.accept(b);
  return {std::make_unique<TcpStream>(std::move(a)), std::make_unique<TcpStream>(std::move(b))};
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/gost-tls-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Writes a generated self-signed certificate for cn (and its key) as PEM files.
void write_pair(const std::string& cn, int days, const std::string& cert_path,
                const std::string& key_path) {
  auto kp = tls::generate_self_signed(cn, days);
  REQUIRE(kp.ok());
  FILE* f = std::fopen(cert_path.c_str(), "wb");
  REQUIRE(f);
  PEM_write_X509(f, kp->cert.get());
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "wb");
  REQUIRE(f);
  PEM_write_PrivateKey(f, kp->key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

struct Outcome {
  std::optional<Result<StreamPtr>> client, server;
};

asio::awaitable<void> do_client(StreamPtr s, std::shared_ptr<tls::ClientContext> c,
                                std::string host, Outcome* out) {
  out->client = co_await tls::client_handshake(std::move(s), std::move(c), std::move(host));
}
asio::awaitable<void> do_server(StreamPtr s, std::shared_ptr<tls::ServerContext> c, Outcome* out) {
  out->server = co_await tls::server_handshake(std::move(s), std::move(c));
}

// Runs both handshakes over a TCP pair; the io_context is run until both
// finish.
Outcome handshake(asio::io_context& ctx, const tls::ClientOptions& co, const tls::ServerOptions& so,
                  const std::string& host = "gost.test") {
  auto cc = tls::make_client_context(co);
  auto sc = tls::make_server_context(so);
  REQUIRE(cc.ok());
  REQUIRE(sc.ok());
  auto [a, b] = tcp_pair(ctx);
  Outcome out;
  asio::co_spawn(ctx, do_client(std::move(a), *cc, host, &out), asio::detached);
  asio::co_spawn(ctx, do_server(std::move(b), *sc, &out), asio::detached);
  ctx.restart();
  ctx.run_for(20s);
  REQUIRE(out.client.has_value());
  REQUIRE(out.server.has_value());
  return out;
}

// Runs what is ready until nothing is: coroutines left are waiting for their peer.
void poll_until_idle(asio::io_context& ctx) {
  ctx.restart();
  for (int i = 0; i < 10000 && ctx.poll() > 0; ++i) {
  }
}
// Runs handlers while `more()` holds, for at most 1,000 waits of 100 ms.
template <class F>
void run_while(asio::io_context& ctx, F more) {
  ctx.restart();
  for (int i = 0; i < 1000 && more(); ++i) ctx.run_one_for(100ms);
}

template <class T>
asio::awaitable<void> store(asio::awaitable<T> aw, std::optional<T>* out) {
  out->emplace(co_await std::move(aw));
}

template <class T>
T run(asio::io_context& ctx, asio::awaitable<T> aw) {
  std::optional<T> r;
  asio::co_spawn(ctx, store(std::move(aw), &r), asio::detached);
  ctx.restart();
  ctx.run_for(20s);
  REQUIRE(r.has_value());
  return std::move(*r);
}

asio::awaitable<std::string> read_all(Stream* s) {
  std::string out;
  char buf[7000];
  for (;;) {
    auto r = co_await s->read_some(asio::buffer(buf));
    out.append(buf, r.bytes);
    if (r.ec) {
      if (r.ec != asio::error::eof) out += "<error:" + r.ec.message() + ">";
      co_return out;
    }
  }
}

asio::awaitable<std::error_code> write_then_shut(Stream* s, std::string data) {
  if (auto ec = co_await write_all(*s, asio::buffer(data))) co_return ec;
  co_return co_await s->shutdown_write();
}

// Client and server exchange `size` bytes each way at the same time, each
// half-closing after sending; returns what each side read.
asio::awaitable<std::pair<std::string, std::string>> exchange(Stream* c, Stream* s,
                                                              std::size_t size) {
  std::string up(size, 'u'), down(size, 'd');
  for (std::size_t i = 0; i < size; ++i) {
    up[i] = static_cast<char>('a' + i % 26);
    down[i] = static_cast<char>('A' + i % 23);
  }
  using namespace asio::experimental::awaitable_operators;
  auto [at_server, at_client, e1, e2] =
      co_await (read_all(s) && read_all(c) && write_then_shut(c, up) && write_then_shut(s, down));
  if (e1 || e2) co_return std::pair<std::string, std::string>{"write failed", ""};
  co_return std::pair<std::string, std::string>{at_server == up ? "ok" : "mismatch at server",
                                                at_client == down ? "ok" : "mismatch at client"};
}

}  // namespace

TEST_CASE("tls: self-signed server, insecure client, data both ways and half-close") {
  asio::io_context ctx;
  tls::ClientOptions co;
  tls::ServerOptions so;
  co.alpn = {"h2", "http/1.1"};
  so.alpn = {"http/1.1"};
  auto out = handshake(ctx, co, so);
  REQUIRE(out.client->ok());
  REQUIRE(out.server->ok());
  StreamPtr c = std::move(**out.client), s = std::move(**out.server);
  CHECK(tls::negotiated_alpn(*c) == "http/1.1");
  CHECK(tls::negotiated_alpn(*s) == "http/1.1");
  CHECK(tls::server_name(*s) == "gost.test");
  auto r = run(ctx, exchange(c.get(), s.get(), 300000));
  CHECK(r.first == "ok");
  CHECK(r.second == "ok");
}

TEST_CASE("tls: one direction half-closed, the other keeps flowing") {
  asio::io_context ctx;
  auto out = handshake(ctx, {}, {});
  REQUIRE(out.client->ok());
  REQUIRE(out.server->ok());
  StreamPtr c = std::move(**out.client), s = std::move(**out.server);
  // Client sends a request and half-closes; the server reads to EOF, then
  // answers.
  auto ec = run(ctx, write_then_shut(c.get(), "request"));
  REQUIRE(!ec);
  CHECK(run(ctx, read_all(s.get())) == "request");
  ec = run(ctx, write_then_shut(s.get(), "response"));
  REQUIRE(!ec);
  CHECK(run(ctx, read_all(c.get())) == "response");
}

TEST_CASE("tls: TLS stacked over TLS") {
  asio::io_context ctx;
  auto cc = tls::make_client_context({});
  auto sc = tls::make_server_context({});
  REQUIRE(cc.ok());
  REQUIRE(sc.ok());
  auto outer = handshake(ctx, {}, {});
  REQUIRE(outer.client->ok());
  REQUIRE(outer.server->ok());
  Outcome inner;
  asio::co_spawn(ctx, do_client(std::move(**outer.client), *cc, "inner.test", &inner),
                 asio::detached);
  asio::co_spawn(ctx, do_server(std::move(**outer.server), *sc, &inner), asio::detached);
  ctx.restart();
  ctx.run_for(20s);
  REQUIRE(inner.client.has_value());
  REQUIRE(inner.server.has_value());
  REQUIRE(inner.client->ok());
  REQUIRE(inner.server->ok());
  CHECK(tls::server_name(*inner.server->value()) == "inner.test");
  auto r = run(ctx, exchange(inner.client->value().get(), inner.server->value().get(), 100000));
  CHECK(r.first == "ok");
  CHECK(r.second == "ok");
}

TEST_CASE("tls: secure client verifies chain and name") {
  TempDir dir;
  write_pair("gost.test", 30, dir.file("srv.pem"), dir.file("srv.key"));
  write_pair("other.test", 30, dir.file("other.pem"), dir.file("other.key"));
  write_pair("gost.test", -1, dir.file("old.pem"), dir.file("old.key"));
  tls::ServerOptions so;
  so.cert_file = dir.file("srv.pem");
  so.key_file = dir.file("srv.key");
  tls::ClientOptions co;
  co.secure = true;
  co.ca_file = dir.file("srv.pem");

  SECTION("trusted and matching name") {
    asio::io_context ctx;
    auto out = handshake(ctx, co, so);
    CHECK(out.client->ok());
    CHECK(out.server->ok());
  }
  SECTION("serverName overrides the host") {
    asio::io_context ctx;
    co.server_name = "gost.test";
    auto out = handshake(ctx, co, so, "127.0.0.1");
    CHECK(out.client->ok());
  }
  SECTION("wrong name") {
    asio::io_context ctx;
    auto out = handshake(ctx, co, so, "wrong.test");
    REQUIRE(!out.client->ok());
    CHECK(out.client->error().category() == tls::verify_category());
    CHECK(!out.server->ok());
  }
  SECTION("wrong CA") {
    asio::io_context ctx;
    co.ca_file = dir.file("other.pem");
    auto out = handshake(ctx, co, so);
    REQUIRE(!out.client->ok());
    CHECK(out.client->error().category() == tls::verify_category());
  }
  SECTION("expired certificate") {
    asio::io_context ctx;
    so.cert_file = dir.file("old.pem");
    so.key_file = dir.file("old.key");
    co.ca_file = dir.file("old.pem");
    auto out = handshake(ctx, co, so);
    REQUIRE(!out.client->ok());
    CHECK(out.client->error() ==
          std::error_code(X509_V_ERR_CERT_HAS_EXPIRED, tls::verify_category()));
  }
  SECTION("insecure client accepts any of them") {
    asio::io_context ctx;
    co.secure = false;
    co.ca_file = dir.file("other.pem");
    auto out = handshake(ctx, co, so, "wrong.test");
    CHECK(out.client->ok());
  }
}

TEST_CASE("tls: mutual TLS") {
  TempDir dir;
  write_pair("client", 30, dir.file("client.pem"), dir.file("client.key"));
  write_pair("stranger", 30, dir.file("stranger.pem"), dir.file("stranger.key"));
  tls::ServerOptions so;
  so.ca_file = dir.file("client.pem");

  SECTION("client certificate accepted") {
    asio::io_context ctx;
    tls::ClientOptions co;
    co.cert_file = dir.file("client.pem");
    co.key_file = dir.file("client.key");
    auto out = handshake(ctx, co, so);
    REQUIRE(out.client->ok());
    REQUIRE(out.server->ok());
    auto r = run(ctx, exchange(out.client->value().get(), out.server->value().get(), 1000));
    CHECK(r.first == "ok");
    CHECK(r.second == "ok");
  }
  SECTION("no client certificate") {
    asio::io_context ctx;
    auto out = handshake(ctx, {}, so);
    CHECK(!out.server->ok());
    // In TLS 1.3 the client finishes first and learns of the refusal on its
    // first read.
    if (out.client->ok()) {
      auto r = run(ctx, read_all(out.client->value().get()));
      CHECK(r.find("<error:") != std::string::npos);
    }
  }
  SECTION("certificate from another CA") {
    asio::io_context ctx;
    tls::ClientOptions co;
    co.cert_file = dir.file("stranger.pem");
    co.key_file = dir.file("stranger.key");
    auto out = handshake(ctx, co, so);
    REQUIRE(!out.server->ok());
    CHECK(out.server->error().category() == tls::verify_category());
  }
}

TEST_CASE("tls: a peer that never answers times out") {
  asio::io_context ctx;
  tls::ClientOptions co;
  co.handshake_timeout = 200ms;
  auto cc = tls::make_client_context(co);
  REQUIRE(cc.ok());
  auto [a, b] = tcp_pair(ctx);
  auto start = std::chrono::steady_clock::now();
  auto r = run(ctx, tls::client_handshake(std::move(a), *cc, "gost.test"));
  REQUIRE(!r.ok());
  CHECK(r.error() == errc::timeout);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("tls: a peer that speaks something else fails the handshake") {
  asio::io_context ctx;
  auto sc = tls::make_server_context({});
  REQUIRE(sc.ok());
  auto [a, b] = tcp_pair(ctx);
  auto ec = run(ctx, write_then_shut(a.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(!ec);
  auto r = run(ctx, tls::server_handshake(std::move(b), *sc));
  CHECK(!r.ok());
}

TEST_CASE("tls: options from GOST metadata") {
  Metadata md;
  md.set("secure", "true");
  md.set("serverName", "example.com");
  md.set("ca", "/x/ca.pem");
  md.set("certFile", "/x/c.pem");
  md.set("keyFile", "/x/k.pem");
  md.set("handshakeTimeout", "3s");
  md.set("alpn", "h2,http/1.1");
  auto co = tls::client_options_from(md);
  CHECK(co.secure);
  CHECK(co.server_name == "example.com");
  CHECK(co.ca_file == "/x/ca.pem");
  CHECK(co.cert_file == "/x/c.pem");
  CHECK(co.key_file == "/x/k.pem");
  CHECK(co.handshake_timeout == 3s);
  CHECK(co.alpn == std::vector<std::string>{"h2", "http/1.1"});
  auto so = tls::server_options_from(md);
  CHECK(so.cert_file == "/x/c.pem");
  CHECK(so.ca_file == "/x/ca.pem");
  CHECK(!tls::client_options_from(Metadata{}).secure);
  // A missing file is an error when the context is built.
  tls::ServerOptions bad;
  bad.cert_file = "/nonexistent/cert.pem";
  CHECK(!tls::make_server_context(bad).ok());
  tls::ClientOptions badv;
  badv.min_version = "VersionTLS99";
  CHECK(!tls::make_client_context(badv).ok());
}

TEST_CASE("tls: generated certificate takes commonName and organization") {
  asio::io_context ctx;
  tls::ServerOptions so;
  so.common_name = "cn.example";
  so.organization = "Org Example";
  so.validity = std::chrono::hours(48);
  auto out = handshake(ctx, {}, so);
  REQUIRE(out.client->ok());
  REQUIRE(out.server->ok());
  auto* t = dynamic_cast<tls::TlsStream*>(out.client->value().get());
  REQUIRE(t);
  X509* peer = SSL_get_peer_certificate(t->ssl());
  REQUIRE(peer);
  char cn[128] = {}, org[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_organizationName, org, sizeof org);
  X509_free(peer);
  CHECK(std::string(cn) == "cn.example");
  CHECK(std::string(org) == "Org Example");
  Metadata md;
  md.set("commonName", "a.b");
  md.set("organization", "O");
  md.set("validity", "720h");
  auto o = tls::server_options_from(md);
  CHECK(o.common_name == "a.b");
  CHECK(o.organization == "O");
  CHECK(o.validity == std::chrono::hours(720));
}

namespace {
// Reads one byte or an error; what an idle reader waiting for its peer is doing.
asio::awaitable<void> read_one(Stream* s, std::error_code* out) {
  char b;
  auto r = co_await s->read_some(asio::buffer(&b, 1));
  *out = r.ec ? r.ec : make_error_code(std::errc::message_size);  // any byte is unexpected here
}
}  // namespace

TEST_CASE("tls: an idle stream holds no ciphertext buffer") {
  asio::io_context ctx;
  auto out = handshake(ctx, {}, {});
  REQUIRE(out.client->ok());
  REQUIRE(out.server->ok());
  StreamPtr c = std::move(**out.client), s = std::move(**out.server);
  // Traffic first, so both sides have taken (and given back) buffers.
  auto r = run(ctx, exchange(c.get(), s.get(), 100000));
  REQUIRE(r.first == "ok");
  REQUIRE(r.second == "ok");
  // Both ends half-closed their writing side in exchange(); a fresh pair waits idle instead.
  auto out2 = handshake(ctx, {}, {});
  REQUIRE(out2.client->ok());
  REQUIRE(out2.server->ok());
  StreamPtr c2 = std::move(**out2.client), s2 = std::move(**out2.server);
  std::error_code ec1, ec2;
  asio::co_spawn(ctx, read_one(c2.get(), &ec1), asio::detached);
  asio::co_spawn(ctx, read_one(s2.get(), &ec2), asio::detached);
  // Run until nothing is ready to run: both readers are then waiting for their peer.
  poll_until_idle(ctx);
  CHECK(!ec1);
  CHECK(!ec2);
  CHECK(tls::CipherBuf::outstanding() == 0);
  // The waits end cleanly when the streams close.
  c2->close();
  s2->close();
  run_while(ctx, [&] { return !(ec1 && ec2); });
  CHECK(ec1);
  CHECK(ec2);
  CHECK(tls::CipherBuf::outstanding() == 0);
}

namespace {
asio::awaitable<void> wait_ready(Stream* s, bool* ready, std::error_code* out) {
  *out = co_await s->wait_readable();
  *ready = true;
}
asio::awaitable<void> write_byte(Stream* s) { co_await write_all(*s, asio::buffer("x", 1)); }
asio::awaitable<void> write_str(Stream* s, std::string m) { co_await write_all(*s, asio::buffer(m)); }
// Reads n bytes with reads of at most `piece`.
[[maybe_unused]] asio::awaitable<std::string> read_n(Stream* s, std::size_t n, std::size_t piece) {
  std::string out;
  std::string buf(piece, '\0');
  while (out.size() < n) {
    auto r = co_await s->read_some(asio::buffer(buf.data(), std::min(piece, n - out.size())));
    if (r.ec) break;
    out.append(buf.data(), r.bytes);
  }
  co_return out;
}
}  // namespace

namespace {
// A TLS 1.3 client and server after their handshake, and the client's TlsStream.
struct Tls13Pair {
  StreamPtr client, server;
  tls::TlsStream* client_tls = nullptr;
};
Tls13Pair tls13_pair(asio::io_context& ctx) {
  auto out = handshake(ctx, {}, {});
  REQUIRE(out.client->ok());
  REQUIRE(out.server->ok());
  Tls13Pair p{std::move(**out.client), std::move(**out.server), nullptr};
  p.client_tls = dynamic_cast<tls::TlsStream*>(p.client.get());
  REQUIRE(p.client_tls);
  REQUIRE(SSL_version(p.client_tls->ssl()) == TLS1_3_VERSION);
  return p;
}
}  // namespace

TEST_CASE("tls: wait_readable waits for application bytes, not for session tickets") {
  // A TLS 1.3 server sends its session tickets after the handshake: records with no
  // application data. A relay waits for readability and then reads with a buffer of its own;
  // were the tickets reported as readable, that buffer would sit in a read waiting for the peer.
  asio::io_context ctx;
  auto [c, s, ct] = tls13_pair(ctx);
  bool ready = false;
  std::error_code ec;
  asio::co_spawn(ctx, wait_ready(c.get(), &ready, &ec), asio::detached);
  poll_until_idle(ctx);
#ifndef OPENSSL_IS_BORINGSSL
  CHECK(SSL_SESSION_has_ticket(SSL_get_session(ct->ssl())) == 1);  // the tickets were read
#endif
  CHECK_FALSE(ready);
  CHECK(tls::CipherBuf::outstanding() == 0);
  asio::co_spawn(ctx, write_byte(s.get()), asio::detached);
  run_while(ctx, [&] { return !ready; });
  CHECK(ready);
  CHECK(!ec);
  char b = 0;
  auto r = run(ctx, c->read_some(asio::buffer(&b, 1)));
  CHECK(r.bytes == 1);
  CHECK(b == 'x');
}

TEST_CASE("tls: the readiness callback comes for application bytes, not for session tickets") {
  // The callback form a relay uses to hold no coroutine frame while idle: same meaning as
  // wait_readable().
  asio::io_context ctx;
  auto [c, s, ct] = tls13_pair(ctx);
  REQUIRE(c->has_ready_callback());
  int calls = 0;
  std::error_code ec;
  c->async_wait_readable([&](std::error_code e) {
    ++calls;
    ec = e;
  });
  poll_until_idle(ctx);
#ifndef OPENSSL_IS_BORINGSSL
  CHECK(SSL_SESSION_has_ticket(SSL_get_session(ct->ssl())) == 1);  // the tickets were read
#endif
  CHECK(calls == 0);
  CHECK(tls::CipherBuf::outstanding() == 0);
  const std::string ab = "ab", cd = "cd";  // named: no temporaries passed to coroutines (GCC 12)
  asio::co_spawn(ctx, write_str(s.get(), ab), asio::detached);
  run_while(ctx, [&] { return calls == 0; });
  CHECK(calls == 1);
  CHECK(!ec);
  char b[2] = {};
  auto r = run(ctx, c->read_some(asio::buffer(b)));
  CHECK(r.bytes == 2);
  CHECK(std::string(b, 2) == "ab");

  // Bytes already decrypted or buffered: the callback is posted at once.
  asio::co_spawn(ctx, write_str(s.get(), cd), asio::detached);
  poll_until_idle(ctx);
  r = run(ctx, c->read_some(asio::buffer(b, 1)));
  CHECK(r.bytes == 1);
  calls = 0;
  c->async_wait_readable([&](std::error_code e) {
    ++calls;
    ec = e;
  });
  CHECK(calls == 0);  // never from inside the call
  poll_until_idle(ctx);
  CHECK(calls == 1);
  r = run(ctx, c->read_some(asio::buffer(b, 1)));
  CHECK(b[0] == 'd');

  // close() ends a pending wait with an error.
  calls = 0;
  c->async_wait_readable([&](std::error_code e) {
    ++calls;
    ec = e;
  });
  poll_until_idle(ctx);
  CHECK(calls == 0);
  c->close();
  run_while(ctx, [&] { return calls == 0; });
  CHECK(calls == 1);
  CHECK(ec);

  // A stream destroyed while its callback waits: the handler still runs once, with an error.
  auto out2 = handshake(ctx, {}, {});
  REQUIRE(out2.client->ok());
  StreamPtr c2 = std::move(**out2.client);
  calls = 0;
  ec = {};
  c2->async_wait_readable([&](std::error_code e) {
    ++calls;
    ec = e;
  });
  poll_until_idle(ctx);
  CHECK(calls == 0);
  c2.reset();
  run_while(ctx, [&] { return calls == 0; });
  CHECK(calls == 1);
  CHECK(ec);
}

#ifndef OPENSSL_IS_BORINGSSL
namespace {
// OpenSSL's heap, counted: what the library holds at a given moment.
std::atomic<long long> g_ossl_live{0};
constexpr std::size_t kHdr = 16;  // keeps the 16-byte alignment malloc gives
void* count_malloc(std::size_t n, const char*, int) {
  auto* p = static_cast<unsigned char*>(std::malloc(n + kHdr));
  if (!p) return nullptr;
  std::memcpy(p, &n, sizeof n);
  g_ossl_live += static_cast<long long>(n);
  return p + kHdr;
}
void* count_realloc(void* q, std::size_t n, const char* f, int l) {
  if (!q) return count_malloc(n, f, l);
  auto* p = static_cast<unsigned char*>(q) - kHdr;
  std::size_t old;
  std::memcpy(&old, p, sizeof old);
  auto* np = static_cast<unsigned char*>(std::realloc(p, n + kHdr));
  if (!np) return nullptr;
  std::memcpy(np, &n, sizeof n);
  g_ossl_live += static_cast<long long>(n) - static_cast<long long>(old);
  return np + kHdr;
}
void count_free(void* q, const char*, int) {
  if (!q) return;
  auto* p = static_cast<unsigned char*>(q) - kHdr;
  std::size_t n;
  std::memcpy(&n, p, sizeof n);
  g_ossl_live -= static_cast<long long>(n);
  std::free(p);
}
// Before the library's first allocation (static initialisation of this executable).
const bool g_ossl_counted = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1;
}  // namespace

TEST_CASE("tls: an idle stream leaves OpenSSL no record buffers") {
  // OpenSSL takes a read buffer of about 17 KiB when asked to read and keeps it while it waits
  // for the next record, even with SSL_MODE_RELEASE_BUFFERS: the stream hands it back before
  // it waits for its peer. Checked by asking the library to free its buffers once both ends
  // are idle: there must be (next to) nothing left to free.
  REQUIRE(g_ossl_counted);
  asio::io_context ctx;
  auto out = handshake(ctx, {}, {});
  REQUIRE(out.client->ok());
  REQUIRE(out.server->ok());
  StreamPtr c = std::move(**out.client), s = std::move(**out.server);
  auto* ct = dynamic_cast<tls::TlsStream*>(c.get());
  auto* st = dynamic_cast<tls::TlsStream*>(s.get());
  REQUIRE(ct);
  REQUIRE(st);
  // Some traffic both ways, read in pieces smaller than the records (the library then keeps its
  // buffer once the record is drained), then a reader waiting on each end.
  const std::string msg(6000, 'm');
  asio::co_spawn(ctx, write_str(s.get(), msg), asio::detached);
  asio::co_spawn(ctx, write_str(c.get(), msg), asio::detached);
  CHECK(run(ctx, read_n(c.get(), msg.size(), 4096)) == msg);
  CHECK(run(ctx, read_n(s.get(), msg.size(), 4096)) == msg);
  std::error_code ec1, ec2;
  asio::co_spawn(ctx, read_one(c.get(), &ec1), asio::detached);
  asio::co_spawn(ctx, read_one(s.get(), &ec2), asio::detached);
  poll_until_idle(ctx);
  const long long idle = g_ossl_live.load();
  SSL_free_buffers(ct->ssl());
  SSL_free_buffers(st->ssl());
  const long long freed = idle - g_ossl_live.load();
  CHECK(freed < 1024);
  CHECK(!ec1);
  CHECK(!ec2);
  c->close();
  s->close();
  run_while(ctx, [&] { return !(ec1 && ec2); });
}
#endif

TEST_CASE("tls: a server flight larger than the ciphertext buffer (a big certificate)") {
  // 2,000 subjectAltNames (replacing the generated one) make the certificate about 60 KiB: the
  // server's flight must be sent in several pieces, each after the buffer drained.
  auto kp = tls::generate_self_signed("gost.test", 30);
  REQUIRE(kp.ok());
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  REQUIRE(names);
  for (int i = 0; i < 2000; ++i) {
    std::string n = i == 0 ? std::string("gost.test") : "host-" + std::to_string(i) + ".alt.gost.test";
    GENERAL_NAME* g = GENERAL_NAME_new();
    ASN1_IA5STRING* v = ASN1_IA5STRING_new();
    REQUIRE((g && v));
    REQUIRE(ASN1_STRING_set(v, n.data(), static_cast<int>(n.size())) == 1);
    GENERAL_NAME_set0_value(g, GEN_DNS, v);
    REQUIRE(sk_GENERAL_NAME_push(names, g) > 0);
  }
  REQUIRE(X509_add1_ext_i2d(kp->cert.get(), NID_subject_alt_name, names, 0, X509V3_ADD_REPLACE) == 1);
  GENERAL_NAMES_free(names);
  REQUIRE(X509_sign(kp->cert.get(), kp->key.get(), EVP_sha256()) > 0);
  const int der = i2d_X509(kp->cert.get(), nullptr);
  CHECK(der > 3 * static_cast<int>(tls::CipherBuf::kSize) / 2);

  TempDir dir;
  FILE* f = std::fopen(dir.file("big.pem").c_str(), "wb");
  REQUIRE(f);
  PEM_write_X509(f, kp->cert.get());
  std::fclose(f);
  f = std::fopen(dir.file("big.key").c_str(), "wb");
  REQUIRE(f);
  PEM_write_PrivateKey(f, kp->key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  tls::ServerOptions so;
  so.cert_file = dir.file("big.pem");
  so.key_file = dir.file("big.key");
  tls::ClientOptions co;
  co.secure = true;  // the client checks the whole certificate arrived intact
  co.ca_file = dir.file("big.pem");

  for (const char* version : {"VersionTLS12", "VersionTLS13"}) {
    INFO(version);
    co.max_version = version;
    asio::io_context ctx;
    auto out = handshake(ctx, co, so);
    REQUIRE(out.client->ok());
    REQUIRE(out.server->ok());
    auto r = run(ctx, exchange(out.client->value().get(), out.server->value().get(), 50000));
    CHECK(r.first == "ok");
    CHECK(r.second == "ok");
  }
}
