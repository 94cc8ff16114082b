// Selector strategies, fail and backup filters, FailMarker.
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "gost/core/chain.hpp"
#include "gost/core/selector.hpp"

using namespace std::chrono_literals;
using gost::NodePtr;
using gost::SelectOptions;

namespace {

NodePtr node(std::string name, int weight = 1, bool backup = false) {
  auto n = std::make_shared<gost::Node>();
  n->name = std::move(name);
  n->addr = n->name + ":1";
  n->weight = weight;
  n->backup = backup;
  return n;
}

gost::SelectorPtr selector(std::string strategy, int max_fails = 1,
                           std::chrono::milliseconds fail_timeout = 10s) {
  gost::SelectorConfig c;
  c.strategy = std::move(strategy);
  c.max_fails = max_fails;
  c.fail_timeout = fail_timeout;
  auto s = gost::make_selector(c);
  REQUIRE(s);
  return *s;
}

std::string pick(const gost::SelectorPtr& s, const std::vector<NodePtr>& nodes,
                 const SelectOptions& o = {}) {
  auto n = s->select(nodes, o);
  return n ? n->name : std::string("<null>");
}

std::map<std::string, int> count(const gost::SelectorPtr& s, const std::vector<NodePtr>& nodes,
                                 int picks, const SelectOptions& o = {}) {
  std::map<std::string, int> out;
  for (int i = 0; i < picks; ++i) ++out[pick(s, nodes, o)];
  return out;
}

}  // namespace

TEST_CASE("FailMarker counts and resets", "[selector][marker]") {
  gost::FailMarker m;
  CHECK(m.count() == 0);
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  m.mark();
  m.mark();
  CHECK(m.count() == 2);
  CHECK(m.last_ms() >= before);
  const auto last = m.last_ms();
  m.reset();
  CHECK(m.count() == 0);
  CHECK(m.last_ms() == last);  // only the count is reset, as GOST
}

TEST_CASE("make_selector: strategy names", "[selector]") {
  for (const char* s : {"", "round", "rr", "RR", "rand", "random", "fifo", "ha", "hash", "Hash"}) {
    INFO(s);
    gost::SelectorConfig c;
    c.strategy = s;
    CHECK(gost::make_selector(c));
  }
  gost::SelectorConfig c;
  c.strategy = "lowest";
  auto r = gost::make_selector(c);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("\"lowest\"") != std::string::npos);
}

TEST_CASE("selector: empty and single", "[selector]") {
  auto s = selector("round");
  CHECK(s->select({}, {}) == nullptr);
  auto a = node("a");
  a->marker.mark();  // a failed single node is still used
  CHECK(pick(s, {a}) == "a");
}

TEST_CASE("round robin: in order, and rr is the same", "[selector][round]") {
  for (const char* name : {"round", "rr", ""}) {
    INFO(name);
    auto s = selector(name);
    std::vector<NodePtr> nodes{node("a"), node("b"), node("c")};
    std::string seq;
    for (int i = 0; i < 7; ++i) seq += pick(s, nodes);
    CHECK(seq == "abcabca");
  }
}

TEST_CASE("round robin is thread-safe and exact", "[selector][round]") {
  auto s = selector("round");
  std::vector<NodePtr> nodes{node("a"), node("b"), node("c"), node("d")};
  constexpr int kThreads = 4, kPicks = 5000;
  std::vector<std::map<std::string, int>> counts(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPicks; ++i) ++counts[static_cast<std::size_t>(t)][pick(s, nodes)];
    });
  }
  for (auto& th : threads) th.join();
  std::map<std::string, int> total;
  for (auto& c : counts) {
    for (auto& [k, v] : c) total[k] += v;
  }
  CHECK(total.size() == 4);
  for (auto& [k, v] : total) CHECK(v == kThreads * kPicks / 4);
}

TEST_CASE("rand: weighted, roughly proportional", "[selector][rand]") {
  auto s = selector("rand");
  std::vector<NodePtr> nodes{node("a", 1), node("b", 3), node("c", 6)};
  constexpr int kPicks = 10000;
  auto c = count(s, nodes, kPicks);
  // Standard deviations are below 0.005; allow 0.03.
  CHECK(c["a"] / double(kPicks) == Approx(0.1).margin(0.03));
  CHECK(c["b"] / double(kPicks) == Approx(0.3).margin(0.03));
  CHECK(c["c"] / double(kPicks) == Approx(0.6).margin(0.03));

  // Weights <= 0 count as 1.
  auto s2 = selector("random");
  std::vector<NodePtr> even{node("x", 0), node("y", -5)};
  auto c2 = count(s2, even, kPicks);
  CHECK(c2["x"] / double(kPicks) == Approx(0.5).margin(0.05));
}

TEST_CASE("fifo: sticks to the first healthy node", "[selector][fifo]") {
  auto s = selector("fifo", 1, 10s);
  std::vector<NodePtr> nodes{node("a"), node("b"), node("c")};
  for (int i = 0; i < 10; ++i) CHECK(pick(s, nodes) == "a");
  nodes[0]->marker.mark();
  for (int i = 0; i < 10; ++i) CHECK(pick(s, nodes) == "b");
  nodes[1]->marker.mark();
  CHECK(pick(s, nodes) == "c");
  nodes[0]->marker.reset();  // a success resets the count
  CHECK(pick(s, nodes) == "a");
  CHECK(pick(selector("ha"), nodes) == "a");
}

