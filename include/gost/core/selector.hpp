#pragma once
// Selector: picks a node of a hop (round, rand, fifo, hash) after filtering out failed nodes
// (maxFails within failTimeout) and backup nodes (used only when nothing else is usable).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/error.hpp"

namespace gost {

class Node;
using NodePtr = std::shared_ptr<Node>;

struct SelectOptions {
  std::string network;   // "tcp" / "udp"
  std::string addr;      // target "host:port"
  std::string host;      // target host (hash source with hash=host)
  std::string client_id; // authenticated user; the hash strategy's first choice
  std::string hash_key;  // explicit hash source (set by handlers from `hash` metadata)
  Address client;
};

// Failure bookkeeping of a node. Thread-safe.
class FailMarker {
 public:
  void mark() noexcept;
  void reset() noexcept;
  std::int64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  // Time of the last failure (steady clock, ms since epoch of the clock).
  std::int64_t last_ms() const noexcept { return last_ms_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> count_{0};
  std::atomic<std::int64_t> last_ms_{0};
};

class Selector {
 public:
  virtual ~Selector() = default;
  // Returns one of nodes, or nullptr when nodes is empty.
  virtual NodePtr select(const std::vector<NodePtr>& nodes, const SelectOptions& opts) = 0;
};
using SelectorPtr = std::shared_ptr<Selector>;

struct SelectorConfig {
  std::string strategy = "round";  // round|rr, rand|random, fifo|ha, hash
  int max_fails = 1;
  std::chrono::milliseconds fail_timeout{10000};
};

// Builds the standard selector; an unknown strategy is a ConfigError.
Result<SelectorPtr, ConfigError> make_selector(const SelectorConfig& cfg);

}  // namespace gost
