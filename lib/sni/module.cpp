#include "gost/sni/sni.hpp"

namespace gost::sni {

void register_module(Registry& r) {
  r.add_handler("sni", [](const HandlerArgs& a) { return make_sni_handler(a); });
  r.add_connector("sni", [](const ConnectorArgs& a) { return make_sni_connector(a); });
}

}  // namespace gost::sni
