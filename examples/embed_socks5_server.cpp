// Embeds a SOCKS5 server (with optional username/password) in a program.
//
//   embed_socks5_server [addr] [user pass]      e.g. embed_socks5_server 127.0.0.1:1080 alice secret
//
// Prints "listening <addr>" once the port is bound, then serves until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <map>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "gost/core.hpp"

int main(int argc, char** argv) {
  const char* addr = argc > 1 ? argv[1] : "127.0.0.1:1080";
  gost::Runtime rt;  // one thread per core
  gost::Registry reg;
  gost::register_builtin_modules(reg);

  auto listen_at = gost::Address::parse(addr);
  if (!listen_at) {
    std::fprintf(stderr, "bad address %s\n", addr);
    return 1;
  }
  gost::ListenerArgs la;
  la.runtime = &rt;
  la.service = "socks5";
  la.addr = *listen_at;
  gost::HandlerArgs ha;
  ha.runtime = &rt;
  ha.service = "socks5";
  ha.router = std::make_shared<gost::Router>();  // no chain: connect directly
  ha.metadata.set("udp", "true");                // standard UDP ASSOCIATE
  if (argc > 3) ha.auther = gost::make_static_auther({{argv[2], argv[3]}});

  auto listener = (*reg.listener("tcp"))(la);
  auto handler = (*reg.handler("socks5"))(ha);
  if (!listener || !handler) {
    std::fprintf(stderr, "%s\n", !listener ? listener.error().message.c_str() : handler.error().message.c_str());
    return 1;
  }
  auto svc = std::make_shared<gost::Service>(rt, gost::ServiceOptions{.name = "socks5", .protocol = "socks5"},
                                             std::move(*listener), std::move(*handler));
  if (auto ec = svc->start()) {
    std::fprintf(stderr, "listen %s: %s\n", addr, ec.message().c_str());
    return 1;
  }
  std::printf("listening %s\n", svc->address().to_string().c_str());
  std::fflush(stdout);

  asio::io_context sig_ctx;
  asio::signal_set signals(sig_ctx, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {});
  rt.start();
  sig_ctx.run();  // returns after the first signal
  svc->stop();
  svc->wait_stopped(std::chrono::seconds(5));
  rt.stop();
  rt.join();
  return 0;
}
