#include "gost/mux/session.hpp"
#include "gost/core/registry.hpp"

namespace gost::mux {
void register_module(Registry&) {}
}  // namespace gost::mux
