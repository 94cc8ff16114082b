// Router: dials a target through a chain's route (or directly), with retries and a timeout.
#include <asio/this_coro.hpp>

#include "gost/core/chain.hpp"
#include "gost/core/timeout.hpp"
#include "route.hpp"

namespace gost {
namespace detail {

std::string describe_route(const std::vector<NodePtr>& route) {
  if (route.empty()) return "direct";
  std::string s;
  for (std::size_t i = 0; i < route.size(); ++i) {
    if (i) s += " > ";
    s += route[i]->name.empty() ? route[i]->addr : route[i]->name + "@" + route[i]->addr;
  }
  return s;
}

}  // namespace detail

namespace {
using detail::describe_route;
using detail::connect_nodes;

// Errors that say the target, not the node, is at fault: the node stays healthy.
bool target_error(const std::error_code& ec) {
  return ec == errc::host_unreachable || ec == errc::connection_refused || ec == errc::forbidden ||
         ec == errc::bypassed;
}

}  // namespace

namespace detail {
asio::awaitable<Result<StreamPtr>> connect_nodes(std::vector<NodePtr> route, std::chrono::milliseconds timeout) {
  const auto& first = route.front();
  auto a0 = Address::parse(first->addr);
  if (!a0) co_return a0.error();
  DialOptions dopts;
  dopts.timeout = timeout;
  auto s = co_await first->dialer->dial(*a0, dopts);
  if (!s) {
    first->marker.mark();
    co_return s.error();
  }
  s = co_await first->dialer->handshake(std::move(*s), *a0);
  if (s) s = co_await first->connector->handshake(std::move(*s));
  if (!s) {
    first->marker.mark();
    co_return s.error();
  }
  for (std::size_t i = 1; i < route.size(); ++i) {
    auto& node = route[i];
    auto ai = Address::parse(node->addr);
    if (!ai) co_return ai.error();
    s = co_await route[i - 1]->connector->connect(std::move(*s), "tcp", *ai);
    if (s) s = co_await node->dialer->handshake(std::move(*s), *ai);
    if (s) s = co_await node->connector->handshake(std::move(*s));
    if (!s) {
      node->marker.mark();
      co_return s.error();
    }
  }
  co_return std::move(*s);
}
}  // namespace detail

namespace {
asio::awaitable<Result<StreamPtr>> dial_route(std::vector<NodePtr> route, std::string network, Address target,
                                              std::chrono::milliseconds timeout) {
  auto s = co_await connect_nodes(route, timeout);
  if (!s) co_return s.error();
  auto& last = route.back();
  auto r = co_await last->connector->connect(std::move(*s), network, target);
  if (!r) {
    if (!target_error(r.error())) last->marker.mark();
    co_return r.error();
  }
  for (auto& n : route) n->marker.reset();
  co_return std::move(*r);
}

asio::awaitable<Result<PacketConnPtr>> associate_route(std::vector<NodePtr> route,
                                                       std::chrono::milliseconds timeout) {
  auto s = co_await connect_nodes(route, timeout);
  if (!s) co_return s.error();
  auto& last = route.back();
  auto r = co_await last->connector->associate(std::move(*s));
  if (!r) {
    if (r.error() != errc::unsupported) last->marker.mark();
    co_return r.error();
  }
  for (auto& n : route) n->marker.reset();
  co_return std::move(*r);
}

}  // namespace

Router::Router(ChainPtr chain, RouterOptions opts) : chain_(std::move(chain)), opts_(opts) {}

asio::awaitable<Result<StreamPtr>> Router::dial(std::string network, Address target, SelectOptions sel,
                                                DialInfo* info) {
  if (sel.network.empty()) sel.network = network;
  if (sel.addr.empty()) sel.addr = target.to_string();
  if (sel.host.empty()) sel.host = target.host;
  std::error_code last = make_error_code(errc::no_route);
  const int attempts = 1 + std::max(0, opts_.retries);
  for (int i = 0; i < attempts; ++i) {
    // An empty route (no chain, or the first hop's bypass matched) means a direct dial.
    std::vector<NodePtr> route;
    if (chain_) route = chain_->route(sel);
    if (info) info->route = describe_route(route);
    std::optional<Result<StreamPtr>> r;
    if (route.empty()) {
      if (network == "udp") {
        r = co_await dial_udp(target, opts_.timeout);
      } else {
        r = co_await dial_tcp(target, opts_.timeout);
      }
    } else {
      r = co_await with_timeout(dial_route(route, network, target, opts_.timeout), opts_.timeout);
      if (!r) {
        route.back()->marker.mark();
        last = make_error_code(errc::timeout);
        continue;
      }
    }
    if (*r) co_return std::move(**r);
    last = r->error();
  }
  co_return last;
}

// Plain functions (not coroutines): their temporaries are safe to hand to the coroutines.
asio::awaitable<Result<StreamPtr>> Router::dial(std::string network, Address target) {
  SelectOptions sel;
  return dial(std::move(network), std::move(target), std::move(sel), nullptr);
}

asio::awaitable<Result<PacketConnPtr>> Router::associate() {
  SelectOptions sel;
  return associate(std::move(sel), nullptr);
}

asio::awaitable<Result<PacketConnPtr>> Router::associate(SelectOptions sel, DialInfo* info) {
  if (sel.network.empty()) sel.network = "udp";
  std::error_code last = make_error_code(errc::no_route);
  const int attempts = 1 + std::max(0, opts_.retries);
  for (int i = 0; i < attempts; ++i) {
    std::vector<NodePtr> route;
    if (chain_) route = chain_->route(sel);
    if (info) info->route = describe_route(route);
    if (route.empty()) co_return open_udp(co_await asio::this_coro::executor);
    auto r = co_await with_timeout(associate_route(route, opts_.timeout), opts_.timeout);
    if (!r) {
      last = make_error_code(errc::timeout);
      continue;
    }
    if (*r) co_return std::move(**r);
    last = r->error();
    if (last == errc::unsupported) break;
  }
  co_return last;
}

}  // namespace gost
