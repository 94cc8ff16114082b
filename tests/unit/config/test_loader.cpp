// Config -> running services (App) and the builders: errors at start-up, wiring, a real
// service on 127.0.0.1:0, and CLI -> YAML -> config building the same services.
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>

#include "gost/builder.hpp"
#include "gost/config/cmd.hpp"
#include "gost/config/config.hpp"
#include "gost/config/loader.hpp"
#include "gost/core.hpp"

using namespace gost;
using namespace gost::config;
using namespace std::chrono_literals;

namespace {

// A handler that echoes what it reads; its factory records the HandlerArgs it was given.
class EchoHandler final : public Handler {
 public:
  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.protocol = "echo";
    char buf[4096];
    for (;;) {
      auto r = co_await conn->read_some(asio::buffer(buf));
      if (r.bytes) {
        auto ec = co_await write_all(*conn, asio::const_buffer(buf, r.bytes));
        if (ec) break;
      }
      if (r.ec) break;
    }
    co_await conn->shutdown_write();
  }
};

class NullConnector final : public Connector {
 public:
  asio::awaitable<Result<StreamPtr>> connect(StreamPtr, std::string, Address) override {
    co_return Result<StreamPtr>(errc::unsupported);
  }
};

struct Captured {
  std::mutex mu;
  std::map<std::string, HandlerArgs> handlers;
  std::map<std::string, ConnectorArgs> connectors;
};
Captured& captured() {
  static Captured c;
  return c;
}

const Registry& registry() {
  static Registry r = [] {
    Registry reg;
    register_core(reg);  // tcp, udp listeners and dialers; forward connector
    auto echo = [](const HandlerArgs& a) -> Result<HandlerPtr, ConfigError> {
      std::lock_guard lk(captured().mu);
      captured().handlers[a.service] = a;
      return HandlerPtr(std::make_shared<EchoHandler>());
    };
    for (auto h : {"echo", "http", "socks5", "auto", "tcp"}) reg.add_handler(h, echo);
    auto conn = [](const ConnectorArgs& a) -> Result<ConnectorPtr, ConfigError> {
      std::lock_guard lk(captured().mu);
      captured().connectors[a.node_addr.to_string()] = a;
      return ConnectorPtr(std::make_shared<NullConnector>());
    };
    for (auto c : {"http", "socks5"}) reg.add_connector(c, conn);
    return reg;
  }();
  return r;
}

HandlerArgs handler_args(const std::string& service) {
  std::lock_guard lk(captured().mu);
  auto it = captured().handlers.find(service);
  REQUIRE(it != captured().handlers.end());
  return it->second;
}

Config yaml(const std::string& text) {
  auto r = parse_config(text, Format::yaml);
  if (!r) FAIL(r.error().message);
  return std::move(*r);
}

std::string load_error(const std::string& text) {
  Runtime rt(1);
  auto app = App::create(rt, registry(), yaml(text), std::make_shared<Logger>(LogLevel::none));
  REQUIRE_FALSE(app.ok());
  return app.error().message;
}

std::unique_ptr<App> load(Runtime& rt, const Config& cfg, LoggerPtr log = nullptr) {
  if (!log) log = std::make_shared<Logger>(LogLevel::none);
  auto app = App::create(rt, registry(), cfg, log);
  if (!app) FAIL(app.error().message);
  return std::move(*app);
}

std::optional<std::string> authenticate(const AutherPtr& a, std::string user, std::string pass) {
  asio::io_context ctx;
  std::optional<std::string> out;
  asio::co_spawn(ctx, a->authenticate(std::move(user), std::move(pass), AuthOptions{}),
                 [&](std::exception_ptr, std::optional<std::string> r) { out = std::move(r); });
  ctx.run_for(5s);
  return out;
}

const char* kSvc = "services:\n- name: s\n  addr: 127.0.0.1:0\n  handler: {type: echo}\n";

}  // namespace

