// GOST's -L / -F URL grammar (go-gost/x config/cmd) as a Config.
#include <catch2/catch.hpp>

#include "gost/config/cmd.hpp"
#include "gost/config/config.hpp"

using namespace gost;
using namespace gost::config;
using namespace std::chrono_literals;

namespace {

// The names a registry of this build will hold, plus a few of GOST's for the fallback rules.
const Registry& test_registry() {
  static Registry r = [] {
    Registry reg;
    auto no = [](auto&&) -> Result<HandlerPtr, ConfigError> { return config_error("test"); };
    auto nl = [](auto&&) -> Result<ListenerPtr, ConfigError> { return config_error("test"); };
    auto nd = [](auto&&) -> Result<DialerPtr, ConfigError> { return config_error("test"); };
    auto nc = [](auto&&) -> Result<ConnectorPtr, ConfigError> { return config_error("test"); };
    for (auto h : {"http", "socks4", "socks4a", "socks5", "socks", "auto", "tcp", "udp", "forward",
                   "relay", "rtcp", "ssu"})
      reg.add_handler(h, no);
    for (auto l : {"tcp", "udp", "tls", "rtcp", "ssh"}) reg.add_listener(l, nl);
    for (auto c : {"http", "socks4", "socks4a", "socks5", "socks", "forward", "direct", "relay"})
      reg.add_connector(c, nc);
    for (auto d : {"tcp", "udp", "tls", "ssh"}) reg.add_dialer(d, nd);
    return reg;
  }();
  return r;
}

Config cmd(std::vector<std::string> L, std::vector<std::string> F = {}) {
  auto r = build_config_from_cmd(L, F, test_registry());
  if (!r) FAIL(r.error().message);
  return std::move(*r);
}

std::string cmd_error(std::vector<std::string> L, std::vector<std::string> F = {}) {
  auto r = build_config_from_cmd(L, F, test_registry());
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

const ServiceConfig& only_service(const Config& c) {
  REQUIRE(c.services.size() == 1);
  return c.services[0];
}

}  // namespace

TEST_CASE("cmd: -L scheme is handler[+listener] with GOST's fallbacks", "[cmd]") {
  struct Case {
    const char* url;
    const char* handler;
    const char* listener;
    const char* addr;
  };
  const Case cases[] = {
      {":8080", "auto", "tcp", ":8080"},
      {"127.0.0.1:8080", "auto", "tcp", "127.0.0.1:8080"},
      {"http://:8080", "http", "tcp", ":8080"},
      {"socks5://127.0.0.1:1080", "socks5", "tcp", "127.0.0.1:1080"},
      {"socks5+tls://:443", "socks5", "tls", ":443"},
      {"tls://:443", "auto", "tls", ":443"},      // tls is no handler: auto
      {"nosuch://:1", "auto", "tcp", ":1"},       // unknown both ways
      {"http+nosuch://:1", "http", "tcp", ":1"},  // unknown listener: tcp
      {"https://:443", "http", "tls", ":443"},    // https = http+tls
      {"ssu://:8338", "ssu", "udp", ":8338"},     // unknown listener for ssu: udp
      {"HTTP://:80", "http", "tcp", ":80"},       // the scheme is lower-cased
      {"a+b+c://:80", "auto", "tcp", ":80"},      // more than two parts: nothing matches
      {"udp://[::1]:53", "udp", "udp", "[::1]:53"},
  };
  for (auto& c : cases) {
    INFO(c.url);
    auto cfg = cmd({c.url});
    auto& s = only_service(cfg);
    CHECK(s.name == "service-0");
    CHECK(s.addr == c.addr);
    REQUIRE(s.handler);
    REQUIRE(s.listener);
    CHECK(s.handler->type == c.handler);
    CHECK(s.listener->type == c.listener);
    CHECK_FALSE(s.forwarder);
    CHECK(s.handler->chain.empty());
    CHECK(cfg.chains.empty());
  }
}

TEST_CASE("cmd: forward targets in the path", "[cmd]") {
  SECTION("tcp forwarding with two targets") {
    auto s = only_service(cmd({"tcp://:8080/10.0.0.1:80,10.0.0.2:80"}));
    CHECK(s.handler->type == "tcp");
    CHECK(s.listener->type == "tcp");
    REQUIRE(s.forwarder);
    REQUIRE(s.forwarder->nodes.size() == 2);
    CHECK(s.forwarder->nodes[0].name == "target-0");
    CHECK(s.forwarder->nodes[0].addr == "10.0.0.1:80");
    CHECK(s.forwarder->nodes[1].name == "target-1");
    CHECK(s.forwarder->nodes[1].addr == "10.0.0.2:80");
    CHECK_FALSE(s.forwarder->selector);
  }
  struct Case {
    const char* url;
    const char* handler;
    const char* listener;
  };
  const Case cases[] = {
      {"udp://:53/1.1.1.1:53", "udp", "udp"},
      {"tls://:443/10.0.0.1:22", "forward", "tls"},      // not a plain listener: forward
      {"relay+tls://:443/10.0.0.1:22", "relay", "tls"},  // relay stays relay
      {"http://:8080/10.0.0.1:80", "tcp", "tcp"},        // handler becomes the listener
      {":8080/10.0.0.1:80", "tcp", "tcp"},
      {"rtcp://:8080/10.0.0.1:80", "rtcp", "rtcp"},
      {"socks5+udp://:53/10.0.0.1:53", "udp", "udp"},
  };
  for (auto& c : cases) {
    INFO(c.url);
    auto s = only_service(cmd({c.url}));
    CHECK(s.handler->type == c.handler);
    CHECK(s.listener->type == c.listener);
    REQUIRE(s.forwarder);
    CHECK(s.forwarder->nodes.size() == 1);
  }
}

TEST_CASE("cmd: port ranges give one service per port", "[cmd]") {
  SECTION("services and targets pair up") {
    auto cfg = cmd({"tcp://:8000-8003/h:9000-9003"});
    REQUIRE(cfg.services.size() == 4);
    for (int i = 0; i < 4; ++i) {
      auto& s = cfg.services[static_cast<std::size_t>(i)];
      CHECK(s.name == "service-" + std::to_string(i));
      CHECK(s.addr == ":" + std::to_string(8000 + i));
      REQUIRE(s.forwarder);
      REQUIRE(s.forwarder->nodes.size() == 1);
      CHECK(s.forwarder->nodes[0].addr == "h:" + std::to_string(9000 + i));
      CHECK(s.forwarder->nodes[0].name == "target-" + std::to_string(i));
    }
  }
  SECTION("one target is shared") {
    auto cfg = cmd({"tcp://127.0.0.1:8000-8001/h:80"});
    REQUIRE(cfg.services.size() == 2);
    CHECK(cfg.services[0].addr == "127.0.0.1:8000");
    CHECK(cfg.services[1].addr == "127.0.0.1:8001");
    for (auto& s : cfg.services) {
      REQUIRE(s.forwarder);
      CHECK(s.forwarder->nodes.size() == 1);
      CHECK(s.forwarder->nodes[0].addr == "h:80");
    }
  }
  SECTION("fewer targets than ports leaves the rest without a forwarder") {
    auto cfg = cmd({"tcp://:8000-8002/a:1,b:2"});
    REQUIRE(cfg.services.size() == 3);
    CHECK(cfg.services[0].forwarder->nodes[0].addr == "a:1");
    CHECK(cfg.services[1].forwarder->nodes[0].addr == "b:2");
    CHECK_FALSE(cfg.services[2].forwarder);
  }
  SECTION("names continue across -L") {
    auto cfg = cmd({"socks5://:1000-1001", "http://:2000"});
    REQUIRE(cfg.services.size() == 3);
    CHECK(cfg.services[2].name == "service-2");
    CHECK(cfg.services[2].handler->type == "http");
  }
  SECTION("IPv6 host") {
    auto cfg = cmd({"tcp://[::1]:7000-7001/[::1]:22"});
    REQUIRE(cfg.services.size() == 2);
    CHECK(cfg.services[1].addr == "[::1]:7001");
    CHECK(cfg.services[1].forwarder->nodes[0].addr == "[::1]:22");
  }
}

TEST_CASE("cmd: credentials", "[cmd]") {
  SECTION("user:pass goes to handler.auth") {
    auto s = only_service(cmd({"socks5://alice:s3cret@:1080"}));
    REQUIRE(s.handler->auth);
    CHECK(s.handler->auth->username == "alice");
    CHECK(s.handler->auth->password == "s3cret");
    CHECK_FALSE(s.listener->auth);
    CHECK(s.addr == ":1080");
  }
  SECTION("escaped characters are decoded") {
    auto s = only_service(cmd({"http://us%40r:p%3Ass@:80"}));
    CHECK(s.handler->auth->username == "us@r");
    CHECK(s.handler->auth->password == "p:ss");
  }
  SECTION("?auth=base64(user:pass)") {
    auto s = only_service(cmd({"http://:80?auth=dXNlcjpwYXNz"}));  // user:pass
    REQUIRE(s.handler->auth);
    CHECK(s.handler->auth->username == "user");
    CHECK(s.handler->auth->password == "pass");
    CHECK_FALSE(s.handler->metadata.contains("auth"));
    CHECK_FALSE(s.listener->metadata.contains("auth"));
  }
  SECTION("URL-safe base64 without padding") {
    auto s = only_service(cmd({"http://:80?auth=dTpw"}));  // u:p
    CHECK(s.handler->auth->username == "u");
    CHECK(s.handler->auth->password == "p");
  }
  SECTION("userinfo wins over ?auth") {
    auto s = only_service(cmd({"http://a:b@:80?auth=dXNlcjpwYXNz"}));
    CHECK(s.handler->auth->username == "a");
  }
  SECTION("ssh listeners authenticate themselves") {
    auto s = only_service(cmd({"ssh://u:p@:2222"}));
    CHECK(s.listener->type == "ssh");
    CHECK_FALSE(s.handler->auth);
    REQUIRE(s.listener->auth);
    CHECK(s.listener->auth->username == "u");
  }
  SECTION("bad base64 is an error") {
    CHECK_THAT(cmd_error({"http://:80?auth=!!!"}), Catch::Contains("auth"));
  }
}

TEST_CASE("cmd: -F builds chain-0 with one hop per -F", "[cmd]") {
  auto cfg = cmd({"http://:8080", ":1080"},
                 {"socks5://u:p@10.0.0.1:1080", "nosuch://10.0.0.2:8080", "socks5+tls://a:1,b:2"});
  REQUIRE(cfg.chains.size() == 1);
  auto& ch = cfg.chains[0];
  CHECK(ch.name == "chain-0");
  REQUIRE(ch.hops.size() == 3);
  CHECK(ch.hops[0].name == "hop-0");
  CHECK(ch.hops[1].name == "hop-1");
  CHECK(ch.hops[2].name == "hop-2");

  auto& n0 = ch.hops[0].nodes.at(0);
  CHECK(n0.name == "node-0");
  CHECK(n0.addr == "10.0.0.1:1080");
  CHECK(n0.connector->type == "socks5");
  REQUIRE(n0.connector->auth);
  CHECK(n0.connector->auth->username == "u");
  CHECK(n0.connector->auth->password == "p");
  CHECK(n0.dialer->type == "tcp");
  REQUIRE(n0.dialer->tls);  // GOST always names the server
  CHECK(n0.dialer->tls->server_name == "10.0.0.1");

  auto& n1 = ch.hops[1].nodes.at(0);
  CHECK(n1.connector->type == "http");  // unknown connector
  CHECK(n1.dialer->type == "tcp");      // unknown dialer

  REQUIRE(ch.hops[2].nodes.size() == 2);
  CHECK(ch.hops[2].nodes[0].name == "node-0");
  CHECK(ch.hops[2].nodes[0].addr == "a:1");
  CHECK(ch.hops[2].nodes[1].name == "node-1");
  CHECK(ch.hops[2].nodes[1].addr == "b:2");
  CHECK(ch.hops[2].nodes[1].connector->type == "socks5");
  CHECK(ch.hops[2].nodes[1].dialer->type == "tls");

  REQUIRE(cfg.services.size() == 2);
  for (auto& s : cfg.services) CHECK(s.handler->chain == "chain-0");
}

TEST_CASE("cmd: -F details", "[cmd]") {
  SECTION("no scheme is auto, which is no connector: http+tcp") {
    auto cfg = cmd({":1"}, {"10.0.0.1:3128"});
    auto& n = cfg.chains[0].hops[0].nodes[0];
    CHECK(n.connector->type == "http");
    CHECK(n.dialer->type == "tcp");
    CHECK(n.addr == "10.0.0.1:3128");
  }
  SECTION("the chain goes to the listener for rtcp") {
    auto cfg = cmd({"rtcp://:8080/10.0.0.1:80"}, {"relay://h:1"});
    auto& s = only_service(cfg);
    CHECK(s.listener->chain == "chain-0");
    CHECK(s.handler->chain.empty());
  }
  SECTION("selector keys go to the hop selector") {
    auto cfg = cmd({":1"}, {"http://a:1,b:2?strategy=fifo&maxFails=3&failTimeout=5s&foo=bar"});
    auto& hop = cfg.chains[0].hops[0];
    REQUIRE(hop.selector);
    CHECK(hop.selector->strategy == "fifo");
    CHECK(hop.selector->max_fails == 3);
    CHECK(hop.selector->fail_timeout == 5s);
    CHECK(hop.metadata == Json{{"foo", "bar"}});
    CHECK(hop.nodes[0].metadata == Json{{"foo", "bar"}});
  }
  SECTION("a lone max_fails gets GOST's CLI defaults") {
    auto cfg = cmd({":1"}, {"http://a:1?max_fails=2"});
    auto& sel = cfg.chains[0].hops[0].selector;
    REQUIRE(sel);
    CHECK(sel->strategy == "round");
    CHECK(sel->max_fails == 2);
    CHECK(sel->fail_timeout == 30s);
  }
  SECTION("query keys go to hop, node, connector and dialer; prefixes pin them") {
    auto cfg = cmd({":1"}, {"socks5://h:1?k=v&hop.hk=1&node.nk=2&connector.ck=3&dialer.dk=4"});
    auto& hop = cfg.chains[0].hops[0];
    auto& n = hop.nodes[0];
    CHECK(hop.metadata == Json{{"k", "v"}, {"hk", "1"}});
    CHECK(n.metadata == Json{{"k", "v"}, {"nk", "2"}});
    CHECK(n.connector->metadata == Json{{"k", "v"}, {"ck", "3"}});
    CHECK(n.dialer->metadata == Json{{"k", "v"}, {"dk", "4"}});
  }
  SECTION("bypass on a hop, then on a service: bypass-0, bypass-1") {
    auto cfg = cmd({"http://:1?bypass=~10.0.0.0/8"}, {"http://h:1?bypass=a.com,.b.com"});
    REQUIRE(cfg.bypasses.size() == 2);
    CHECK(cfg.bypasses[0].name == "bypass-0");
    CHECK_FALSE(cfg.bypasses[0].whitelist);
    CHECK(cfg.bypasses[0].matchers == std::vector<std::string>{"a.com", ".b.com"});
    CHECK(cfg.chains[0].hops[0].bypass == "bypass-0");
    CHECK_FALSE(cfg.chains[0].hops[0].metadata.contains("bypass"));
    CHECK(cfg.bypasses[1].name == "bypass-1");
    CHECK(cfg.bypasses[1].whitelist);
    CHECK(cfg.bypasses[1].matchers == std::vector<std::string>{"10.0.0.0/8"});
    CHECK(cfg.services[0].bypass == "bypass-1");
  }
  SECTION("interface, so_mark, proxyProtocol are hop settings") {
    auto cfg = cmd({":1"}, {"http://h:1?interface=eth0&so_mark=7"});
    auto& hop = cfg.chains[0].hops[0];
    CHECK(hop.metadata["interface"] == "eth0");
    CHECK(hop.metadata["so_mark"] == 7);
    CHECK_FALSE(hop.nodes[0].metadata.contains("interface"));
  }
  SECTION("TLS keys go to dialer.tls") {
    auto cfg = cmd({":1"}, {"http+tls://h:443?secure=true&serverName=example.com&ca=ca.pem"});
    auto& d = *cfg.chains[0].hops[0].nodes[0].dialer;
    REQUIRE(d.tls);
    CHECK(d.tls->secure);
    CHECK(d.tls->server_name == "example.com");
    CHECK(d.tls->ca_file == "ca.pem");
    CHECK_FALSE(d.metadata.contains("secure"));
    CHECK_FALSE(d.metadata.contains("serverName"));
  }
  SECTION("ssh dialers authenticate themselves") {
    auto cfg = cmd({":1"}, {"ssh://u:p@h:22"});
    auto& n = cfg.chains[0].hops[0].nodes[0];
    CHECK(n.dialer->type == "ssh");
    CHECK_FALSE(n.connector->auth);
    REQUIRE(n.dialer->auth);
    CHECK(n.dialer->auth->username == "u");
  }
}

TEST_CASE("cmd: -L query routing", "[cmd]") {
  SECTION("plain keys go to handler, listener and service; prefixes pin them") {
    auto s = only_service(cmd({"http://:8080?foo=bar&handler.h=1&listener.l=2&service.s=3"}));
    CHECK(s.handler->metadata == Json{{"foo", "bar"}, {"h", "1"}});
    CHECK(s.listener->metadata == Json{{"foo", "bar"}, {"l", "2"}});
    CHECK(s.metadata == Json{{"foo", "bar"}, {"s", "3"}});
  }
  SECTION("query values are unescaped") {
    auto s = only_service(cmd({"http://:8080?path=%2Fws&q=a+b"}));
    CHECK(s.handler->metadata["path"] == "/ws");
    CHECK(s.handler->metadata["q"] == "a b");
  }
  SECTION("the first value of a repeated key wins") {
    auto s = only_service(cmd({"http://:8080?k=1&k=2"}));
    CHECK(s.handler->metadata["k"] == "1");
  }
  SECTION("retries goes to handler.retries") {
    auto s = only_service(cmd({"http://:8080?retries=3"}));
    CHECK(s.handler->retries == 3);
    CHECK_FALSE(s.handler->metadata.contains("retries"));
  }
  SECTION("bypass and admission create top-level objects") {
    auto cfg = cmd({"http://:8080?bypass=~10.0.0.0/8,.example.com&admission=127.0.0.1"});
    auto& s = only_service(cfg);
    REQUIRE(cfg.bypasses.size() == 1);
    CHECK(cfg.bypasses[0].name == "bypass-0");
    CHECK(cfg.bypasses[0].whitelist);
    CHECK(cfg.bypasses[0].matchers == std::vector<std::string>{"10.0.0.0/8", ".example.com"});
    CHECK(s.bypass == "bypass-0");
    REQUIRE(cfg.admissions.size() == 1);
    CHECK(cfg.admissions[0].name == "admission-0");
    CHECK_FALSE(cfg.admissions[0].whitelist);
    CHECK(cfg.admissions[0].matchers == std::vector<std::string>{"127.0.0.1"});
    CHECK(s.admission == "admission-0");
    CHECK_FALSE(s.handler->metadata.contains("bypass"));
    // GOST takes them from the handler metadata only; the copies elsewhere stay.
    CHECK(s.metadata.contains("bypass"));
    CHECK(s.listener->metadata.contains("admission"));
  }
  SECTION("each service of a port range gets its own bypass") {
    auto cfg = cmd({"tcp://:8000-8001/h:1?bypass=x.com"});
    REQUIRE(cfg.bypasses.size() == 2);
    CHECK(cfg.services[0].bypass == "bypass-0");
    CHECK(cfg.services[1].bypass == "bypass-1");
  }
  SECTION("forwarder selector") {
    auto s = only_service(cmd({"tcp://:8080/a:1,b:2?strategy=rand"}));
    REQUIRE(s.forwarder->selector);
    CHECK(s.forwarder->selector->strategy == "rand");
    CHECK(s.forwarder->selector->max_fails == 1);
    CHECK(s.forwarder->selector->fail_timeout == 30s);
    CHECK_FALSE(s.handler->metadata.contains("strategy"));
  }
  SECTION("interface is a service setting") {
    auto s = only_service(cmd({"http://:8080?interface=eth0&so_mark=5"}));
    CHECK(s.metadata["interface"] == "eth0");
    CHECK(s.metadata["so_mark"] == 5);
    CHECK_FALSE(s.handler->metadata.contains("interface"));
    CHECK_FALSE(s.listener->metadata.contains("interface"));
  }
  SECTION("dns becomes a list") {
    auto s = only_service(cmd({"dns://:53?dns=1.1.1.1,8.8.8.8"}));
    CHECK(s.handler->metadata["dns"] == Json::array({"1.1.1.1", "8.8.8.8"}));
  }
  SECTION("cert/key go to listener.tls") {
    auto s = only_service(cmd({"http+tls://:443?cert=c.pem&key=k.pem&ca=ca.pem"}));
    REQUIRE(s.listener->tls);
    CHECK(s.listener->tls->cert_file == "c.pem");
    CHECK(s.listener->tls->key_file == "k.pem");
    CHECK(s.listener->tls->ca_file == "ca.pem");
    CHECK_FALSE(s.handler->metadata.contains("cert"));
  }
  SECTION("resolver, hosts, limiters are kept as GOST writes them") {
    auto cfg = cmd(
        {"http://:8080?resolver=udp://1.1.1.1:53&hosts=a.com:1.2.3.4&limiter.in=1MB&climiter=10"});
    auto& s = only_service(cfg);
    CHECK(s.extras["resolver"] == "resolver-0");
    CHECK(s.extras["hosts"] == "hosts-0");
    CHECK(s.extras["limiter"] == "limiter-0");
    CHECK(s.extras["climiter"] == "climiter-0");
    CHECK(cfg.extras["resolvers"][0]["nameservers"][0]["addr"] == "udp://1.1.1.1:53");
    CHECK(cfg.extras["hosts"][0]["mappings"][0] == Json{{"ip", "1.2.3.4"}, {"hostname", "a.com"}});
    CHECK(cfg.extras["limiters"][0]["limits"][0] == "$ 1MB ");
    CHECK(cfg.extras["climiters"][0]["limits"][0] == "$ 10");
  }
}

TEST_CASE("cmd: bad URLs are errors", "[cmd]") {
  CHECK_THAT(cmd_error({"http://:notaport"}), Catch::Contains("notaport"));
  CHECK_THAT(cmd_error({"http://:70000"}), Catch::Contains("70000"));
  CHECK_THAT(cmd_error({"tcp://:8003-8000/h:1"}), Catch::Contains("8003-8000"));
  CHECK_THAT(cmd_error({"tcp://:1/h:x"}), Catch::Contains("\"x\""));
  CHECK_THAT(cmd_error({":1"}, {"http://h:abc"}), Catch::Contains(":abc"));
  CHECK_THAT(cmd_error({":1"}, {""}), Catch::Contains("-F"));
  CHECK_THAT(cmd_error({":1"}, {"http://"}), Catch::Contains("no node address"));
  CHECK_THAT(cmd_error({"http://:80?a=%zz"}), Catch::Contains("escape"));
  CHECK_THAT(cmd_error({"http://:80?a=1;b=2"}), Catch::Contains("semicolon"));
  CHECK_THAT(cmd_error({":1"}, {"http://h :1"}), Catch::Contains("invalid character"));
  CHECK_THAT(cmd_error({"http://:80\x01"}), Catch::Contains("control"));
  CHECK_THAT(cmd_error({":1"}, {"1x_://h:1"}), Catch::Contains("scheme"));
  // Empty -L values are skipped, as in GOST.
  CHECK(cmd({"  ", ":1"}).services.size() == 1);
}
