// Uses the installed package: fills a registry with every built-in module and checks that the
// core transports and the proxy protocols are there, then starts and stops a runtime.
#include <cstdio>

#include "gost/core.hpp"

int main() {
  gost::Registry reg;
  gost::register_builtin_modules(reg);
  const char* handlers[] = {"tcp", "udp", "http", "socks5", "socks4", "auto"};
  int missing = 0;
  for (auto* h : handlers) {
    if (!reg.handler(h)) {
      std::printf("missing handler %s\n", h);
      ++missing;
    }
  }
  if (!reg.listener("tcp") || !reg.dialer("tcp") || !reg.connector("socks5")) ++missing;
  gost::Runtime rt(1);
  rt.start();
  rt.stop();
  rt.join();
  std::printf("gost package consumer: %zu handlers, %d missing\n", reg.handler_names().size(), missing);
  return missing == 0 ? 0 : 1;
}
