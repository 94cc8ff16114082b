#include "gost/relay/relay.hpp"

namespace gost::relay {

void register_module(Registry& r) {
  r.add_handler("relay", make_relay_handler);
  r.add_connector("relay", make_relay_connector);
}

}  // namespace gost::relay