TEST_CASE("loader: unknown component types are start-up errors", "[loader]") {
  CHECK(load_error("services:\n- name: service-0\n  handler: {type: xyz}\n") ==
        "unknown handler type \"xyz\" in service \"service-0\"");
  CHECK(
      load_error(
          "services:\n- name: s\n  handler: {type: echo}\n  listener: {type: nosuchlistener}\n") ==
      "unknown listener type \"nosuchlistener\" in service \"s\"");
  CHECK_THAT(load_error("chains:\n- name: c\n  hops:\n  - name: h\n    nodes:\n    - name: n\n"
                        "      addr: 127.0.0.1:1\n      connector: {type: nosuchconnector}\n"),
             Catch::Contains("unknown connector type \"nosuchconnector\" in node \"n\""));
  CHECK_THAT(load_error("chains:\n- name: c\n  hops:\n  - name: h\n    nodes:\n    - name: n\n"
                        "      addr: 127.0.0.1:1\n      connector: {type: socks5}\n      dialer: "
                        "{type: quic9}\n"),
             Catch::Contains("unknown dialer type \"quic9\" in node \"n\""));
  // Missing types default as in GOST: handler auto, listener tcp, connector http, dialer tcp.
  Runtime rt(1);
  auto app = load(rt, yaml("services:\n- name: d\n  addr: 127.0.0.1:0\n"
                           "chains:\n- name: c\n  hops:\n  - name: h\n    nodes: [{name: n, addr: "
                           "'127.0.0.1:9'}]\n"));
  CHECK(app->services().size() == 1);
  CHECK(app->chain("c")->hops.at(0)->nodes.at(0)->connector);
}

TEST_CASE("loader: names that are referenced but not defined", "[loader]") {
  CHECK(load_error("services:\n- name: s\n  handler: {type: echo, chain: nosuchchain}\n") ==
        "service \"s\": chain \"nosuchchain\" is not defined");
  CHECK(load_error("services:\n- name: s\n  bypass: bp\n  handler: {type: echo}\n") ==
        "service \"s\": bypass \"bp\" is not defined");
  CHECK(load_error("services:\n- name: s\n  bypasses: [bp]\n  handler: {type: echo}\n") ==
        "service \"s\": bypass \"bp\" is not defined");
  CHECK(load_error("services:\n- name: s\n  admission: adm\n  handler: {type: echo}\n") ==
        "service \"s\": admission \"adm\" is not defined");
  CHECK(load_error("services:\n- name: s\n  handler: {type: echo, auther: a}\n") ==
        "service \"s\": auther \"a\" is not defined");
  CHECK(load_error("services:\n- name: s\n  handler: {type: echo}\n  forwarder: {hop: h}\n") ==
        "service \"s\": forwarder: hop \"h\" is not defined");
  CHECK(load_error("chains:\n- name: c\n  hops:\n  - name: h9\n") ==
        "chain \"c\": hop \"h9\" has no nodes and is not a top-level hop");
  CHECK_THAT(load_error("chains:\n- name: c\n  hops:\n  - name: h\n    bypass: nb\n"
                        "    nodes: [{name: n, addr: 'a:1'}]\n"),
             Catch::Contains("bypass \"nb\" is not defined"));
  // Definitions must come before use only by kind: a chain may use any top-level hop.
  Runtime rt(1);
  auto app = load(rt, yaml("chains:\n- name: c\n  hops:\n  - name: shared\n"
                           "hops:\n- name: shared\n  nodes: [{name: n, addr: '127.0.0.1:1', "
                           "connector: {type: socks5}}]\n"));
  CHECK(app->chain("c")->hops.at(0) == app->hop("shared"));
}

