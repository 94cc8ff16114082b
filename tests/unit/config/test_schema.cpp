// The GOST config schema: YAML and JSON parsing, the strict decoder's errors, -O output.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "gost/config/cmd.hpp"
#include "gost/config/config.hpp"

using namespace gost;
using namespace gost::config;
using namespace std::chrono_literals;

namespace {

Config yaml(const std::string& text) {
  auto r = parse_config(text, Format::yaml);
  if (!r) FAIL(r.error().message);
  return std::move(*r);
}

Config json(const std::string& text) {
  auto r = parse_config(text, Format::json);
  if (!r) FAIL(r.error().message);
  return std::move(*r);
}

std::string yaml_error(const std::string& text) {
  auto r = parse_config(text, Format::yaml);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

std::string json_error(const std::string& text) {
  auto r = parse_config(text, Format::json);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

// The full example of the reference (the parts this schema types; the rest is kept verbatim).
const char* kFull = R"(
services:
- name: svc-http
  addr: ":8080"
  interface: eth0
  sockopts: {mark: 100}
  admission: adm-0
  bypass: bp-0
  resolver: res-0
  limiter: lim-0
  handler:
    type: http
    retries: 1
    chain: chain-0
    auther: auther-0
    limiter: lim-user
    tls: {certFile: cert.pem, keyFile: key.pem}
    metadata: {udp: true, sniffing: true}
  listener:
    type: tls
    tls: {certFile: cert.pem, keyFile: key.pem, caFile: ca.pem, options: {minVersion: VersionTLS12}}
    metadata: {keepalive: true}
  metadata: {proxyProtocol: 2, enableStats: true, observer.period: 5s}
- name: fwd-0
  addr: ":2222"
  handler: {type: tcp, chain: chain-0}
  listener: {type: tcp}
  forwarder:
    selector: {strategy: fifo, maxFails: 1, failTimeout: 30s}
    nodes:
    - {name: t0, addr: "10.0.0.2:22"}
    - {name: t1, addr: "10.0.0.3:22", metadata: {backup: true}}
chains:
- name: chain-0
  hops:
  - name: hop-0
    selector: {strategy: round, maxFails: 3, failTimeout: 30s}
    bypass: bp-0
    nodes:
    - name: node-0
      addr: "proxy.example.com:443"
      connector: {type: relay, auth: {username: u, password: p}, metadata: {nodelay: true}}
      dialer: {type: wss, tls: {secure: true, serverName: proxy.example.com}, metadata: {path: /ws, host: cdn.example.com}}
hops:
- name: hop-dyn
  reload: 30s
  file: {path: /etc/gost/nodes.json}
authers:
- name: auther-0
  auths: [{username: u1, password: p1}]
  reload: 60s
  file: {path: /etc/gost/users.txt}
admissions:
- {name: adm-0, whitelist: true, matchers: [192.168.0.0/16, 127.0.0.1]}
bypasses:
- {name: bp-0, whitelist: false, network: tcp, matchers: ["*.local", .example.com, 10.0.0.0/8, "1.1.1.1-1.1.1.9", "ads.com:443"]}
resolvers:
- name: res-0
  nameservers:
  - {addr: "udp://1.1.1.1:53", prefer: ipv4, ttl: 60s}
limiters:
- name: lim-0
  limits: ["$ 100MB 100MB", "$$ 10MB"]
tls: {certFile: cert.pem, keyFile: key.pem, caFile: ca.pem, validity: 8760h, commonName: gost.run, organization: GOST}
log: {output: stderr, level: info, format: json}
profiling: {addr: ":6060"}
api: {addr: ":18080", pathPrefix: /api, accesslog: true, auth: {username: admin, password: x}, auther: auther-0}
metrics: {addr: ":9000", path: /metrics, auth: {username: m, password: x}}
)";

}  // namespace

TEST_CASE("schema: the reference example parses", "[schema]") {
  auto c = yaml(kFull);
  REQUIRE(c.services.size() == 2);
  auto& s = c.services[0];
  CHECK(s.name == "svc-http");
  CHECK(s.addr == ":8080");
  CHECK(s.iface == "eth0");
  CHECK(s.admission == "adm-0");
  CHECK(s.bypass == "bp-0");
  CHECK(s.extras["sockopts"] == Json{{"mark", 100}});
  CHECK(s.extras["resolver"] == "res-0");
  REQUIRE(s.handler);
  CHECK(s.handler->type == "http");
  CHECK(s.handler->retries == 1);
  CHECK(s.handler->chain == "chain-0");
  CHECK(s.handler->auther == "auther-0");
  CHECK(s.handler->extras["limiter"] == "lim-user");
  CHECK(s.handler->tls->cert_file == "cert.pem");
  CHECK(s.handler->metadata == Json{{"udp", true}, {"sniffing", true}});
  CHECK(s.listener->type == "tls");
  CHECK(s.listener->tls->options->min_version == "VersionTLS12");
  CHECK(s.metadata["proxyProtocol"] == 2);
  CHECK(s.metadata["observer.period"] == "5s");

  auto& f = c.services[1].forwarder;
  REQUIRE(f);
  CHECK(f->selector->strategy == "fifo");
  CHECK(f->selector->max_fails == 1);
  CHECK(f->selector->fail_timeout == 30s);
  REQUIRE(f->nodes.size() == 2);
  CHECK(f->nodes[1].metadata["backup"] == true);

  auto& node = c.chains.at(0).hops.at(0).nodes.at(0);
  CHECK(node.connector->type == "relay");
  CHECK(node.connector->auth->username == "u");
  CHECK(node.connector->metadata["nodelay"] == true);
  CHECK(node.dialer->type == "wss");
  CHECK(node.dialer->tls->secure);
  CHECK(node.dialer->tls->server_name == "proxy.example.com");
  CHECK(c.chains[0].hops[0].selector->max_fails == 3);

  CHECK(c.hops.at(0).extras["reload"] == "30s");
  CHECK(c.hops[0].extras["file"]["path"] == "/etc/gost/nodes.json");
  CHECK(c.authers.at(0).auths.at(0).username == "u1");
  CHECK(c.authers[0].file->path == "/etc/gost/users.txt");
  CHECK(c.admissions.at(0).whitelist);
  CHECK(c.admissions[0].matchers == std::vector<std::string>{"192.168.0.0/16", "127.0.0.1"});
  CHECK(c.bypasses.at(0).network == "tcp");
  CHECK(c.bypasses[0].matchers.size() == 5);
  CHECK(c.extras["resolvers"][0]["name"] == "res-0");
  CHECK(c.extras["limiters"][0]["limits"][1] == "$$ 10MB");
  CHECK(c.tls->validity == std::chrono::hours(8760));
  CHECK(c.log->format == "json");
  CHECK(c.profiling->addr == ":6060");
  CHECK(c.api->path_prefix == "/api");
  CHECK(c.api->access_log);
  CHECK(c.metrics->auth->username == "m");
}

TEST_CASE("schema: keys are case-insensitive as in GOST (viper)", "[schema]") {
  auto c = yaml(
      "Services:\n- NAME: s\n  Handler: {TYPE: http, ChainGroup: {chains: [a]}}\n"
      "Chains:\n- name: c\n  hops:\n  - name: h\n    SELECTOR: {MAXFAILS: 2, failtimeout: 1m}\n"
      "    nodes: [{name: n, addr: 'a:1'}]\n");
  CHECK(c.services.at(0).name == "s");
  CHECK(c.services[0].handler->type == "http");
  CHECK(c.services[0].handler->extras.contains("chainGroup"));
  CHECK(c.chains.at(0).hops.at(0).selector->max_fails == 2);
  CHECK(c.chains[0].hops[0].selector->fail_timeout == 60s);
  CHECK_THAT(yaml_error("services:\n- name: a\n  Name: b\n"),
             Catch::Contains("duplicate key (keys are case-insensitive)"));
}

TEST_CASE("schema: unknown keys and wrong types name the path", "[schema]") {
  CHECK(yaml_error("services:\n- name: s\n  handler:\n    tpye: http\n") ==
        "services[0].handler.tpye: unknown key");
  CHECK(yaml_error("chains:\n- name: a\n- name: b\n  hops:\n  - name: h\n    selector:\n"
                   "      maxFails: x\n") ==
        "chains[1].hops[0].selector.maxFails: expected an integer, got \"x\"");
  CHECK(yaml_error("bogusTopKey: 1\n") == "bogusTopKey: unknown key");
  CHECK(yaml_error("services: {name: s, handler: [1]}\n") ==
        "services[0].handler: expected a map, got a list");
  CHECK(yaml_error("services:\n- name: [a]\n") ==
        "services[0].name: expected a string, got a list");
  CHECK(yaml_error("bypasses:\n- name: b\n  whitelist: maybe\n") ==
        "bypasses[0].whitelist: expected a boolean, got \"maybe\"");
  CHECK(yaml_error("services:\n- name: s\n  handler: {type: http, retries: 1.5}\n") ==
        "services[0].handler.retries: expected an integer, got 1.5");
  CHECK(yaml_error("services:\n- name: s\n  metadata: [a]\n") ==
        "services[0].metadata: expected a map, got a list");
  CHECK(yaml_error("services: 3\n") == "services: expected a list, got 3");
  CHECK(json_error(R"({"services":[{"name":"s","handler":{"type":"http","bogusJ":1}}]})") ==
        "services[0].handler.bogusJ: unknown key");
}

TEST_CASE("schema: durations", "[schema]") {
  auto sel = [](const std::string& v) {
    auto c =
        yaml("chains:\n- name: c\n  hops:\n  - name: h\n    selector: {failTimeout: " + v + "}\n");
    return c.chains.at(0).hops.at(0).selector->fail_timeout;
  };
  CHECK(sel("30s") == 30s);
  CHECK(sel("1m30s") == 90s);
  CHECK(sel("500ms") == 500ms);
  CHECK(sel("1h") == std::chrono::hours(1));
  CHECK(sel("30") == 30s);  // an integer is seconds
  CHECK(sel("\"30\"") == 30s);
  CHECK(sel("30000000000") == 30s);  // gost -O json writes nanoseconds
  CHECK(sel("0") == 0s);
  CHECK(
      yaml_error("chains:\n- name: c\n  hops:\n  - name: h\n    selector: {failTimeout: abc}\n") ==
      "chains[0].hops[0].selector.failTimeout: expected a duration like \"30s\", got \"abc\"");
  CHECK_THAT(
      yaml_error("chains:\n- name: c\n  hops:\n  - name: h\n    selector: {failTimeout: -5}\n"),
      Catch::Contains("expected a duration"));
}

TEST_CASE("schema: weakly typed values as in GOST (mapstructure)", "[schema]") {
  auto c = yaml(
      "services:\n- name: 42\n  admissions: adm-0\n  handler: {type: http, retries: \"3\"}\n"
      "bypasses:\n- {name: b, whitelist: \"true\", reverse: 1}\n"
      "authers: {name: a, auths: [{username: u, password: 1234}]}\n");
  CHECK(c.services.at(0).name == "42");
  CHECK(c.services[0].admissions ==
        std::vector<std::string>{"adm-0"});  // one value, one-element list
  CHECK(c.services[0].handler->retries == 3);
  CHECK(c.bypasses.at(0).whitelist);
  CHECK(c.bypasses[0].reverse);
  REQUIRE(c.authers.size() == 1);  // one map, one-element list
  CHECK(c.authers[0].auths.at(0).password == "1234");
}

TEST_CASE("schema: YAML scalars are typed like Go's yaml.v3", "[schema]") {
  auto j = yaml_to_json(
      "a: 8080\nb: \"8080\"\nc: 127.0.0.1:80\nd: true\ne: 'true'\nf: 1.5\ng: ~\n"
      "h: 0x10\ni: 1_000\nj: 10s\nk: yes\nl: !!str 12\nm:\n");
  REQUIRE(j);
  CHECK((*j)["a"] == 8080);
  CHECK((*j)["b"] == "8080");
  CHECK((*j)["c"] == "127.0.0.1:80");
  CHECK((*j)["d"] == true);
  CHECK((*j)["e"] == "true");
  CHECK((*j)["f"] == 1.5);
  CHECK((*j)["g"].is_null());
  CHECK((*j)["h"] == 16);
  CHECK((*j)["i"] == 1000);
  CHECK((*j)["j"] == "10s");
  CHECK((*j)["k"] == "yes");  // YAML 1.2: not a boolean
  CHECK((*j)["l"] == "12");
  CHECK((*j)["m"].is_null());
}

TEST_CASE("schema: YAML merge keys inside known keys", "[schema]") {
  auto c = yaml(
      "chains:\n- name: c\n  hops:\n  - name: h\n    nodes:\n"
      "    - &base {name: a, addr: 'a:1', connector: {type: socks5}}\n"
      "    - <<: *base\n      name: b\n");
  auto& nodes = c.chains.at(0).hops.at(0).nodes;
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[1].name == "b");
  CHECK(nodes[1].addr == "a:1");
  CHECK(nodes[1].connector->type == "socks5");
}

