// core::Deadline: shared per-duration lists instead of a timer per connection.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <asio/io_context.hpp>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "gost/core/deadline.hpp"
#include "gost/core/timeout.hpp"

using namespace gost;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// What one deadline's callback saw.
struct Fired {
  int n = 0;
  clock_type::time_point when{};
};

void note(void* p) {
  auto* f = static_cast<Fired*>(p);
  ++f->n;
  f->when = clock_type::now();
}

// Runs ctx until done() or 5 s have passed (a guard timer ends the run).
template <class Pred>
void run_until(asio::io_context& ctx, Pred done) {
  const auto limit = clock_type::now() + 5s;
  while (!done() && clock_type::now() < limit) {
    ctx.restart();
    ctx.run_for(10ms);
  }
}

}  // namespace

TEST_CASE("a deadline fires once, not before its time", "[deadline]") {
  asio::io_context ctx;
  Fired f;
  core::Deadline d;
  const auto t0 = clock_type::now();
  d.arm(ctx.get_executor(), 50ms, note, &f);
  CHECK(d.armed());
  CHECK_FALSE(d.expired());
  run_until(ctx, [&] { return f.n > 0; });
  REQUIRE(f.n == 1);
  CHECK(f.when - t0 >= 50ms);
  CHECK(d.expired());
  CHECK_FALSE(d.armed());
  ctx.restart();
  ctx.run_for(80ms);  // nothing more to come
  CHECK(f.n == 1);
}

TEST_CASE("disarmed or destroyed deadlines never fire; the others keep their own times", "[deadline]") {
  asio::io_context ctx;
  Fired a, b, c, e;
  core::Deadline da, db, dc;
  const auto t0 = clock_type::now();
  da.arm(ctx.get_executor(), 60ms, note, &a);
  ctx.run_for(20ms);
  db.arm(ctx.get_executor(), 60ms, note, &b);  // expires 20 ms after da
  dc.arm(ctx.get_executor(), 60ms, note, &c);
  {
    core::Deadline gone;
    gone.arm(ctx.get_executor(), 60ms, note, &e);
  }  // destroyed while armed
  da.disarm();  // the head goes: the shared timer still wakes at its time and finds db not due
  CHECK_FALSE(da.armed());
  run_until(ctx, [&] { return b.n > 0 && c.n > 0; });
  ctx.restart();
  ctx.run_for(30ms);
  CHECK(a.n == 0);
  CHECK(e.n == 0);
  REQUIRE(b.n == 1);
  REQUIRE(c.n == 1);
  CHECK(b.when - t0 >= 80ms);  // db's own time, not da's
  CHECK_FALSE(da.expired());
}

TEST_CASE("durations have lists of their own; a shorter one armed later fires first", "[deadline]") {
  asio::io_context ctx;
  Fired slow, fast;
  core::Deadline ds, df;
  ds.arm(ctx.get_executor(), 300ms, note, &slow);
  df.arm(ctx.get_executor(), 30ms, note, &fast);
  run_until(ctx, [&] { return fast.n > 0; });
  REQUIRE(fast.n == 1);
  CHECK(slow.n == 0);
  run_until(ctx, [&] { return slow.n > 0; });
  CHECK(slow.n == 1);
  CHECK(slow.when > fast.when);
}

namespace {
// A callback that re-arms its own deadline twice, then disarms another.
struct Chain {
  core::Deadline self, other;
  asio::io_context* ctx = nullptr;
  int rounds = 0;
  static void fire(void* p) {
    auto* c = static_cast<Chain*>(p);
    if (++c->rounds < 3) {
      c->self.arm(c->ctx->get_executor(), 20ms, &Chain::fire, p);
    } else {
      c->other.disarm();
    }
  }
};
}  // namespace

TEST_CASE("re-arming moves a deadline; a callback may re-arm itself and disarm others", "[deadline]") {
  asio::io_context ctx;
  Chain ch;
  ch.ctx = &ctx;
  Fired moved, other;
  core::Deadline dm;
  const auto t0 = clock_type::now();
  dm.arm(ctx.get_executor(), 20ms, note, &moved);
  dm.arm(ctx.get_executor(), 120ms, note, &moved);  // re-armed: the first arming is gone
  ch.other.arm(ctx.get_executor(), 200ms, note, &other);
  ch.self.arm(ctx.get_executor(), 20ms, &Chain::fire, &ch);
  run_until(ctx, [&] { return moved.n > 0; });
  ctx.restart();
  ctx.run_for(150ms);
  CHECK(ch.rounds == 3);
  CHECK(other.n == 0);
  REQUIRE(moved.n == 1);
  CHECK(moved.when - t0 >= 120ms);
}

