// Hop::select and Chain::route with GOST's chain semantics (go-gost/x hop/, chain/): a hop whose
// bypass contains the target yields no node, and the route is cut at that hop.
#include "gost/core/chain.hpp"

namespace gost {

namespace detail {
// Defined in selector.cpp: round robin on the given counter with the default filters.
NodePtr select_default(const std::vector<NodePtr>& nodes, const SelectOptions& opts,
                       std::atomic<std::uint64_t>& counter);
}  // namespace detail

NodePtr Hop::select(const SelectOptions& opts) const {
  const BypassOptions bo{{}, opts.host, {}};
  if (bypass && bypass->contains(opts.network, opts.addr, bo)) return nullptr;
  std::vector<NodePtr> candidates;
  candidates.reserve(nodes.size());
  for (const auto& n : nodes) {
    if (!n) continue;
    if (n->bypass && n->bypass->contains(opts.network, opts.addr, bo)) continue;
    candidates.push_back(n);
  }
  if (candidates.empty()) return nullptr;
  if (candidates.size() == 1) return candidates.front();
  if (selector) return selector->select(candidates, opts);
  return detail::select_default(candidates, opts, default_rr);
}

std::vector<NodePtr> Chain::route(const SelectOptions& opts) const {
  std::vector<NodePtr> out;
  out.reserve(hops.size());
  for (const auto& h : hops) {
    auto n = h ? h->select(opts) : nullptr;
    if (!n) break;
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace gost
