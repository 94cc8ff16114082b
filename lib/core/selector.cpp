// Node selection (GOST core/selector + x/selector): fail filter, backup filter, strategies.
#include "gost/core/selector.hpp"

#include <algorithm>
#include <array>
#include <random>

#include "gost/core/chain.hpp"

namespace gost {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

class DefaultSelector final : public Selector {
 public:
  DefaultSelector(Strategy s, int max_fails, std::chrono::milliseconds fail_timeout)
      : strategy_(s), max_fails_(max_fails), fail_timeout_(fail_timeout) {}

  NodePtr select(const std::vector<NodePtr>& nodes, const SelectOptions& opts) override {
    if (nodes.empty()) return nullptr;
    std::vector<NodePtr> usable = filter(nodes);
    if (usable.empty()) usable = nodes;  // everything failed: try them anyway
    return apply(usable, opts);
  }

 private:
  // FailFilter, then BackupFilter.
  std::vector<NodePtr> filter(const std::vector<NodePtr>& nodes) const {
    std::vector<NodePtr> healthy;
    healthy.reserve(nodes.size());
    if (nodes.size() <= 1) {
      healthy = nodes;
    } else {
      const auto now = now_ms();
      for (auto& n : nodes) {
        const int mf = n->max_fails >= 0 ? n->max_fails : max_fails_;
        const auto ft = n->fail_timeout.count() >= 0 ? n->fail_timeout : fail_timeout_;
        const auto fails = n->marker.count();
        if (mf <= 0 || fails < mf || now - n->marker.last_ms() >= ft.count()) healthy.push_back(n);
      }
    }
    if (healthy.size() < 2) return healthy;
    std::vector<NodePtr> primary;
    for (auto& n : healthy) {
      if (!n->backup) primary.push_back(n);
    }
    if (!primary.empty()) return primary;
    return healthy;
  }

  NodePtr apply(const std::vector<NodePtr>& v, const SelectOptions& opts) {
    switch (strategy_) {
      case Strategy::round: {
        auto i = counter_.fetch_add(1, std::memory_order_relaxed);
        return v[i % v.size()];
      }
      case Strategy::fifo:
        return v.front();
      case Strategy::rand: {
        std::int64_t total = 0;
        for (auto& n : v) total += std::max(1, n->weight);
        std::uniform_int_distribution<std::int64_t> d(0, total - 1);
        auto x = d(rng());
        for (auto& n : v) {
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

  Strategy strategy_;
  int max_fails_;
  std::chrono::milliseconds fail_timeout_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace

void FailMarker::mark() noexcept {
  count_.fetch_add(1, std::memory_order_relaxed);
  last_ms_.store(now_ms(), std::memory_order_relaxed);
}

void FailMarker::reset() noexcept {
  if (count_.load(std::memory_order_relaxed) != 0) count_.store(0, std::memory_order_relaxed);
}

Result<SelectorPtr, ConfigError> make_selector(const SelectorConfig& cfg) {
  std::string s = cfg.strategy;
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Strategy st;
  if (s.empty() || s == "round" || s == "rr") st = Strategy::round;
  else if (s == "rand" || s == "random") st = Strategy::rand;
  else if (s == "fifo" || s == "ha") st = Strategy::fifo;
  else if (s == "hash") st = Strategy::hash;
  else return config_error("unknown selector strategy \"" + cfg.strategy + "\" (round, rand, fifo, hash)");
  const int mf = cfg.max_fails > 0 ? cfg.max_fails : 1;
  const auto ft = cfg.fail_timeout.count() > 0 ? cfg.fail_timeout : std::chrono::milliseconds(10000);
  return SelectorPtr(std::make_shared<DefaultSelector>(st, mf, ft));
}

}  // namespace gost
