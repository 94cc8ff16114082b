#include "gost/http2/http2.hpp"

namespace gost::http2 {

void register_module(Registry& r) {
  r.add_listener("h2c", make_h2c_listener);
  r.add_listener("h2", make_h2_listener);
  r.add_listener("http2", make_http2_listener);
  r.add_listener("grpc", make_grpc_listener);
  r.add_dialer("h2c", make_h2c_dialer);
  r.add_dialer("h2", make_h2_dialer);
  r.add_dialer("http2", make_http2_dialer);
  r.add_dialer("grpc", make_grpc_dialer);
  r.add_handler("http2", make_http2_handler);
  r.add_connector("http2", make_http2_connector);
}

}  // namespace gost::http2