TEST_CASE("loader: other start-up errors", "[loader]") {
  CHECK(
      load_error(
          "services:\n- name: a\n  handler: {type: echo}\n- name: a\n  handler: {type: echo}\n") ==
      "duplicate service name \"a\"");
  CHECK(load_error("bypasses:\n- name: b\n- name: b\n") == "duplicate bypass name \"b\"");
  CHECK(load_error("services:\n- addr: ':1'\n") == "services[0]: a service needs a name");
  CHECK_THAT(load_error("bypasses:\n- name: bad\n  matchers: [10.0.0.0/99]\n"),
             Catch::StartsWith("bypass \"bad\": "));
  CHECK_THAT(load_error("admissions:\n- name: bad\n  matchers: ['192.168.0.0/40']\n"),
             Catch::StartsWith("admission \"bad\": "));
  CHECK_THAT(load_error("bypasses:\n- name: b\n  file: {path: /nonexistent/gost-bypass.txt}\n"),
             Catch::Contains("bypass \"b\": cannot read file \"/nonexistent/gost-bypass.txt\""));
  CHECK_THAT(load_error("bypasses:\n- name: b\n  network: sctp\n"),
             Catch::Contains("network \"sctp\""));
  CHECK_THAT(load_error("hops:\n- name: h\n  selector: {strategy: weird}\n  nodes: [{name: n, "
                        "addr: '127.0.0.1:1', connector: {type: socks5}}]\n"),
             Catch::StartsWith("hop \"h\": selector"));
  CHECK_THAT(load_error("services:\n- name: s\n  addr: nonsense\n  handler: {type: echo}\n"),
             Catch::Contains("invalid address \"nonsense\""));
  CHECK_THAT(load_error("services:\n- name: s\n  handler: {type: echo}\n  forwarder:\n    nodes: "
                        "[{name: t, addr: 'no-port'}]\n"),
             Catch::Contains("invalid address \"no-port\""));
  CHECK_THAT(
      load_error("services:\n- name: s\n  handler: {type: echo}\n  forwarder: {nodes: []}\n"),
      Catch::Contains("forwarder has no nodes"));
  CHECK(load_error("log: {level: loud}\n") == "log.level: unknown level \"loud\"");
  CHECK(load_error("log: {format: xml}\n") == "log.format: unknown format \"xml\"");
  CHECK_THAT(
      load_error(
          "services:\n- name: s\n  handler: {type: echo}\n  metadata: {dialTimeout: soon}\n"),
      Catch::Contains("dialTimeout: bad duration \"soon\""));
}

TEST_CASE("loader: GOST features this build lacks are refused, not ignored", "[loader]") {
  CHECK(load_error("resolvers:\n- name: r\n") ==
        "config: \"resolvers\" is not supported by this build");
  CHECK(load_error("services:\n- name: s\n  limiter: l\n  handler: {type: echo}\n") ==
        "service \"s\": \"limiter\" is not supported by this build");
  CHECK(load_error("services:\n- name: s\n  handler: {type: echo, observer: o}\n") ==
        "service \"s\": handler: \"observer\" is not supported by this build");
  CHECK_THAT(load_error("api: {addr: ':18080'}\n"), Catch::Contains("api"));
  CHECK_THAT(load_error("services:\n- name: s\n  interface: eth0\n  handler: {type: echo}\n"),
             Catch::Contains("\"interface\" is not supported by this build"));
  CHECK_THAT(
      load_error("hops:\n- name: h\n  metadata: {so_mark: 5}\n  nodes: [{name: n, addr: 'a:1'}]\n"),
      Catch::Contains("hop \"h\": metadata \"so_mark\" is not supported"));
  CHECK_THAT(
      load_error(
          "hops:\n- name: h\n  selector: {maxLatency: 1s}\n  nodes: [{name: n, addr: 'a:1'}]\n"),
      Catch::Contains("maxLatency"));
  CHECK_THAT(load_error("hops:\n- name: h\n  nodes: [{name: n, addr: 'a:1', dialer: {type: tcp, "
                        "auth: {username: u}}}]\n"),
             Catch::Contains("dialer auth is not supported"));
  // listener.chain (rtcp / rudp) must name a chain that exists.
  CHECK_THAT(
      load_error(
          "services:\n- name: s\n  handler: {type: echo}\n  listener: {type: rtcp, chain: c}\n"),
      Catch::Contains("chain \"c\""));
  // Empty values of those keys are fine (GOST writes some of them itself).
  Runtime rt(1);
  auto app = load(
      rt, yaml("services:\n- name: s\n  addr: 127.0.0.1:0\n  limiter: ''\n  handler: {type: echo}\n"
               "  status: {state: ready}\nresolvers: []\n"));
  CHECK(app->services().size() == 1);
}

