// Hop::select and Chain::route (GOST chain semantics: a matching hop bypass cuts the route).
#include "gost/core/chain.hpp"

namespace gost {

NodePtr Hop::select(const SelectOptions& opts) const {
  if (bypass && bypass->contains(opts.network, opts.addr, BypassOptions{{}, opts.host, {}})) return nullptr;
  std::vector<NodePtr> candidates;
  candidates.reserve(nodes.size());
  for (auto& n : nodes) {
    if (n->bypass && n->bypass->contains(opts.network, opts.addr, BypassOptions{{}, opts.host, {}})) continue;
    candidates.push_back(n);
  }
  if (candidates.empty()) return nullptr;
  if (selector) return selector->select(candidates, opts);
  static const SelectorPtr fallback = *make_selector(SelectorConfig{});
  return fallback->select(candidates, opts);
}

std::vector<NodePtr> Chain::route(const SelectOptions& opts) const {
  std::vector<NodePtr> out;
  out.reserve(hops.size());
  for (auto& h : hops) {
    auto n = h ? h->select(opts) : nullptr;
    if (!n) break;
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace gost
