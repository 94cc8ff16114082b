// Embeds a SOCKS5 server (with optional username/password) in a program.
//
//   embed_socks5_server [addr] [user pass]      e.g. embed_socks5_server 127.0.0.1:1080 alice secret
//
// Prints "listening <addr>" once the port is bound, then serves until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "gost/builder.hpp"
#include "gost/core.hpp"

int main(int argc, char** argv) {
  const char* addr = argc > 1 ? argv[1] : "127.0.0.1:1080";
  gost::Runtime rt;  // one thread per core
  gost::Registry reg;
  gost::register_builtin_modules(reg);

  gost::ServiceBuilder b(rt, reg);
  b.name("socks5").addr(addr).handler("socks5").listener("tcp").metadata("udp", "true");  // + UDP ASSOCIATE
  if (argc > 3) b.auth(argv[2], argv[3]);
  auto svc = b.build();
  if (!svc) {
    std::fprintf(stderr, "%s\n", svc.error().message.c_str());
    return 1;
  }
  rt.start();
  if (auto ec = (*svc)->start()) {
    std::fprintf(stderr, "listen %s: %s\n", addr, ec.message().c_str());
    return 1;
  }
  std::printf("listening %s\n", (*svc)->address().to_string().c_str());
  std::fflush(stdout);

  asio::io_context sig_ctx;
  asio::signal_set signals(sig_ctx, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {});
  sig_ctx.run();  // returns after the first signal
  (*svc)->stop();
  (*svc)->wait_stopped(std::chrono::seconds(5));
  rt.stop();
  rt.join();
  return 0;
}
