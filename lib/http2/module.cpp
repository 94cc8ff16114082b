#include "gost/core/registry.hpp"

namespace gost::http2 {

void register_module(Registry&) {}

}  // namespace gost::http2