TEST_CASE("hash: crc32 of the client id, else the hash key, else random", "[selector][hash]") {
  auto s = selector("hash");
  std::vector<NodePtr> nodes{node("n0"), node("n1"), node("n2")};
  // crc32("203.0.113.9") % 3 == 0, crc32("alice") % 3 == 2 (same index as GOST picks).
  SelectOptions by_id;
  by_id.client_id = "alice";
  by_id.hash_key = "203.0.113.9";
  SelectOptions by_key;
  by_key.hash_key = "203.0.113.9";
  for (int i = 0; i < 50; ++i) {
    CHECK(pick(s, nodes, by_id) == "n2");
    CHECK(pick(s, nodes, by_key) == "n0");
  }
  // Stable per key, and keys spread.
  std::map<std::string, std::string> first;
  std::set<std::string> used;
  for (int k = 0; k < 200; ++k) {
    SelectOptions o;
    o.hash_key = "key-" + std::to_string(k);
    auto n = pick(s, nodes, o);
    used.insert(n);
    for (int i = 0; i < 3; ++i) CHECK(pick(s, nodes, o) == n);
  }
  CHECK(used.size() == 3);
  // No key: random over all nodes.
  auto c = count(s, nodes, 3000);
  CHECK(c.size() == 3);
  for (auto& [k, v] : c) CHECK(v > 700);
}

TEST_CASE("fail filter: maxFails and failTimeout exclude then readmit", "[selector][fail]") {
  auto s = selector("round", 2, 100ms);
  std::vector<NodePtr> nodes{node("a"), node("b"), node("c")};
  nodes[1]->marker.mark();
  CHECK(count(s, nodes, 30).size() == 3);  // 1 fail < maxFails 2: still used
  nodes[1]->marker.mark();
  const auto t0 = std::chrono::steady_clock::now();
  auto c = count(s, nodes, 30);
  CHECK(c.count("b") == 0);
  CHECK(c["a"] == 15);
  CHECK(c["c"] == 15);
  // b comes back once failTimeout has passed since its last failure (polled, bounded).
  bool back = false;
  while (!back && std::chrono::steady_clock::now() - t0 < 5s) {
    back = count(s, nodes, 3).count("b") > 0;
    if (!back) std::this_thread::sleep_for(10ms);
  }
  CHECK(back);
  CHECK(std::chrono::steady_clock::now() - t0 >= 90ms);
  // Failing again excludes it again (the count is still >= maxFails).
  nodes[1]->marker.mark();
  CHECK(count(s, nodes, 30).count("b") == 0);
  nodes[1]->marker.reset();
  CHECK(count(s, nodes, 30)["b"] == 10);
}

TEST_CASE("fail filter: per-node overrides and defaults", "[selector][fail]") {
  auto s = selector("round", 1, 10s);
  auto a = node("a"), b = node("b"), c = node("c");
  std::vector<NodePtr> nodes{a, b, c};
  b->max_fails = 3;  // tolerates more than the selector's 1
  b->marker.mark();
  b->marker.mark();
  CHECK(count(s, nodes, 30)["b"] == 10);
  b->marker.mark();
  CHECK(count(s, nodes, 30).count("b") == 0);

  c->fail_timeout = 1ms;  // recovers almost at once
  c->marker.mark();
  bool back = false;
  const auto t0 = std::chrono::steady_clock::now();
  while (!back && std::chrono::steady_clock::now() - t0 < 5s) {
    back = count(s, nodes, 2).count("c") > 0;
    if (!back) std::this_thread::sleep_for(2ms);
  }
  CHECK(back);

  // max_fails 0 means the default 1; fail_timeout 0 means the default 10 s.
  a->max_fails = 0;
  a->fail_timeout = 0ms;
  a->marker.mark();
  std::this_thread::sleep_for(20ms);
  CHECK(count(s, nodes, 30).count("a") == 0);
}

TEST_CASE("fail filter: everything failed falls back to the first node", "[selector][fail]") {
  for (const char* strategy : {"round", "rand", "hash", "fifo"}) {
    INFO(strategy);
    auto s = selector(strategy);
    std::vector<NodePtr> nodes{node("a"), node("b"), node("c")};
    for (auto& n : nodes) n->marker.mark();
    for (int i = 0; i < 10; ++i) CHECK(pick(s, nodes) == "a");
  }
}

TEST_CASE("backup filter: backups only when no primary is usable", "[selector][backup]") {
  auto s = selector("round");
  auto b1 = node("b1", 1, true), p = node("p"), b2 = node("b2", 1, true), q = node("q");
  std::vector<NodePtr> nodes{b1, p, b2, q};
  auto c = count(s, nodes, 40);
  CHECK(c.size() == 2);
  CHECK(c["p"] == 20);
  CHECK(c["q"] == 20);
  p->marker.mark();
  for (int i = 0; i < 5; ++i) CHECK(pick(s, nodes) == "q");
  q->marker.mark();
  c = count(s, nodes, 40);  // only backups are left
  CHECK(c.size() == 2);
  CHECK(c["b1"] == 20);
  CHECK(c["b2"] == 20);
  b1->marker.mark();
  CHECK(pick(s, nodes) == "b2");
  b2->marker.mark();
  CHECK(pick(s, nodes) == "b1");  // all failed: the first node
  // Only backups configured: they are used.
  auto fresh1 = node("f1", 1, true), fresh2 = node("f2", 1, true);
  CHECK(count(s, {fresh1, fresh2}, 10).size() == 2);
}

TEST_CASE("rand and hash also skip failed and backup nodes", "[selector][fail][backup]") {
  auto a = node("a"), b = node("b", 100), c = node("c", 1, true);
  std::vector<NodePtr> nodes{a, b, c};
  b->marker.mark();
  auto r = count(selector("rand"), nodes, 200);
  CHECK(r.size() == 1);
  CHECK(r["a"] == 200);
  SelectOptions o;
  o.client_id = "x";
  CHECK(pick(selector("hash"), nodes, o) == "a");
}
