#include "gost/http/http.hpp"

namespace gost::http {

void register_module(Registry& r) {
  r.add_handler("http", make_http_handler);
  r.add_connector("http", make_http_connector);
}

}  // namespace gost::http
