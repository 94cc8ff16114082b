#pragma once
// Port forwarding handlers: "tcp"/"forward" relay each accepted stream, and "udp" each
// datagram session, to a target chosen from the forwarder hop, directly or through the chain.

#include "gost/core/registry.hpp"

namespace gost::forward {

// network "tcp" or "udp". Needs args.forwarder with at least one node.
Result<HandlerPtr, ConfigError> make_forward_handler(const HandlerArgs& args, std::string network);

void register_module(Registry& r);

}  // namespace gost::forward
