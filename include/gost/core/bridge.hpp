#pragma once
// Relaying between two streams: bytes both ways with half-close propagation and backpressure
// (a direction reads again only after its previous write finished).

#include <chrono>
#include <cstdint>
#include <functional>
#include <system_error>

#include <asio/awaitable.hpp>

#include "gost/core/stream.hpp"

namespace gost {

struct BridgeResult {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
  std::error_code ec;  // first error other than EOF / cancellation
};

struct BridgeOptions {
  // End when neither side sent anything for this long (0 = never).
  std::chrono::milliseconds idle_timeout{};
  // `a` has most likely sent bytes already (a port forwarder's client speaks while the upstream
  // is dialled): read them at once instead of first waiting for readiness.
  bool a_has_data = false;
};

// Copies a -> b and b -> a until both directions ended. When one side ends its direction
// (EOF), the other side's write half is shut down, and the opposite direction keeps going.
// Closes both streams at the end.
asio::awaitable<BridgeResult> bridge(Stream& a, Stream& b, BridgeOptions opts);
asio::awaitable<BridgeResult> bridge(Stream& a, Stream& b);

// The same relay, started on a's executor without a coroutine waiting for it: `done` is called
// (from a fresh handler on that executor) once both directions ended. a and b must stay alive
// until then (`done` may own them). A relay started this way keeps no coroutine frame while the
// connection is idle.
void start_bridge(Stream& a, Stream& b, BridgeOptions opts, std::function<void(BridgeResult)> done);

}  // namespace gost