TEST_CASE("a context destroyed with deadlines armed detaches them", "[deadline]") {
  Fired f;
  core::Deadline outlives;
  {
    asio::io_context ctx;
    core::Deadline inner;
    inner.arm(ctx.get_executor(), 10s, note, &f);
    outlives.arm(ctx.get_executor(), 10s, note, &f);
    ctx.run_for(5ms);
  }
  CHECK_FALSE(outlives.armed());
  outlives.disarm();  // touches nothing of the gone context (ASan would say)
  CHECK(f.n == 0);
}

TEST_CASE("thousands of deadlines of one duration cost no timer each and fire in order", "[deadline]") {
  asio::io_context ctx;
  constexpr int kN = 5000;
  std::vector<std::unique_ptr<core::Deadline>> ds;
  std::vector<int> order;
  struct Slot {
    std::vector<int>* order;
    int i;
  };
  std::vector<Slot> slots(kN);
  for (int i = 0; i < kN; ++i) {
    slots[i] = Slot{&order, i};
    ds.push_back(std::make_unique<core::Deadline>());
    ds.back()->arm(ctx.get_executor(), 40ms,
                   [](void* p) {
                     auto* s = static_cast<Slot*>(p);
                     s->order->push_back(s->i);
                   },
                   &slots[i]);
  }
  for (int i = 0; i < kN; i += 2) ds[i]->disarm();  // every other one is done in time
  run_until(ctx, [&] { return order.size() == kN / 2; });
  REQUIRE(order.size() == kN / 2);
  for (std::size_t k = 0; k < order.size(); ++k) CHECK(order[k] == static_cast<int>(2 * k + 1));
}

TEST_CASE("more durations than lists: shared lists keep expiry order, an earlier head re-arms the timer",
          "[deadline]") {
  asio::io_context ctx;
  // 40 distinct durations, armed longest first: past the 16 lists of their own, each new one is
  // the earliest of the list it joins.
  constexpr int kN = 40;
  std::vector<Fired> fired(kN);
  std::vector<std::unique_ptr<core::Deadline>> ds;
  const auto t0 = clock_type::now();
  for (int i = kN - 1; i >= 0; --i) {
    ds.push_back(std::make_unique<core::Deadline>());
    ds.back()->arm(ctx.get_executor(), std::chrono::milliseconds(20 + 7 * i), note, &fired[i]);
  }
  run_until(ctx, [&] { return fired[kN - 1].n > 0; });
  for (int i = 0; i < kN; ++i) {
    INFO("deadline " << i);
    REQUIRE(fired[i].n == 1);
    CHECK(fired[i].when - t0 >= std::chrono::milliseconds(20 + 7 * i));
    if (i > 0) CHECK(fired[i].when >= fired[i - 1].when);
  }
  // The shortest was armed last, yet fired long before the longest.
  CHECK(fired[kN - 1].when - fired[0].when >= 200ms);
}

// ---- with_timeout, which runs on deadlines

namespace {
// Waits on a timer for `ms`; reports how it ended.
asio::awaitable<int> sleep_op(std::chrono::milliseconds ms, bool* aborted) {
  asio::steady_timer t(co_await asio::this_coro::executor, ms);
  auto [ec] = co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (ec == asio::error::operation_aborted) *aborted = true;
  co_return 7;
}

asio::awaitable<std::optional<int>> nested(std::chrono::milliseconds outer, std::chrono::milliseconds inner,
                                           std::chrono::milliseconds op, bool* aborted) {
  auto r = co_await with_timeout(with_timeout(sleep_op(op, aborted), inner), outer);
  if (!r) co_return std::nullopt;
  co_return *r ? std::optional<int>(**r) : std::nullopt;
}

template <class T>
T run_coro(asio::io_context& ctx, asio::awaitable<T> a) {
  std::optional<T> out;
  asio::co_spawn(ctx, std::move(a), [&](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out = std::move(v);
  });
  run_until(ctx, [&] { return out.has_value(); });
  REQUIRE(out.has_value());
  return std::move(*out);
}
}  // namespace

