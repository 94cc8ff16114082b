// Dials a target through a two-hop chain built in code and exchanges one message.
//
//   two_hop_chain <hop1 socks5 addr> <hop2 http addr> <target addr> [message]
//
// The chain is: this program -> SOCKS5 proxy (hop 1) -> HTTP CONNECT proxy (hop 2) -> target.
// Prints what the target sent back.
#include <cstdio>
#include <future>
#include <string>

#include <asio/co_spawn.hpp>

#include "gost/builder.hpp"
#include "gost/core.hpp"

namespace {

asio::awaitable<std::string> exchange(gost::RouterPtr router, gost::Address target, std::string msg) {
  gost::DialInfo info;
  gost::SelectOptions sel;  // named: see the note on gost::Router about braced temporaries
  auto conn = co_await router->dial("tcp", target, sel, &info);
  if (!conn) co_return "error: " + conn.error().message();
  std::fprintf(stderr, "route: %s\n", info.route.c_str());
  if (auto ec = co_await gost::write_all(**conn, asio::buffer(msg))) co_return "error: " + ec.message();
  co_await (*conn)->shutdown_write();
  std::string reply;
  char buf[4096];
  for (int i = 0; i < 10000; ++i) {
    auto r = co_await (*conn)->read_some(asio::buffer(buf));
    reply.append(buf, r.bytes);
    if (r.ec) break;
  }
  co_return reply;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <socks5 hop> <http hop> <target> [message]\n", argv[0]);
    return 2;
  }
  gost::Registry reg;
  gost::register_builtin_modules(reg);

  auto chain = gost::ChainBuilder(reg)
                   .name("chain-0")
                   .hop(gost::HopBuilder("hop-0").node(gost::NodeBuilder("node-0", argv[1]).connector("socks5")))
                   .hop(gost::HopBuilder("hop-1").node(gost::NodeBuilder("node-1", argv[2]).connector("http")))
                   .build();
  if (!chain) {
    std::fprintf(stderr, "%s\n", chain.error().message.c_str());
    return 2;
  }
  auto router = std::make_shared<gost::Router>(*chain, gost::RouterOptions{.retries = 1});
  auto target = gost::Address::parse(argv[3]);
  if (!target) {
    std::fprintf(stderr, "bad target %s\n", argv[3]);
    return 2;
  }

  gost::Runtime rt(1);
  rt.start();
  std::promise<std::string> done;
  asio::co_spawn(rt.executor(0), exchange(router, *target, argc > 4 ? argv[4] : "hello through two hops"),
                 [&](std::exception_ptr e, std::string s) { done.set_value(e ? "error: exception" : s); });
  auto reply = done.get_future().get();
  rt.stop();
  rt.join();
  std::printf("%s\n", reply.c_str());
  return reply.rfind("error:", 0) == 0 ? 1 : 0;
}
