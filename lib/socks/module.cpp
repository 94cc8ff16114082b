#include "gost/socks/socks.hpp"

namespace gost::socks {

void register_module(Registry& r) {
  r.add_handler("socks5", make_socks5_handler);
  r.add_handler("socks", make_socks5_handler);
  r.add_handler("socks4", make_socks4_handler);
  r.add_handler("socks4a", make_socks4_handler);
  r.add_connector("socks5", make_socks5_connector);
  r.add_connector("socks", make_socks5_connector);
  r.add_connector("socks4", [](const ConnectorArgs& a) { return make_socks4_connector(a, false); });
  r.add_connector("socks4a", [](const ConnectorArgs& a) { return make_socks4_connector(a, true); });
}

}  // namespace gost::socks