TEST_CASE("with_timeout: the op's result when in time; otherwise the op is cancelled and nullopt",
          "[deadline][timeout]") {
  asio::io_context ctx;
  bool aborted = false;
  auto r = run_coro(ctx, with_timeout(sleep_op(10ms, &aborted), 2s));
  REQUIRE(r);
  CHECK(*r == 7);
  CHECK_FALSE(aborted);

  const auto t0 = clock_type::now();
  auto late = run_coro(ctx, with_timeout(sleep_op(10s, &aborted), 50ms));
  CHECK_FALSE(late);
  CHECK(aborted);  // the op's wait ended cancelled, it did not run to its end
  CHECK(clock_type::now() - t0 >= 50ms);
  CHECK(clock_type::now() - t0 < 5s);
}

TEST_CASE("with_timeout: a shorter outer limit cancels through an inner one", "[deadline][timeout]") {
  asio::io_context ctx;
  bool aborted = false;
  const auto t0 = clock_type::now();
  auto r = run_coro(ctx, nested(60ms, 10s, 20s, &aborted));
  CHECK_FALSE(r);
  CHECK(aborted);
  CHECK(clock_type::now() - t0 < 5s);  // the outer 60 ms, not the inner 10 s
  // And the inner limit when it is the shorter one.
  aborted = false;
  auto r2 = run_coro(ctx, nested(10s, 60ms, 20s, &aborted));
  CHECK_FALSE(r2);
  CHECK(aborted);
}

TEST_CASE("a context runs out of work once its last deadline is disarmed, unless it keeps its timers",
          "[deadline]") {
  Fired f;
  {
    asio::io_context ctx;
    core::Deadline d;
    d.arm(ctx.get_executor(), 10s, note, &f);
    asio::post(ctx, [&d] { d.disarm(); });
    const auto t0 = clock_type::now();
    ctx.run();  // returns: nothing is left pending
    CHECK(clock_type::now() - t0 < 5s);
  }
  {
    asio::io_context ctx;
    core::keep_deadline_timers(ctx);
    core::Deadline d;
    d.arm(ctx.get_executor(), 10s, note, &f);
    asio::post(ctx, [&d] { d.disarm(); });
    // The shared timer stays armed (a Runtime's contexts run until stopped anyway).
    CHECK(ctx.run_for(100ms) > 0);
    CHECK_FALSE(ctx.stopped());
  }
  CHECK(f.n == 0);
}

TEST_CASE("arming after a disarm leaves a timer waiting for an earlier time alone; it wakes early, waits on",
          "[deadline]") {
  asio::io_context ctx;
  core::keep_deadline_timers(ctx);
  core::Deadline d;
  Fired f;
  // A connection's handshake limit, armed and disarmed a thousand times: the first arming sets the
  // shared timer; the others find it waiting for an earlier time and leave it be. Moving it would
  // cancel its pending wait, whose completion would run as one more handler each time.
  const auto t0 = clock_type::now();
  for (int i = 0; i < 1000; ++i) {
    asio::post(ctx, [&ctx, &d, &f] {
      d.arm(ctx.get_executor(), 100ms, note, &f);
      d.disarm();
    });
  }
  std::size_t handlers = 0;
  for (int i = 0; i < 100; ++i) {
    const std::size_t n = ctx.poll();
    handlers += n;
    if (n == 0) break;
  }
  CHECK(handlers >= 1000);
  CHECK(handlers <= 1002);
  // Armed later, with the timer still waiting for the first arming's time: the timer wakes then,
  // finds nothing expired and waits for this one, which fires at its own time.
  run_until(ctx, [&] { return clock_type::now() - t0 >= 50ms; });
  const auto t1 = clock_type::now();
  d.arm(ctx.get_executor(), 100ms, note, &f);
  run_until(ctx, [&] { return f.n > 0; });
  REQUIRE(f.n == 1);
  CHECK(f.when - t1 >= 100ms);
}
