// Hop::select and Chain::route: bypass truncation, node bypass, default selection.
#include <catch2/catch.hpp>

#include "gost/core/chain.hpp"

using gost::HopPtr;
using gost::NodePtr;
using gost::SelectOptions;

namespace {

NodePtr node(std::string name) {
  auto n = std::make_shared<gost::Node>();
  n->name = std::move(name);
  n->addr = n->name + ":1080";
  return n;
}

HopPtr hop(std::vector<NodePtr> nodes) {
  auto h = std::make_shared<gost::Hop>();
  h->nodes = std::move(nodes);
  return h;
}

gost::BypassPtr bypass(std::vector<std::string> p, bool whitelist = false,
                       std::string network = {}) {
  auto b = gost::make_bypass(p, whitelist, std::move(network));
  REQUIRE(b);
  return *b;
}

SelectOptions target(std::string addr, std::string network = "tcp") {
  SelectOptions o;
  o.network = std::move(network);
  o.addr = std::move(addr);
  return o;
}

std::string names(const std::vector<NodePtr>& route) {
  std::string s;
  for (auto& n : route) s += (s.empty() ? "" : ">") + n->name;
  return s;
}

}  // namespace

TEST_CASE("hop: bypass on the hop yields no node", "[hop]") {
  auto h = hop({node("a"), node("b")});
  h->bypass = bypass({".local"});
  CHECK(h->select(target("printer.local:631")) == nullptr);
  CHECK(h->select(target("example.com:80")) != nullptr);
}

TEST_CASE("hop: nodes whose bypass contains the target are skipped", "[hop]") {
  auto a = node("a"), b = node("b");
  a->bypass = bypass({"*.cn"});
  auto h = hop({a, b});
  for (int i = 0; i < 6; ++i) CHECK(h->select(target("x.cn:443"))->name == "b");
  // A whitelist on a node: the node serves only the listed targets.
  b->bypass = bypass({"*.cn"}, true);
  for (int i = 0; i < 4; ++i) CHECK(h->select(target("x.cn:443"))->name == "b");
  for (int i = 0; i < 4; ++i) CHECK(h->select(target("x.com:443"))->name == "a");
  // Every node skipped: nothing.
  a->bypass = bypass({"x.com"});
  CHECK(h->select(target("x.com:443")) == nullptr);
  // Empty hop and null nodes.
  CHECK(hop({})->select(target("x.com:1")) == nullptr);
  CHECK(hop({nullptr, node("c")})->select(target("x.com:1"))->name == "c");
}

TEST_CASE("hop: default selection is round robin per hop with the fail filter", "[hop]") {
  auto h1 = hop({node("a1"), node("a2")});
  auto h2 = hop({node("b1"), node("b2")});
  gost::Chain chain;
  chain.hops = {h1, h2};
  std::vector<std::string> routes;
  for (int i = 0; i < 4; ++i) routes.push_back(names(chain.route(target("x.com:80"))));
  // Each hop keeps its own position, so both alternate.
  CHECK(routes == std::vector<std::string>{"a1>b1", "a2>b2", "a1>b1", "a2>b2"});

  h1->nodes[0]->marker.mark();
  for (int i = 0; i < 4; ++i) CHECK(h1->select(target("x.com:80"))->name == "a2");
}

TEST_CASE("hop: a configured selector is used", "[hop]") {
  auto h = hop({node("a"), node("b"), node("c")});
  gost::SelectorConfig c;
  c.strategy = "fifo";
  h->selector = *gost::make_selector(c);
  for (int i = 0; i < 5; ++i) CHECK(h->select(target("x:1"))->name == "a");
  h->nodes[0]->bypass = bypass({"x"});
  CHECK(h->select(target("x:1"))->name == "b");
  CHECK(h->select(target("y:1"))->name == "a");
}

TEST_CASE("chain: the route is cut at the first hop without a node", "[hop][chain]") {
  auto h1 = hop({node("n1")});
  auto h2 = hop({node("n2")});
  auto h3 = hop({node("n3")});
  gost::Chain chain;
  chain.hops = {h1, h2, h3};
  CHECK(names(chain.route(target("example.com:443"))) == "n1>n2>n3");

  h2->bypass = bypass({"*.internal"});
  CHECK(names(chain.route(target("db.internal:5432"))) == "n1");  // truncated at hop 2
  CHECK(names(chain.route(target("example.com:443"))) == "n1>n2>n3");

  h1->bypass = bypass({"10.0.0.0/8"});
  CHECK(chain.route(target("10.1.2.3:22")).empty());  // bypass on hop 1: direct

  // A later hop's bypass does not matter once an earlier one cut the route.
  h3->bypass = bypass({"example.org"});
  CHECK(names(chain.route(target("example.org:80"))) == "n1>n2");

  gost::Chain empty;
  CHECK(empty.route(target("x:1")).empty());
  gost::Chain with_null;
  with_null.hops = {h1, nullptr, h3};
  CHECK(names(with_null.route(target("x:1"))) == "n1");
}

TEST_CASE("chain: network-scoped hop bypass", "[hop][chain]") {
  auto h1 = hop({node("n1")});
  auto h2 = hop({node("n2")});
  h2->bypass = bypass({}, false, "udp");  // hop 2 does not carry UDP
  gost::Chain chain;
  chain.hops = {h1, h2};
  CHECK(names(chain.route(target("8.8.8.8:53", "udp"))) == "n1");
  CHECK(names(chain.route(target("8.8.8.8:53", "tcp"))) == "n1>n2");
}