TEST_CASE("schema: syntax errors say where", "[schema]") {
  CHECK_THAT(yaml_error("services: [\n  - name: x\n    addr: : :\n"),
             Catch::StartsWith("yaml: line"));
  CHECK_THAT(json_error("{\"services\": [}"), Catch::StartsWith("json: "));
  auto r = parse_config("services: 1", Format::yaml, "my.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "my.yaml: services: expected a list, got 1");
}

TEST_CASE("schema: empty documents are empty configs", "[schema]") {
  CHECK(yaml("").services.empty());
  CHECK(yaml("# nothing\n").services.empty());
  CHECK(json("{}").services.empty());
}

TEST_CASE("schema: -C sources", "[schema]") {
  std::istringstream none;
  SECTION("inline JSON") {
    auto r = load_config_source(R"({"services":[{"name":"a","addr":":1"}]})", none);
    REQUIRE(r);
    CHECK(r->services.at(0).addr == ":1");
  }
  SECTION("stdin: JSON when it starts with '{'") {
    std::istringstream in(R"({"services":[{"name":"j"}]})");
    auto r = load_config_source("-", in);
    REQUIRE(r);
    CHECK(r->services.at(0).name == "j");
  }
  SECTION("stdin: else YAML") {
    std::istringstream in("services:\n- name: y\n");
    auto r = load_config_source("-", in);
    REQUIRE(r);
    CHECK(r->services.at(0).name == "y");
  }
  SECTION("files by extension") {
    std::string base = std::string("/tmp/gost-unit-config-") + std::to_string(::getpid());
    std::ofstream(base + ".yml") << "services:\n- name: from-yml\n";
    std::ofstream(base + ".json") << R"({"services":[{"name":"from-json"}]})";
    std::ofstream(base + ".txt") << "x";
    auto a = load_config_source(base + ".yml", none);
    auto b = load_config_source(base + ".json", none);
    auto c = load_config_source(base + ".txt", none);
    auto d = load_config_source(base + ".missing.yaml", none);
    std::remove((base + ".yml").c_str());
    std::remove((base + ".json").c_str());
    std::remove((base + ".txt").c_str());
    REQUIRE(a);
    CHECK(a->services.at(0).name == "from-yml");
    REQUIRE(b);
    CHECK(b->services.at(0).name == "from-json");
    REQUIRE_FALSE(c);
    CHECK_THAT(c.error().message, Catch::Contains("unsupported config type \"txt\""));
    REQUIRE_FALSE(d);
    CHECK_THAT(d.error().message, Catch::Contains(".missing.yaml: cannot open"));
  }
  SECTION("URLs are not supported") {
    auto r = load_config_source("https://example.com/gost.yaml", none);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("not supported"));
  }
}

