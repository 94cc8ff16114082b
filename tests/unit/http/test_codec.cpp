// HTTP/1.x codec: heads, framing, chunked bodies, URIs and Basic credentials from byte vectors
// (examples from RFC 9110, RFC 9112, RFC 7617 and RFC 4648).
#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "http/codec.hpp"

using namespace gost;
using namespace gost::http;

namespace {

Bytes bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Parsed<RequestHead> req(std::string_view s) { return parse_request_head(bytes(s)); }
Parsed<ResponseHead> resp(std::string_view s) { return parse_response_head(bytes(s)); }

std::error_code bad() { return make_error_code(errc::bad_request); }
std::error_code too_large() { return make_error_code(errc::message_too_large); }

RequestHead req_with(std::string_view head) {
  auto p = req(head);
  REQUIRE(p.ok());
  return p.value;
}

ResponseHead resp_with(std::string_view head) {
  auto p = resp(head);
  REQUIRE(p.ok());
  return p.value;
}

}  // namespace

TEST_CASE("request head: RFC 9112 example", "[http][codec]") {
  const std::string head =
      "GET /hello.txt HTTP/1.1\r\n"
      "User-Agent: curl/7.64.1\r\n"
      "Host: www.example.com\r\n"
      "Accept-Language: en, mi\r\n"
      "\r\n";
  const std::string msg = head + "BODY";
  auto p = req(msg);
  REQUIRE(p.ok());
  CHECK(p.consumed == head.size());
  CHECK(p.value.method == "GET");
  CHECK(p.value.target == "/hello.txt");
  CHECK(p.value.version_minor == 1);
  REQUIRE(p.value.headers.items.size() == 3);
  CHECK(p.value.headers.items[0].first == "User-Agent");
  CHECK(p.value.headers.items[2].second == "en, mi");
  REQUIRE(p.value.headers.find("host"));
  CHECK(*p.value.headers.find("HOST") == "www.example.com");
  CHECK(p.value.headers.find("Accept") == nullptr);
  CHECK(p.value.headers.has_token("accept-language", "MI"));
  CHECK_FALSE(p.value.headers.has_token("accept-language", "e"));

  // Every strict prefix is a valid beginning.
  for (std::size_t n = 0; n < head.size(); ++n) {
    INFO("prefix " << n);
    CHECK(req(std::string_view(head).substr(0, n)).need_more());
  }
}

TEST_CASE("request head: forms of request-target and versions", "[http][codec]") {
  auto a = req_with("GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\n\r\n");
  CHECK(a.target == "http://www.example.org/pub/WWW/TheProject.html");
  auto c = req_with("CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com:80\r\n\r\n");
  CHECK(c.method == "CONNECT");
  CHECK(c.target == "www.example.com:80");
  auto o = req_with("OPTIONS * HTTP/1.0\r\n\r\n");
  CHECK(o.target == "*");
  CHECK(o.version_minor == 0);
}

TEST_CASE("request head: leniencies RFC 9112 allows", "[http][codec]") {
  // Bare LF line ends.
  auto p = req("GET / HTTP/1.1\nHost: a\n\nX");
  REQUIRE(p.ok());
  CHECK(p.consumed == 24);
  CHECK(*p.value.headers.find("host") == "a");
  // Empty lines before the request-line are skipped (and consumed).
  auto q = req("\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  REQUIRE(q.ok());
  CHECK(q.consumed == 22);
  CHECK(q.value.method == "GET");
  CHECK(req("\r\n\r\n").need_more());
  // OWS around values is not part of them; empty values are fine.
  auto r = req_with("GET / HTTP/1.1\r\nA:   x y \t\r\nB:\r\n\r\n");
  CHECK(*r.headers.find("a") == "x y");
  CHECK(r.headers.find("b")->empty());
}

TEST_CASE("request head: malformed input is bad_request", "[http][codec]") {
  const char* cases[] = {
      "GET\r\n\r\n",
      "GET /\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET / http/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET /a\x01 HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
      "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
      "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n",
  };
  for (auto c : cases) {
    INFO(c);
    auto p = req(c);
    REQUIRE(p.failed());
    CHECK(p.ec == bad());
  }
}

TEST_CASE("request head: header count and size limits", "[http][codec]") {
  std::string ok = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i < kMaxHeaders; ++i) ok += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(req(ok + "\r\n").ok());
  auto p = req(ok + "One-More: v\r\n\r\n");
  REQUIRE(p.failed());
  CHECK(p.ec == bad());

  // No end within the limit.
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(kMaxHeadSize, 'a');
  auto q = req(big);
  REQUIRE(q.failed());
  CHECK(q.ec == too_large());
  // An end, but past the limit.
  auto r = req(big + "\r\n\r\n");
  REQUIRE(r.failed());
  CHECK(r.ec == too_large());
  // Just below the limit is fine.
  std::string fits = "GET / HTTP/1.1\r\nX: ";
  fits += std::string(kMaxHeadSize - fits.size() - 4, 'a') + "\r\n\r\n";
  REQUIRE(fits.size() == kMaxHeadSize);
  CHECK(req(fits).ok());
}

