#pragma once
// Internal to gost_core: building a route's connection, shared by Router::dial/associate
// (router.cpp) and Router::bind (bind.cpp).

#include <chrono>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "gost/core/chain.hpp"

namespace gost::detail {

// "direct" or "node-0@127.0.0.1:1080 > node-1@...".
std::string describe_route(const std::vector<NodePtr>& route);

// Builds the connection through every node of the route; returns the stream that reaches the
// last node (after its dialer's and connector's handshakes), marking the node at fault on failure.
asio::awaitable<Result<StreamPtr>> connect_nodes(std::vector<NodePtr> route,
                                                 std::chrono::milliseconds timeout);

}  // namespace gost::detail