TEST_CASE("schema: several sources merge", "[schema]") {
  auto a = yaml(
      "services:\n- name: a\nbypasses:\n- name: b1\nlog: {level: debug}\n"
      "limiters:\n- {name: l1}\n");
  auto b = yaml("services:\n- name: b\nbypasses:\n- name: b2\nlimiters:\n- {name: l2}\n");
  auto c = yaml("log: {level: warn}\n");
  merge_config(a, b);
  merge_config(a, c);
  REQUIRE(a.services.size() == 2);
  CHECK(a.services[1].name == "b");
  CHECK(a.bypasses.size() == 2);
  CHECK(a.extras["limiters"].size() == 2);
  CHECK(a.log->level == "warn");  // the later source wins
}

TEST_CASE("schema: -O output uses GOST's names and omits empty fields", "[schema]") {
  Config c;
  ServiceConfig s;
  s.name = "service-0";
  s.addr = ":8080";
  s.handler = HandlerConfig{};
  s.handler->type = "http";
  s.handler->chain = "chain-0";
  s.listener = ListenerConfig{};
  s.listener->type = "tcp";
  c.services.push_back(s);
  ChainConfig ch;
  ch.name = "chain-0";
  HopConfig h;
  h.name = "hop-0";
  h.selector = config::SelectorConfig{"fifo", 0, 30s, 0ms};
  NodeConfig n;
  n.name = "node-0";
  n.addr = "1.2.3.4:1080";
  n.connector = ConnectorConfig{};
  n.connector->type = "socks5";
  n.connector->metadata = Json{{"k", "true"}};  // a string that looks like a bool
  h.nodes.push_back(n);
  ch.hops.push_back(h);
  c.chains.push_back(ch);

  auto j = to_json(c);
  CHECK(
      j.dump() ==
      R"({"services":[{"name":"service-0","addr":":8080","handler":{"type":"http","chain":"chain-0"},)"
      R"("listener":{"type":"tcp"}}],"chains":[{"name":"chain-0","hops":[{"name":"hop-0",)"
      R"("selector":{"strategy":"fifo","maxFails":0,"failTimeout":"30s"},"nodes":[{"name":"node-0",)"
      R"("addr":"1.2.3.4:1080","connector":{"type":"socks5","metadata":{"k":"true"}}}]}]}]})");

  auto y = write_config(c, Format::yaml);
  CHECK_THAT(y, Catch::Contains("failTimeout: 30s"));
  CHECK_THAT(y, Catch::Contains("k: \"true\""));  // quoted, so it stays a string
  CHECK_THAT(y, Catch::Contains("maxFails: 0"));
  CHECK(write_config(Config{}, Format::yaml) == "services: []\n");
}

