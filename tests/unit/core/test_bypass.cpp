// Address matchers, bypass (whitelist, network scope, groups) and admission.
#include <catch2/catch.hpp>

#include "gost/core/bypass.hpp"

using gost::AddressMatcher;
using gost::BypassPtr;

namespace {

AddressMatcher compile(std::vector<std::string> p) {
  auto m = AddressMatcher::compile(p);
  REQUIRE(m);
  return std::move(*m);
}

BypassPtr bypass(std::vector<std::string> p, bool whitelist = false, std::string network = {}) {
  auto b = gost::make_bypass(p, whitelist, std::move(network));
  REQUIRE(b);
  return *b;
}

gost::AdmissionPtr admission(std::vector<std::string> p, bool whitelist = false) {
  auto a = gost::make_admission(p, whitelist);
  REQUIRE(a);
  return *a;
}

}  // namespace

TEST_CASE("matcher: CIDR v4 and v6, any port", "[bypass][matcher]") {
  auto m = compile({"10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32", "172.16.5.9/12"});
  CHECK(m.matches_addr("10.1.2.3"));
  CHECK(m.matches_addr("10.255.255.255:443"));
  CHECK_FALSE(m.matches_addr("11.0.0.1"));
  CHECK(m.matches_addr("192.168.1.7:1"));
  CHECK_FALSE(m.matches_addr("192.168.1.8"));
  CHECK(m.matches_addr("[2001:db8:ffff::1]:80"));
  CHECK(m.matches_addr("2001:db8::5"));
  CHECK_FALSE(m.matches_addr("2001:db9::1"));
  CHECK(m.matches_addr("172.31.0.1"));  // host bits in the pattern are ignored
  CHECK_FALSE(m.matches_addr("172.32.0.1"));
  // IPv4-mapped IPv6 compares as IPv4.
  CHECK(m.matches_addr("[::ffff:10.9.9.9]:80"));
  // Names are never IPs.
  CHECK_FALSE(m.matches_addr("10.example.com"));
  auto all = compile({"0.0.0.0/0", "::/0"});
  CHECK(all.matches_addr("8.8.8.8"));
  CHECK(all.matches_addr("[fe80::1]:1"));
  CHECK_FALSE(all.matches_addr("localhost"));
}

TEST_CASE("matcher: IP and IP range match any port", "[bypass][matcher]") {
  auto m = compile({"1.1.1.1-1.1.1.9", "8.8.8.8", "::1", "fd00::10-fd00::20", "[fe80::1]"});
  CHECK(m.matches_addr("1.1.1.1"));
  CHECK(m.matches_addr("1.1.1.5:53"));
  CHECK(m.matches_addr("1.1.1.9"));
  CHECK_FALSE(m.matches_addr("1.1.1.10"));
  CHECK_FALSE(m.matches_addr("1.1.0.255"));
  CHECK(m.matches_addr("8.8.8.8:53"));
  CHECK(m.matches_addr("8.8.8.8"));
  CHECK_FALSE(m.matches_addr("8.8.4.4"));
  CHECK(m.matches_addr("[::1]:53"));
  CHECK(m.matches_addr("::1"));
  CHECK(m.matches_addr("[0:0::1]:1"));  // the same IPv6 address, spelled differently
  CHECK(m.matches_addr("[fd00::15]:80"));
  CHECK_FALSE(m.matches_addr("[fd00::21]:80"));
  CHECK(m.matches_addr("[fe80::1]:22"));
  CHECK_FALSE(m.matches_addr("[::2]:53"));
}

TEST_CASE("matcher: exact host and IP with ports and port ranges", "[bypass][matcher]") {
  auto m = compile(
      {"example.com", "x.com:80", "y.com:8000-9000", "[::1]:53", "10.0.0.1:22", "z.com:0-65535"});
  CHECK(m.matches_addr("example.com"));
  CHECK(m.matches_addr("example.com:443"));
  CHECK(m.matches_addr("EXAMPLE.Com:1"));          // case-insensitive
  CHECK(m.matches_addr("example.com.:80"));        // root dot
  CHECK_FALSE(m.matches_addr("www.example.com"));  // no leading dot: the name only
  CHECK_FALSE(m.matches_addr("example.org"));
  CHECK(m.matches_addr("x.com:80"));
  CHECK_FALSE(m.matches_addr("x.com:81"));
  CHECK_FALSE(m.matches_addr("x.com"));  // no port = port 0
  CHECK(m.matches_addr("y.com:8000"));
  CHECK(m.matches_addr("y.com:8500"));
  CHECK(m.matches_addr("y.com:9000"));
  CHECK_FALSE(m.matches_addr("y.com:7999"));
  CHECK_FALSE(m.matches_addr("y.com:9001"));
  CHECK(m.matches_addr("[::1]:53"));
  CHECK_FALSE(m.matches_addr("[::1]:54"));
  CHECK(m.matches_addr("10.0.0.1:22"));
  CHECK_FALSE(m.matches_addr("10.0.0.1:23"));
  CHECK_FALSE(m.matches_addr("10.0.0.1"));
  CHECK(m.matches_addr("z.com"));  // as GOST: a missing port is port 0
  CHECK(m.matches_addr("z.com:65535"));
  // matches() takes the parts directly.
  CHECK(m.matches("X.COM", 80));
  CHECK_FALSE(m.matches("x.com", 0));
  CHECK(m.matches("::1", 53));
  CHECK(m.matches("[::1]", 53));
  CHECK_FALSE(m.matches("", 80));
}

