// Node selection with GOST's semantics (go-gost/x selector/, hop/):
//   FailFilter: with two or more nodes, a node is left out while fails >= maxFails and
//     now - lastFail < failTimeout; a node's own max_fails / fail_timeout replace the selector's,
//     and a value <= 0 means the default (1 / 10 s).
//   BackupFilter: with two or more nodes, backup nodes are used only when no other node is left.
//   When the filters leave nothing (every node failed), the first node is tried as a last resort,
//     as GOST's hop does since 2026-08 (before that, the hop returned nothing and the route was
//     cut there).
//   Strategies: round robin (shared atomic counter), weighted random (weight <= 0 counts as 1),
//     fifo (the first usable node), hash (crc32 of the client id, else of the hash key, else
//     random).
#include "gost/core/selector.hpp"

#include <algorithm>
#include <array>
#include <random>

#include "gost/core/chain.hpp"

namespace gost {
namespace {

constexpr int kDefaultMaxFails = 1;
constexpr std::chrono::milliseconds kDefaultFailTimeout{10000};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CRC-32 (IEEE 802.3), as Go's crc32.ChecksumIEEE, so hash selection picks the same index.
std::uint32_t crc32(std::string_view s) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : s) c = table[(c ^ ch) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 g{std::random_device{}()};
  return g;
}

enum class Strategy { round, rand, fifo, hash };

bool is_failed(const Node& n, int max_fails, std::chrono::milliseconds fail_timeout,
               std::int64_t now) {
  int mf = n.max_fails >= 0 ? n.max_fails : max_fails;
  auto ft = n.fail_timeout.count() >= 0 ? n.fail_timeout : fail_timeout;
  if (mf <= 0) mf = kDefaultMaxFails;
  if (ft.count() <= 0) ft = kDefaultFailTimeout;
  return n.marker.count() >= mf && now - n.marker.last_ms() < ft.count();
}

// FailFilter then BackupFilter; empty when every node failed.
std::vector<NodePtr> filter(const std::vector<NodePtr>& nodes, int max_fails,
                            std::chrono::milliseconds fail_timeout) {
  if (nodes.size() <= 1) return nodes;
  std::vector<NodePtr> healthy;
  healthy.reserve(nodes.size());
  const auto now = now_ms();
  for (const auto& n : nodes) {
    if (!is_failed(*n, max_fails, fail_timeout, now)) healthy.push_back(n);
  }
  if (healthy.size() <= 1) return healthy;
  std::vector<NodePtr> primary;
  primary.reserve(healthy.size());
  for (const auto& n : healthy) {
    if (!n->backup) primary.push_back(n);
  }
  return primary.empty() ? healthy : primary;
}

NodePtr apply(Strategy s, const std::vector<NodePtr>& v, const SelectOptions& opts,
              std::atomic<std::uint64_t>& counter) {
  switch (s) {
    case Strategy::round: {
      auto i = counter.fetch_add(1, std::memory_order_relaxed);
      return v[i % v.size()];
    }
    case Strategy::fifo:
      return v.front();
    case Strategy::rand: {
      std::int64_t total = 0;
      for (const auto& n : v) total += std::max(1, n->weight);
      std::uniform_int_distribution<std::int64_t> d(0, total - 1);
      auto x = d(rng());
      for (const auto& n : v) {
        x -= std::max(1, n->weight);
        if (x < 0) return n;
      }
      return v.back();
    }
    case Strategy::hash: {
      const std::string& key = !opts.client_id.empty() ? opts.client_id : opts.hash_key;
      if (key.empty()) {
        std::uniform_int_distribution<std::size_t> d(0, v.size() - 1);
        return v[d(rng())];
      }
      return v[crc32(key) % v.size()];
    }
  }
  return v.front();
}

NodePtr select_nodes(Strategy s, int max_fails, std::chrono::milliseconds fail_timeout,
                     const std::vector<NodePtr>& nodes, const SelectOptions& opts,
                     std::atomic<std::uint64_t>& counter) {
  if (nodes.empty()) return nullptr;
  auto usable = filter(nodes, max_fails, fail_timeout);
  if (usable.empty()) return nodes.front();  // every node failed: last resort
  return apply(s, usable, opts, counter);
}

class DefaultSelector final : public Selector {
 public:
  DefaultSelector(Strategy s, int max_fails, std::chrono::milliseconds fail_timeout)
      : strategy_(s), max_fails_(max_fails), fail_timeout_(fail_timeout) {}

  NodePtr select(const std::vector<NodePtr>& nodes, const SelectOptions& opts) override {
    return select_nodes(strategy_, max_fails_, fail_timeout_, nodes, opts, counter_);
  }

 private:
  const Strategy strategy_;
  const int max_fails_;
  const std::chrono::milliseconds fail_timeout_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace

namespace detail {
// The selection of a hop without a selector: round robin on the hop's own counter, default
// fail and backup filters (GOST's DefaultNodeSelector). Used by hop.cpp.
NodePtr select_default(const std::vector<NodePtr>& nodes, const SelectOptions& opts,
                       std::atomic<std::uint64_t>& counter) {
  return select_nodes(Strategy::round, kDefaultMaxFails, kDefaultFailTimeout, nodes, opts, counter);
}
}  // namespace detail

void FailMarker::mark() noexcept {
  // The time first, so a reader that sees the new count never pairs it with an old time.
  last_ms_.store(now_ms(), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_release);
}

void FailMarker::reset() noexcept {
  if (count_.load(std::memory_order_relaxed) != 0) count_.store(0, std::memory_order_relaxed);
}

Result<SelectorPtr, ConfigError> make_selector(const SelectorConfig& cfg) {
  std::string s = cfg.strategy;
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Strategy st;
  if (s.empty() || s == "round" || s == "rr") {
    st = Strategy::round;
  } else if (s == "rand" || s == "random") {
    st = Strategy::rand;
  } else if (s == "fifo" || s == "ha") {
    st = Strategy::fifo;
  } else if (s == "hash") {
    st = Strategy::hash;
  } else {
    return config_error("unknown selector strategy \"" + cfg.strategy +
                        "\" (expected round|rr, rand|random, fifo|ha or hash)");
  }
  const int mf = cfg.max_fails > 0 ? cfg.max_fails : kDefaultMaxFails;
  const auto ft = cfg.fail_timeout.count() > 0 ? cfg.fail_timeout : kDefaultFailTimeout;
  return SelectorPtr(std::make_shared<DefaultSelector>(st, mf, ft));
}

}  // namespace gost
