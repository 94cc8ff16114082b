#include "gost/ss/ss.hpp"

namespace gost::ss {

void register_module(Registry& r) {
  r.add_handler("ss", make_ss_handler);
  r.add_handler("ssu", make_ssu_handler);
  r.add_connector("ss", make_ss_connector);
  r.add_connector("ssu", make_ssu_connector);
}

}  // namespace gost::ss