TEST_CASE("schema: -O round trips", "[schema]") {
  SECTION("yaml -> config -> yaml -> config") {
    auto a = yaml(kFull);
    auto y = write_config(a, Format::yaml);
    auto b = yaml(y);
    CHECK(a == b);
    CHECK(write_config(b, Format::yaml) == y);
    auto js = write_config(a, Format::json);
    CHECK(json(js) == a);
  }
  SECTION("cli -> yaml/json -> config is the same config") {
    Registry reg;  // no components: every name falls back, which is fine for this
    auto cli = build_config_from_cmd(
        {"http://alice:pw@127.0.0.1:0?bypass=~10.0.0.0/8&retries=2&udp=true&ttl=30",
         "tcp://:8000-8001/a:1,b:2?strategy=fifo&maxFails=2",
         "tls://:443?cert=c.pem&key=k.pem&interface=eth0"},
        {"socks5://u:p@1.2.3.4:1080?keepalive=true", "http://a:1,b:2?strategy=hash&bypass=x.com"},
        reg);
    REQUIRE(cli);
    for (auto f : {Format::yaml, Format::json}) {
      auto text = write_config(*cli, f);
      auto back = parse_config(text, f);
      if (!back) FAIL(back.error().message + "\n" + text);
      CHECK(*back == *cli);
      CHECK(write_config(*back, f) == text);
    }
  }
}

TEST_CASE("schema: hostile YAML is an error, not a crash", "[schema]") {
  auto cyclic = yaml_to_json("a: &x [*x]\n");
  if (cyclic) {
    // yaml-cpp may resolve the alias to an empty/undefined node; anything but a crash is fine.
    SUCCEED();
  } else {
    CHECK_THAT(cyclic.error().message, Catch::StartsWith("yaml: "));
  }
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  const char* names = "abcdefgh";
  for (int i = 1; i < 8; ++i) {
    laughs += fmt::format("{}: &{} [", names[i], names[i]);
    for (int j = 0; j < 10; ++j) laughs += fmt::format("{}*{}", j ? ", " : "", names[i - 1]);
    laughs += "]\n";
  }
  auto r = yaml_to_json(laughs);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("too many values"));
  std::string deep(1000, '[');
  auto d = yaml_to_json("a: " + deep);
  CHECK_FALSE(d);
}
