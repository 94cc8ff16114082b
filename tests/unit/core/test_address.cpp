// Address parsing and printing.
#include <catch2/catch.hpp>

#include "gost/core/address.hpp"

using gost::Address;

TEST_CASE("Address::parse host:port forms", "[address]") {
  auto a = Address::parse("example.com:80");
  REQUIRE(a);
  CHECK(a->host == "example.com");
  CHECK(a->port == 80);

  auto b = Address::parse("127.0.0.1:65535");
  REQUIRE(b);
  CHECK(b->host == "127.0.0.1");
  CHECK(b->port == 65535);

  auto c = Address::parse("[::1]:53");
  REQUIRE(c);
  CHECK(c->host == "::1");
  CHECK(c->port == 53);

  auto d = Address::parse(":8080");  // any host
  REQUIRE(d);
  CHECK(d->host.empty());
  CHECK(d->port == 8080);
  CHECK_FALSE(d->empty());
}

TEST_CASE("Address::parse default port", "[address]") {
  CHECK_FALSE(Address::parse("example.com"));
  auto a = Address::parse("example.com", 443);
  REQUIRE(a);
  CHECK(a->port == 443);
  auto b = Address::parse("[2001:db8::1]", 1080);
  REQUIRE(b);
  CHECK(b->host == "2001:db8::1");
  CHECK(b->port == 1080);
  auto c = Address::parse("2001:db8::1", 1080);  // bare IPv6 literal: no port in it
  REQUIRE(c);
  CHECK(c->host == "2001:db8::1");
  CHECK(c->port == 1080);
  // An explicit port wins over the default.
  auto e = Address::parse("x:1", 2);
  REQUIRE(e);
  CHECK(e->port == 1);
}

TEST_CASE("Address::parse rejects bad input", "[address]") {
  for (const char* s :
       {"", "host:", "host:65536", "host:-1", "host:80x", "host:+80", "[::1", "[::1]x",
        "[::1]:", "[1.2.3.4]:80", "[example.com]:80", "a b:80", "a/b:80", "user@host:80",
        "h\x01:80", "h\x7f:80", "1:2:3", "host:123456", "[::1]:99999"}) {
    INFO(s);
    CHECK_FALSE(Address::parse(s));
  }
  std::string long_host(256, 'a');
  CHECK_FALSE(Address::parse(long_host + ":80"));
  CHECK(Address::parse(std::string(255, 'a') + ":80"));
  CHECK(Address::parse("host:0"));
  CHECK(Address::parse("host:00080")->port == 80);
}

TEST_CASE("Address::to_string brackets IPv6", "[address]") {
  CHECK(Address("example.com", 80).to_string() == "example.com:80");
  CHECK(Address("::1", 53).to_string() == "[::1]:53");
  CHECK(Address("", 8080).to_string() == ":8080");
  for (const char* s : {"example.com:80", "[::1]:53", "10.0.0.1:1", ":8080"}) {
    auto a = Address::parse(s);
    REQUIRE(a);
    CHECK(a->to_string() == s);
  }
}

TEST_CASE("Address::ip", "[address]") {
  CHECK_FALSE(Address("example.com", 80).ip());
  CHECK_FALSE(Address("", 80).ip());
  CHECK_FALSE(Address("", 80).is_ip());
  auto v4 = Address("192.168.1.2", 80).ip();
  REQUIRE(v4);
  CHECK(v4->is_v4());
  CHECK(v4->to_string() == "192.168.1.2");
  auto v6 = Address("2001:db8::1", 80).ip();
  REQUIRE(v6);
  CHECK(v6->is_v6());
  CHECK(Address("::1", 1).is_ip());
  CHECK(Address() == Address("", 0));
  CHECK(Address().empty());
}