TEST_CASE("request-line checker rejects early and never rejects a valid request", "[http][codec]") {
  auto check = [](std::string_view s) {
    RequestLineChecker c;
    bool ok = true;
    for (char ch : s) ok = c.feed(bytes(std::string_view(&ch, 1)));
    RequestLineChecker whole;
    CHECK(whole.feed(bytes(s)) == ok);
    return ok;
  };
  for (auto s :
       {"", "G", "GET", "GET ", "GET http://h/x", "GET http://h/x HTTP/1.", "GET / HTTP/1.1",
        "GET / HTTP/1.1\r", "GET / HTTP/1.0\n", "\r\n\nCONNECT h:1 HTTP/1.1\r\nX: \x01",
        "GET / HTTP/1.1\r\nanything \x00 goes here"}) {
    INFO(s);
    CHECK(check(s));
  }
  for (auto s : {" ", "\x16\x03\x01", "GET  /", "GET /\x01", "GET / HTTP/2", "GET / HTTP/1.2",
                 "GET / HTTP/1.1 ", "GET / HTTP/1.1\rX", "\rX", "G\tT / HTTP/1.1", "GET\r\n"}) {
    INFO(s);
    CHECK_FALSE(check(s));
    CHECK_FALSE(req(std::string(s) + "\r\n\r\n").ok());
  }
}

TEST_CASE("find_head_end scans incrementally", "[http][codec]") {
  const std::string_view m = "GET / HTTP/1.1\r\nA: b\r\n\r\nrest";
  CHECK(find_head_end(bytes(m)) == m.size() - 4);
  // Fed in pieces, searching only from where the previous call stopped.
  std::size_t from = 0;
  std::size_t found = kNotFound;
  for (std::size_t n = 1; n <= m.size() && found == kNotFound; ++n) {
    found = find_head_end(bytes(m.substr(0, n)), from);
    from = n;
  }
  CHECK(found == m.size() - 4);
  CHECK(find_head_end(bytes("\r\n\r\n")) == kNotFound);
  CHECK(find_head_end(bytes("\r\nGET / HTTP/1.1\n\n")) == 18);
}

TEST_CASE("response head: status lines", "[http][codec]") {
  auto a = resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  REQUIRE(a.ok());
  CHECK(a.consumed == 38);
  CHECK(a.value.status == 200);
  CHECK(a.value.reason == "OK");
  CHECK(a.value.version_minor == 1);
  auto b = resp_with("HTTP/1.0 404 Not Found\r\n\r\n");
  CHECK(b.status == 404);
  CHECK(b.version_minor == 0);
  CHECK(b.reason == "Not Found");
  auto c = resp_with("HTTP/1.1 204\r\n\r\n");
  CHECK(c.status == 204);
  CHECK(c.reason.empty());
  auto d = resp_with("HTTP/1.1 200 \r\n\r\n");
  CHECK(d.reason.empty());
  auto e = resp_with("HTTP/1.1 200 Connection established\r\nProxy-Agent: gost/3.0\r\n\r\n");
  CHECK(e.reason == "Connection established");

  for (auto s : {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n",
                 "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/2 200\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n",
                 "ICY 200 OK\r\n\r\n"}) {
    INFO(s);
    auto p = resp(s);
    REQUIRE(p.failed());
    CHECK(p.ec == bad());
  }
  CHECK(resp("HTTP/1.1 200 OK\r\n").need_more());
}

TEST_CASE("serialize heads and parse them back", "[http][codec]") {
  RequestHead r;
  r.method = "POST";
  r.target = "/submit?x=1";
  r.headers.add("Host", "example.com");
  r.headers.add("Content-Length", "5");
  std::string out;
  serialize(r, out);
  CHECK(out == "POST /submit?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\n");
  auto p = req(out);
  REQUIRE(p.ok());
  CHECK(p.consumed == out.size());
  CHECK(p.value.headers.items == r.headers.items);

  ResponseHead s;
  s.version_minor = 0;
  s.status = 407;
  s.reason = std::string(reason_phrase(407));
  s.headers.add("Proxy-Authenticate", "Basic realm=\"gost\"");
  std::string o2;
  serialize(s, o2);
  CHECK(o2 ==
        "HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic "
        "realm=\"gost\"\r\n\r\n");
  auto q = resp(o2);
  REQUIRE(q.ok());
  CHECK(q.value.status == 407);
}