TEST_CASE("loader: wiring of chains, authers, bypasses, forwarders", "[loader]") {
  std::string dir = "/tmp/gost-unit-loader-" + std::to_string(::getpid());
  std::string users = dir + ".users", matchers = dir + ".matchers";
  std::ofstream(users) << "# users\nfileuser filepass\n";
  std::ofstream(matchers) << "# blocked\n*.blocked.test   # comment\n\n";
  auto cfg = yaml(R"(
services:
- name: full
  addr: 127.0.0.1:0
  bypasses: [bp-0, bp-file]
  admission: adm-0
  handler:
    type: http
    retries: 2
    chain: chain-0
    authers: [auther-0]
    metadata: {udp: true, ttl: 30s}
  listener: {type: tcp, metadata: {keepalive: true}}
  metadata: {dialTimeout: 3s}
- name: fwd
  addr: 127.0.0.1:0
  handler: {type: tcp, auth: {username: u, password: p}}
  forwarder:
    selector: {strategy: fifo, maxFails: 2, failTimeout: 30s}
    nodes:
    - {name: t0, addr: "127.0.0.1:9"}
    - {name: t1, addr: "127.0.0.1:10", metadata: {backup: true, weight: 3}}
chains:
- name: chain-0
  hops:
  - name: hop-0
    selector: {strategy: round, maxFails: 3, failTimeout: 30s}
    bypass: bp-0
    nodes:
    - name: node-0
      addr: "127.0.0.1:1080"
      connector: {type: socks5, auth: {username: cu, password: cp}, metadata: {notls: 1}}
      dialer: {type: tcp, tls: {serverName: example.com}}
    - name: node-1
      addr: "127.0.0.1:1081"
      connector: {type: socks5}
authers:
- name: auther-0
  auths: [{username: u1, password: p1}]
  file: {path: )" +
                  users + R"(}
admissions:
- {name: adm-0, whitelist: true, matchers: [127.0.0.1]}
bypasses:
- {name: bp-0, matchers: [10.0.0.0/8]}
- {name: bp-file, file: {path: )" +
                  matchers + R"(}}
)");
  Runtime rt(1);
  auto app = load(rt, cfg);
  std::remove(users.c_str());
  std::remove(matchers.c_str());
  REQUIRE(app->services().size() == 2);

  auto full = handler_args("full");
  REQUIRE(full.router);
  CHECK(full.router->options().retries == 2);
  CHECK(full.router->options().timeout == 3s);
  REQUIRE(full.router->chain());
  CHECK(full.router->chain() == app->chain("chain-0"));
  auto& hop = full.router->chain()->hops.at(0);
  CHECK(hop->name == "hop-0");
  REQUIRE(hop->nodes.size() == 2);
  CHECK(hop->nodes[0]->name == "node-0");
  CHECK(hop->nodes[0]->addr == "127.0.0.1:1080");
  CHECK(hop->nodes[0]->dialer);
  CHECK(hop->nodes[0]->connector);
  CHECK(hop->bypass);
  CHECK(hop->bypass->contains("tcp", "10.1.2.3:80"));
  CHECK(full.metadata.get_bool("udp"));
  CHECK(full.metadata.get_duration("ttl") == 30s);
  {
    std::lock_guard lk(captured().mu);
    auto& ca = captured().connectors.at("127.0.0.1:1080");
    REQUIRE(ca.auth);
    CHECK(ca.auth->username == "cu");
    CHECK(ca.auth->password == "cp");
    CHECK(ca.metadata.get_string("notls") == "1");
  }
  REQUIRE(full.auther);
  CHECK(authenticate(full.auther, "u1", "p1") == std::optional<std::string>("u1"));
  CHECK(authenticate(full.auther, "fileuser", "filepass") ==
        std::optional<std::string>("fileuser"));
  CHECK_FALSE(authenticate(full.auther, "u1", "bad"));
  REQUIRE(full.bypass);
  CHECK(full.bypass->contains("tcp", "10.0.0.1:80"));
  CHECK(full.bypass->contains("tcp", "www.blocked.test:443"));
  CHECK_FALSE(full.bypass->contains("tcp", "example.com:443"));
  CHECK_FALSE(full.forwarder);
  CHECK(app->admission("adm-0")->admit("tcp", Address("127.0.0.1", 5000)));
  CHECK_FALSE(app->admission("adm-0")->admit("tcp", Address("10.0.0.1", 5000)));

  auto fwd = handler_args("fwd");
  REQUIRE(fwd.router);
  CHECK_FALSE(fwd.router->chain());  // no chain: direct, but never a null router
  REQUIRE(fwd.forwarder);
  REQUIRE(fwd.forwarder->nodes.size() == 2);
  CHECK(fwd.forwarder->nodes[0]->name == "t0");
  CHECK(fwd.forwarder->nodes[0]->addr == "127.0.0.1:9");
  CHECK_FALSE(fwd.forwarder->nodes[0]->connector);
  CHECK(fwd.forwarder->nodes[1]->backup);
  CHECK(fwd.forwarder->nodes[1]->weight == 3);
  CHECK(fwd.forwarder->selector);
  REQUIRE(fwd.auther);
  CHECK(authenticate(fwd.auther, "u", "p"));
  CHECK_FALSE(fwd.bypass);
}

TEST_CASE("loader: a service from a config listens on 127.0.0.1:0 and serves", "[loader]") {
  char path[] = "/tmp/gost-unit-log-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  auto log = std::make_shared<Logger>(LogLevel::info);
  REQUIRE(log->set_output(path));

  Runtime rt(2);
  auto app = load(rt, yaml(kSvc), log);
  rt.start();
  std::string what;
  REQUIRE_FALSE(app->start(&what));
  auto addr = app->services().at(0)->address();
  REQUIRE(addr.port != 0);

  asio::io_context ctx;
  asio::ip::tcp::socket sock(ctx);
  sock.connect({asio::ip::make_address("127.0.0.1"), addr.port});
  std::string msg = "hello through a config-built service";
  asio::write(sock, asio::buffer(msg));
  std::string back(msg.size(), '\0');
  asio::read(sock, asio::buffer(back));
  CHECK(back == msg);
  sock.close();

  app->stop(5s);
  rt.stop();
  rt.join();
  log->set_output("none");

  std::ifstream f(path);
  std::string line, found;
  while (std::getline(f, line)) {
    if (line.find("msg=listening") != std::string::npos) found = line;
  }
  std::remove(path);
  CHECK_THAT(found, Catch::Contains(" level=info msg=listening service=s addr=127.0.0.1:" +
                                    std::to_string(addr.port) + " handler=echo listener=tcp"));
}

TEST_CASE("loader: a port in use is one clear error naming the service", "[loader]") {
  asio::io_context ctx;
  asio::ip::tcp::acceptor busy(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = busy.local_endpoint().port();
  Runtime rt(1);
  auto app =
      load(rt, yaml("services:\n- name: first\n  addr: 127.0.0.1:0\n  handler: {type: echo}\n"
                    "- name: second\n  addr: 127.0.0.1:" +
                    std::to_string(port) + "\n  handler: {type: echo}\n"));
  rt.start();
  std::string what;
  auto ec = app->start(&what);
  CHECK(ec);
  CHECK_THAT(what, Catch::StartsWith("service \"second\": cannot listen on 127.0.0.1:" +
                                     std::to_string(port) + ": "));
  rt.stop();
  rt.join();
}

TEST_CASE("loader: CLI -> YAML -> config builds the same services", "[loader]") {
  Registry cli_reg;
  register_core(cli_reg);
  cli_reg.add_handler("echo", [](const HandlerArgs&) -> Result<HandlerPtr, ConfigError> {
    return HandlerPtr(std::make_shared<EchoHandler>());
  });
  cli_reg.add_handler("socks5", [](const HandlerArgs&) -> Result<HandlerPtr, ConfigError> {
    return HandlerPtr(std::make_shared<EchoHandler>());
  });
  cli_reg.add_connector("socks5", [](const ConnectorArgs&) -> Result<ConnectorPtr, ConfigError> {
    return ConnectorPtr(std::make_shared<NullConnector>());
  });
  auto cli = build_config_from_cmd(
      {"echo://u:p@127.0.0.1:0?bypass=10.0.0.0/8&retries=1",
       "tcp://127.0.0.1:0/127.0.0.1:9,127.0.0.1:10?strategy=fifo"},
      {"socks5://127.0.0.1:1080,127.0.0.1:1081", "socks5://127.0.0.1:1082"}, cli_reg);
  REQUIRE(cli);
  auto back = parse_config(write_config(*cli, Format::yaml), Format::yaml);
  REQUIRE(back);
  REQUIRE(*back == *cli);

  Runtime rt(1);
  auto describe = [&](const Config& c) {
    auto app = App::create(rt, registry(), c, std::make_shared<Logger>(LogLevel::none));
    if (!app) FAIL(app.error().message);
    std::string out;
    for (auto& s : (*app)->services()) {
      auto a = handler_args(s->name());
      out += s->name() + " retries=" + std::to_string(a.router->options().retries);
      out += a.bypass ? " bypass" : "";
      out += a.auther ? " auther" : "";
      if (auto ch = a.router->chain()) {
        out += " chain=" + ch->name;
        for (auto& h : ch->hops) {
          out += " " + h->name + "[";
          for (auto& n : h->nodes) out += n->name + "@" + n->addr + " ";
          out += "]";
        }
      }
      if (a.forwarder) {
        out += " forward[";
        for (auto& n : a.forwarder->nodes) out += n->name + "@" + n->addr + " ";
        out += "]";
      }
      out += "\n";
    }
    return out;
  };
  auto d1 = describe(*cli);
  auto d2 = describe(*back);
  CHECK(d1 == d2);
  CHECK(d1 ==
        "service-0 retries=1 bypass auther chain=chain-0 hop-0[node-0@127.0.0.1:1080 "
        "node-1@127.0.0.1:1081 ] "
        "hop-1[node-0@127.0.0.1:1082 ]\n"
        "service-1 retries=0 chain=chain-0 hop-0[node-0@127.0.0.1:1080 node-1@127.0.0.1:1081 ] "
        "hop-1[node-0@127.0.0.1:1082 ] forward[target-0@127.0.0.1:9 target-1@127.0.0.1:10 ]\n");
}

TEST_CASE("builder: chains and services in code", "[builder]") {
  const Registry& reg = registry();
  auto chain = ChainBuilder(reg)
                   .name("c")
                   .hop(HopBuilder("h").strategy("fifo").node(NodeBuilder("n1", "127.0.0.1:1080")
                                                                  .connector("socks5")
                                                                  .dialer("tcp")
                                                                  .auth("u", "p")
                                                                  .metadata("k", "v")))
                   .build();
  REQUIRE(chain);
  auto& n1 = (*chain)->hops.at(0)->nodes.at(0);
  CHECK(n1->name == "n1");
  CHECK(n1->metadata.get_string("k") == "v");
  CHECK(n1->connector);
  CHECK(n1->dialer);

  Runtime rt(1);
  auto svc = ServiceBuilder(rt, reg)
                 .name("s")
                 .addr("127.0.0.1:0")
                 .handler("echo")
                 .listener("tcp")
                 .chain(*chain)
                 .retries(2)
                 .auth("user", "pass")
                 .bypass(*make_bypass({"10.0.0.0/8"}))
                 .forward({"127.0.0.1:7", "127.0.0.1:8"})
                 .metadata("udp", "true")
                 .build();
  REQUIRE(svc);
  CHECK((*svc)->name() == "s");
  auto a = handler_args("s");
  CHECK(a.router->chain() == *chain);
  CHECK(a.router->options().retries == 2);
  CHECK(a.auther);
  CHECK(a.bypass);
  REQUIRE(a.forwarder);
  CHECK(a.forwarder->nodes.at(1)->name == "target-1");
  CHECK(a.metadata.get_bool("udp"));

  auto bad = ChainBuilder(reg)
                 .name("c")
                 .hop(HopBuilder("h").node(NodeBuilder("n", "127.0.0.1:1").connector("nope")))
                 .build();
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message ==
        "chain \"c\": hop \"h\": unknown connector type \"nope\" in node \"n\"");
  auto empty_hop = ChainBuilder(reg).name("c").hop(HopBuilder("h")).build();
  REQUIRE_FALSE(empty_hop);
  CHECK_THAT(empty_hop.error().message, Catch::Contains("hop \"h\" has no nodes"));
  auto bad_target = ServiceBuilder(rt, reg).handler("tcp").forward({"nowhere"}).build();
  REQUIRE_FALSE(bad_target);
  CHECK_THAT(bad_target.error().message, Catch::Contains("invalid address \"nowhere\""));
  auto bad_handler = ServiceBuilder(rt, reg).name("x").handler("nope").build();
  REQUIRE_FALSE(bad_handler);
  CHECK(bad_handler.error().message == "unknown handler type \"nope\" in service \"x\"");
}

TEST_CASE("log config", "[loader]") {
  Logger l(LogLevel::info);
  CHECK_FALSE(apply_log_config(LogConfig{"none", "debug", "json", {}}, l));
  CHECK(l.level() == LogLevel::debug);
  CHECK(l.format() == LogFormat::json);
  CHECK_FALSE(apply_log_config(LogConfig{"", "trace", "text", {}}, l));
  CHECK(l.level() == LogLevel::trace);
  CHECK(l.format() == LogFormat::text);
  auto e = apply_log_config(LogConfig{"", "loud", "", {}}, l);
  REQUIRE(e);
  CHECK(e->message == "log.level: unknown level \"loud\"");
  auto e2 = apply_log_config(LogConfig{"/nonexistent/dir/gost.log", "", "", {}}, l);
  REQUIRE(e2);
  CHECK_THAT(e2->message,
             Catch::StartsWith("log.output: cannot open \"/nonexistent/dir/gost.log\""));
}