TEST_CASE("matcher: .domain covers the domain and its subdomains", "[bypass][matcher]") {
  auto m = compile({".example.com", ".Corp.Internal:443"});
  CHECK(m.matches_addr("example.com"));
  CHECK(m.matches_addr("www.example.com:80"));
  CHECK(m.matches_addr("a.b.c.EXAMPLE.com"));
  CHECK_FALSE(m.matches_addr("badexample.com"));
  CHECK_FALSE(m.matches_addr("example.com.evil.org"));
  CHECK_FALSE(m.matches_addr("com"));
  CHECK(m.matches_addr("git.corp.internal:443"));
  CHECK(m.matches_addr("corp.internal:443"));
  CHECK_FALSE(m.matches_addr("git.corp.internal:80"));
}

TEST_CASE("matcher: globs with ports", "[bypass][matcher]") {
  auto m = compile({"*.example.com", "*.api.io:443", "img?.cdn.net", "*.svc:8000-9000", "192.168.*",
                    "host[0-9]*.lan", "node[!0-9]*.lan", "{a,b}*.multi.org", "*.{x,y}.net"});
  CHECK(m.matches_addr("www.example.com"));
  CHECK(m.matches_addr("a.b.example.com:8080"));  // '*' crosses dots
  CHECK(m.matches_addr("WWW.Example.COM"));
  CHECK_FALSE(m.matches_addr("example.com"));  // "*." needs a label
  CHECK(m.matches_addr("v1.api.io:443"));
  CHECK_FALSE(m.matches_addr("v1.api.io:80"));
  CHECK_FALSE(m.matches_addr("v1.api.io"));
  CHECK(m.matches_addr("img1.cdn.net"));
  CHECK(m.matches_addr("imgx.cdn.net:1"));
  CHECK_FALSE(m.matches_addr("img.cdn.net"));
  CHECK_FALSE(m.matches_addr("img12.cdn.net"));
  CHECK(m.matches_addr("db.svc:8080"));
  CHECK_FALSE(m.matches_addr("db.svc:9090"));
  CHECK(m.matches_addr("192.168.3.4:22"));  // globs see IPs as text
  CHECK_FALSE(m.matches_addr("192.169.3.4"));
  CHECK(m.matches_addr("host7.lan"));
  CHECK_FALSE(m.matches_addr("hostx.lan"));
  CHECK(m.matches_addr("nodex.lan"));
  CHECK_FALSE(m.matches_addr("node1.lan"));
  CHECK(m.matches_addr("a.multi.org"));
  CHECK(m.matches_addr("b.multi.org"));
  CHECK(m.matches_addr("ab.multi.org"));
  CHECK_FALSE(m.matches_addr("c.multi.org"));
  CHECK(m.matches_addr("q.y.net"));
  CHECK_FALSE(m.matches_addr("q.z.net"));
}

TEST_CASE("matcher: glob matching is not exponential", "[bypass][matcher]") {
  auto m = compile({"*a*a*a*a*a*a*a*a*a*b"});
  std::string host(250, 'a');
  CHECK_FALSE(m.matches_addr(host));  // returns promptly
  CHECK(m.matches_addr(host + "b"));
}

TEST_CASE("matcher: comments, blanks and an empty list", "[bypass][matcher]") {
  auto m = compile({"", "  ", "# comment", "  example.com  # trailing comment"});
  CHECK_FALSE(m.empty());
  CHECK(m.matches_addr("example.com"));
  auto e = compile({});
  CHECK(e.empty());
  CHECK_FALSE(e.matches_addr("example.com"));
  CHECK_FALSE(compile({"example.com"}).matches_addr(""));
}