TEST_CASE("headers: set, erase, tokens", "[http][codec]") {
  Headers h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("connection", "X-Foo");
  h.add("Host", "a");
  CHECK(h.has_token("CONNECTION", "upgrade"));
  CHECK(h.has_token("Connection", "x-foo"));
  CHECK_FALSE(h.has_token("Connection", "close"));
  h.set("HOST", "b");
  REQUIRE(h.items.size() == 3);
  CHECK(h.items.back().first == "HOST");
  CHECK(*h.find("host") == "b");
  h.erase("connection");
  CHECK(h.items.size() == 1);
}

TEST_CASE("request framing (RFC 9112 section 6)", "[http][codec]") {
  auto f = [](std::string_view head) { return request_framing(req_with(head)); };
  auto none = f("GET / HTTP/1.1\r\n\r\n");
  REQUIRE(none);
  CHECK(none->kind == BodyKind::none);
  auto zero = f("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(zero);
  CHECK(zero->kind == BodyKind::none);
  auto len = f("POST / HTTP/1.1\r\nContent-Length: 42\r\n\r\n");
  REQUIRE(len);
  CHECK(len->kind == BodyKind::length);
  CHECK(len->length == 42);
  auto same = f("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
  REQUIRE(same);
  CHECK(same->length == 5);
  auto ch = f("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  REQUIRE(ch);
  CHECK(ch->kind == BodyKind::chunked);
  auto ch2 = f("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n");
  REQUIRE(ch2);
  CHECK(ch2->kind == BodyKind::chunked);

  for (auto s : {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                 "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                 "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
                 "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
                 "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                 "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                 "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                 "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"}) {
    INFO(s);
    auto r = f(s);
    REQUIRE_FALSE(r);
    CHECK(r.error() == bad());
  }
}

TEST_CASE("response framing (RFC 9112 section 6.3)", "[http][codec]") {
  auto f = [](std::string_view head, std::string_view method = "GET") {
    return response_framing(resp_with(head), method);
  };
  CHECK(f("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD")->kind == BodyKind::none);
  CHECK(f("HTTP/1.1 100 Continue\r\n\r\n")->kind == BodyKind::none);
  CHECK(f("HTTP/1.1 101 Switching Protocols\r\n\r\n")->kind == BodyKind::none);
  CHECK(f("HTTP/1.1 204 No Content\r\n\r\n")->kind == BodyKind::none);
  CHECK(f("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")->kind == BodyKind::none);
  CHECK(f("HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT")->kind == BodyKind::none);
  CHECK(f("HTTP/1.1 200 OK\r\n\r\n")->kind == BodyKind::until_close);
  CHECK(f("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")->kind == BodyKind::none);
  auto l = f("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
  CHECK(l->kind == BodyKind::length);
  CHECK(l->length == 7);
  CHECK(f("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n")->kind ==
        BodyKind::chunked);
  CHECK(f("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")->kind == BodyKind::until_close);
  CHECK(f("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")->kind == BodyKind::until_close);
  auto b = f("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n");
  REQUIRE_FALSE(b);
  CHECK(b.error() == bad());
}

TEST_CASE("chunked scanner: RFC 9112 example", "[http][codec]") {
  const std::string body = "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
  const std::string next = "GET / HTTP/1.1\r\n";
  const std::string all = body + next;
  {
    ChunkedScanner sc;
    CHECK(sc.feed(bytes(all)) == body.size());
    CHECK(sc.done());
    CHECK_FALSE(sc.failed());
  }
  {
    // One byte at a time.
    ChunkedScanner sc;
    std::size_t used = 0;
    for (std::size_t i = 0; i < all.size() && !sc.done(); ++i)
      used += sc.feed(bytes(all).subspan(i, 1));
    CHECK(sc.done());
    CHECK(used == body.size());
  }
  {
    // De-chunking: the data runs, in order.
    ChunkedScanner sc;
    std::string data;
    Bytes in = bytes(all);
    while (!sc.done() && !sc.failed() && !in.empty()) {
      Bytes d;
      auto k = sc.feed(in, &d);
      data.append(reinterpret_cast<const char*>(d.data()), d.size());
      in = in.subspan(k);
    }
    CHECK(sc.done());
    CHECK(data == "Wikipedia in\r\n\r\nchunks.");
    CHECK(in.size() == next.size());
  }
}

TEST_CASE("chunked scanner: extensions, trailers, malformed bodies", "[http][codec]") {
  auto scan = [](std::string_view s) {
    ChunkedScanner sc;
    auto n = sc.feed(bytes(s));
    return std::make_tuple(n, sc.done(), sc.failed());
  };
  {
    const std::string_view s =
        "5;name=\"va;l\" ; x\r\nhello\r\n000\r\nExpires: never\r\nX: y\r\n\r\n";
    auto [n, done, failed] = scan(s);
    CHECK(done);
    CHECK_FALSE(failed);
    CHECK(n == s.size());
  }
  {
    auto [n, done, failed] = scan("A\r\n0123456789");
    CHECK(n == 13);
    CHECK_FALSE(done);
    CHECK_FALSE(failed);
  }
  for (auto s :
       {"g\r\n", "\r\n", "4\r\nWikiX\r\n", "4\nWiki\r\n0\r\n\r\n", "4\r\nWiki\n0\r\n\r\n",
        "1000000000000000\r\n", "0\r\n\n", "0\r\n folded\r\n\r\n", "0\r\nX: y\n\r\n", "-1\r\n"}) {
    INFO(s);
    auto [n, done, failed] = scan(s);
    CHECK(failed);
    CHECK_FALSE(done);
  }
  // A trailer section that never ends is bounded.
  ChunkedScanner sc;
  sc.feed(bytes("0\r\n"));
  std::string line = "X: " + std::string(100, 'a') + "\r\n";
  for (int i = 0; i < 1000 && !sc.failed(); ++i) sc.feed(bytes(line));
  CHECK(sc.failed());
}

TEST_CASE("absolute-form and authority-form targets", "[http][codec]") {
  auto u = parse_absolute_uri("http://www.example.org/pub/WWW/TheProject.html");
  REQUIRE(u);
  CHECK(u->scheme == "http");
  CHECK(u->address == Address("www.example.org", 80));
  CHECK(u->authority == "www.example.org");
  CHECK(u->origin_form == "/pub/WWW/TheProject.html");

  auto v = parse_absolute_uri("HTTP://user:pw@h.test:8080/p?q=1#frag");
  REQUIRE(v);
  CHECK(v->scheme == "http");
  CHECK(v->address == Address("h.test", 8080));
  CHECK(v->authority == "h.test:8080");
  CHECK(v->origin_form == "/p?q=1");

  CHECK(parse_absolute_uri("http://example.com")->origin_form == "/");
  CHECK(parse_absolute_uri("http://example.com?x")->origin_form == "/?x");
  auto six = parse_absolute_uri("http://[::1]:81/x");
  REQUIRE(six);
  CHECK(six->address == Address("::1", 81));
  CHECK(six->authority == "[::1]:81");
  CHECK(parse_absolute_uri("https://h/")->address.port == 443);

  for (auto s : {"/path", "*", "example.com:80", "ftp://h/", "http://", "http:///x", "http://[::1/",
                 "http://::1/", "http://:80/", "http://h:99999/", "http://h:0/", "http://h:x/"}) {
    INFO(s);
    CHECK_FALSE(parse_absolute_uri(s));
  }

  CHECK(parse_authority_form("www.example.com:80") == Address("www.example.com", 80));
  CHECK(parse_authority_form("[2001:db8::1]:443") == Address("2001:db8::1", 443));
  CHECK(parse_authority_form("10.0.0.1:1") == Address("10.0.0.1", 1));
  for (auto s : {"www.example.com", ":80", "h:0", "h:65536", "::1", "[::1]", "h:", "", "a/b:80"}) {
    INFO(s);
    CHECK_FALSE(parse_authority_form(s));
  }
}

TEST_CASE("base64 (RFC 4648 test vectors) and Basic credentials (RFC 7617)", "[http][codec]") {
  const std::pair<const char*, const char*> vec[] = {{"", ""},
                                                     {"f", "Zg=="},
                                                     {"fo", "Zm8="},
                                                     {"foo", "Zm9v"},
                                                     {"foob", "Zm9vYg=="},
                                                     {"fooba", "Zm9vYmE="},
                                                     {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : vec) {
    CHECK(base64_encode(plain) == enc);
    CHECK(base64_decode(enc) == std::string(plain));
  }
  CHECK(base64_decode("Zm9vYg") == std::string("foob"));  // padding is optional
  for (auto s : {"Zm9v!", "Z", "Zm9vY", "Zg=a", "Zg===", "Zm8=="}) {
    INFO(s);
    CHECK_FALSE(base64_decode(s));
  }

  auto c = parse_basic_auth("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  REQUIRE(c);
  CHECK(c->username == "Aladdin");
  CHECK(c->password == "open sesame");
  CHECK(basic_auth_value(*c) == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  CHECK(parse_basic_auth("basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ==  ")->username == "Aladdin");
  auto colon = parse_basic_auth(basic_auth_value({"u", "p:a:ss"}));
  REQUIRE(colon);
  CHECK(colon->username == "u");
  CHECK(colon->password == "p:a:ss");
  auto empty = parse_basic_auth(basic_auth_value({"", ""}));
  REQUIRE(empty);
  CHECK(empty->username.empty());
  for (auto s : {"", "Basic", "Basic ", "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Basic !!!notbase64",
                 "Basic "
                 "bm9jb2xvbg=="}) {  // "nocolon"
    INFO(s);
    CHECK_FALSE(parse_basic_auth(s));
  }
}