TEST_CASE("matcher: invalid patterns are config errors naming the pattern", "[bypass][matcher]") {
  for (const char* p : {"10.0.0.0/33",
                        "::/129",
                        "10.0.0.0/x",
                        "foo/8",
                        "1.1.1.9-1.1.1.1",
                        "1.1.1.1-::1",
                        "10.0.0.1-10.0.0.x",
                        "x.com:99999",
                        "x.com:abc",
                        "x.com:9000-8000",
                        "x.com:",
                        ":80",
                        "*.x.com:abc",
                        "[a-",
                        "*.{a,b",
                        "*[]",
                        "exa mple.com",
                        "a,b.com",
                        ".",
                        "*.x.com:",
                        "[::1]:",
                        "host[0-9].lan"}) {
    INFO(p);
    auto m = AddressMatcher::compile({p});
    REQUIRE_FALSE(m);
    CHECK(m.error().message.find(std::string("\"") + p + "\"") != std::string::npos);
  }
  // One bad pattern fails the whole list.
  CHECK_FALSE(AddressMatcher::compile({"example.com", "10.0.0.0/40"}));
  // Host names may contain dashes.
  CHECK(AddressMatcher::compile({"my-host.example.com", "a-b-c", "x-1.com:80-90"}));
}

TEST_CASE("bypass: blacklist and whitelist", "[bypass]") {
  auto black = bypass({"*.example.com", "10.0.0.0/8"});
  CHECK_FALSE(black->is_whitelist());
  CHECK(black->contains("tcp", "www.example.com:443"));
  CHECK(black->contains("tcp", "10.1.1.1:80"));
  CHECK_FALSE(black->contains("tcp", "google.com:443"));
  CHECK_FALSE(black->contains("tcp", ""));  // no address: never bypassed

  auto white = bypass({"*.example.com", "10.0.0.0/8"}, true);
  CHECK(white->is_whitelist());
  CHECK_FALSE(white->contains("tcp", "www.example.com:443"));
  CHECK_FALSE(white->contains("udp", "10.1.1.1:53"));
  CHECK(white->contains("tcp", "google.com:443"));
  CHECK_FALSE(white->contains("tcp", ""));
}

TEST_CASE("bypass: an empty list", "[bypass]") {
  // As GOST: no patterns means "proxy", whitelist or not...
  CHECK_FALSE(bypass({})->contains("tcp", "a.com:1"));
  CHECK_FALSE(bypass({}, true)->contains("tcp", "a.com:1"));
  CHECK_FALSE(bypass({}, true, "udp")->contains("udp", "a.com:1"));
  // ...except a blacklist scoped to a network, which bypasses all of that network.
  auto udp_off = bypass({}, false, "udp");
  CHECK(udp_off->contains("udp", "a.com:53"));
  CHECK_FALSE(udp_off->contains("tcp", "a.com:80"));
}

TEST_CASE("bypass: network scoping", "[bypass]") {
  auto tcp_only = bypass({".example.com"}, false, "tcp");
  CHECK(tcp_only->contains("tcp", "example.com:80"));
  CHECK_FALSE(tcp_only->contains("udp", "example.com:53"));
  CHECK_FALSE(tcp_only->contains("", "example.com:80"));  // exact comparison, as GOST
  CHECK_FALSE(tcp_only->contains("tcp4", "example.com:80"));

  // A scoped whitelist says "proxy" for other networks rather than inverting.
  auto udp_white = bypass({"8.8.8.8"}, true, "udp");
  CHECK_FALSE(udp_white->contains("udp", "8.8.8.8:53"));
  CHECK(udp_white->contains("udp", "1.1.1.1:53"));
  CHECK_FALSE(udp_white->contains("tcp", "1.1.1.1:443"));

  auto bad = gost::make_bypass({"a.com"}, false, "sctp");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("sctp") != std::string::npos);
  auto bad_pattern = gost::make_bypass({"10.0.0.0/99"});
  REQUIRE_FALSE(bad_pattern);
  CHECK(bad_pattern.error().message.find("10.0.0.0/99") != std::string::npos);
}

TEST_CASE("bypass group: whitelists AND, then blacklists OR", "[bypass][group]") {
  CHECK(gost::make_bypass_group({}) == nullptr);
  CHECK(gost::make_bypass_group({nullptr, nullptr}) == nullptr);

  auto w1 = bypass({"*.a.com", "*.b.com"}, true);  // bypass everything except a and b
  auto w2 = bypass({"*.b.com", "*.c.com"}, true);  // bypass everything except b and c
  auto b1 = bypass({"x.b.com"});
  auto g = gost::make_bypass_group({w1, nullptr, w2, b1});
  REQUIRE(g);
  CHECK_FALSE(g->is_whitelist());
  CHECK(g->contains("tcp", "z.d.com:1"));        // both whitelists bypass
  CHECK_FALSE(g->contains("tcp", "y.a.com:1"));  // w2 bypasses, w1 does not; no blacklist hit
  CHECK_FALSE(g->contains("tcp", "y.c.com:1"));
  CHECK_FALSE(g->contains("tcp", "y.b.com:1"));
  CHECK(g->contains("tcp", "x.b.com:1"));  // whitelists say proxy, blacklist says bypass

  auto only_black = gost::make_bypass_group({bypass({"a.com"}), bypass({"b.com"})});
  CHECK(only_black->contains("tcp", "a.com:1"));
  CHECK(only_black->contains("tcp", "b.com:1"));
  CHECK_FALSE(only_black->contains("tcp", "c.com:1"));

  // Network-scoped members: a tcp-only whitelist bypasses nothing on udp.
  auto mixed =
      gost::make_bypass_group({bypass({"a.com"}, true, "tcp"), bypass({"b.com"}, false, "udp")});
  CHECK(mixed->contains("tcp", "z.com:1"));
  CHECK_FALSE(mixed->contains("tcp", "a.com:1"));
  CHECK(mixed->contains("udp", "b.com:1"));
  CHECK_FALSE(mixed->contains("udp", "z.com:1"));

  // A group inside a group counts as a blacklist (GOST: IsWhitelist() is false for a group).
  auto inner = gost::make_bypass_group({bypass({"a.com"}, true)});
  auto outer = gost::make_bypass_group({inner, bypass({"b.com"}, true)});
  CHECK(outer->contains("tcp", "a.com:1"));  // outer whitelist b bypasses a.com
  CHECK(outer->contains("tcp", "b.com:1"));  // inner (blacklist role) bypasses b.com
  CHECK_FALSE(gost::make_bypass_group({inner})->contains("tcp", "a.com:1"));
}

TEST_CASE("admission: client IP against IPs, CIDRs and ranges", "[admission]") {
  auto deny = admission({"192.168.1.0/24", "10.0.0.1", "fd00::1-fd00::9"});
  CHECK_FALSE(deny->admit("tcp", gost::Address("192.168.1.77", 5555)));
  CHECK_FALSE(deny->admit("tcp", gost::Address("10.0.0.1", 1)));
  CHECK_FALSE(deny->admit("udp", gost::Address("::ffff:10.0.0.1", 1)));
  CHECK_FALSE(deny->admit("tcp", gost::Address("fd00::5", 1)));
  CHECK(deny->admit("tcp", gost::Address("10.0.0.2", 1)));
  CHECK(deny->admit("tcp", gost::Address("127.0.0.1", 1)));
  CHECK(deny->admit("tcp", gost::Address("", 0)));  // unknown client: admitted, as GOST

  auto allow = admission({"127.0.0.0/8", "::1"}, true);
  CHECK(allow->admit("tcp", gost::Address("127.0.0.1", 40000)));
  CHECK(allow->admit("tcp", gost::Address("::1", 40000)));
  CHECK_FALSE(allow->admit("tcp", gost::Address("192.0.2.1", 40000)));
  CHECK_FALSE(allow->admit("tcp", gost::Address("::2", 40000)));

  // An empty whitelist admits nobody; an empty blacklist admits everybody.
  CHECK_FALSE(admission({}, true)->admit("tcp", gost::Address("127.0.0.1", 1)));
  CHECK(admission({})->admit("tcp", gost::Address("127.0.0.1", 1)));
}

TEST_CASE("admission: host names are resolved when built", "[admission]") {
  auto allow = admission({"localhost"}, true);
  CHECK(allow->admit("tcp", gost::Address("127.0.0.1", 1)));
  CHECK_FALSE(allow->admit("tcp", gost::Address("192.0.2.1", 1)));
  auto deny = admission({"localhost"});
  CHECK_FALSE(deny->admit("tcp", gost::Address("127.0.0.1", 1)));
  CHECK(deny->admit("tcp", gost::Address("192.0.2.1", 1)));
}

TEST_CASE("admission: patterns that cannot match a client are errors", "[admission]") {
  for (const char* p :
       {"*.example.com", ".example.com", "host:80", "10.0.0.0/40", "1.1.1.1-x", "bad name"}) {
    INFO(p);
    auto a = gost::make_admission({p});
    REQUIRE_FALSE(a);
    CHECK(a.error().message.find(p) != std::string::npos);
  }
}

TEST_CASE("admission group: every member must admit", "[admission][group]") {
  CHECK(gost::make_admission_group({}) == nullptr);
  auto a = admission({"10.0.0.0/8"}, true);
  auto b = admission({"10.0.0.5"});
  CHECK(gost::make_admission_group({a}) == a);
  auto g = gost::make_admission_group({a, nullptr, b});
  CHECK(g->admit("tcp", gost::Address("10.0.0.4", 1)));
  CHECK_FALSE(g->admit("tcp", gost::Address("10.0.0.5", 1)));
  CHECK_FALSE(g->admit("tcp", gost::Address("11.0.0.4", 1)));
}
