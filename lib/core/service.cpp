#include "gost/core/service.hpp"

#include <condition_variable>
#include <list>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include "core/transports.hpp"
#include "gost/core/timeout.hpp"

namespace gost {

// A live connection as the service sees it: closable from stop() on its own executor.
struct ConnEntry {
  asio::any_io_executor ex;  // changes (under State::mu) when the relay moves to another thread
  Stream* stream = nullptr;  // valid while the GuardedStream lives; touched only on ex
};

struct Service::State {
  std::mutex mu;
  std::condition_variable cv;
  std::list<std::shared_ptr<ConnEntry>> conns;
  bool stopping = false;
  int accept_loops = 0;  // accept loops still running
  std::atomic<std::uint64_t> total{0}, current{0}, errors{0}, in_bytes{0}, out_bytes{0};
};

namespace {
using clock_type = std::chrono::steady_clock;

// What every connection of a service shares (one copy per service, not per connection).
struct ServiceInfo {
  std::string name;
  std::string protocol;
  LoggerPtr logger;
};

// Forwards to the accepted stream and lets the service close it on stop().
class GuardedStream final : public Stream {
 public:
  GuardedStream(StreamPtr inner, std::shared_ptr<ConnEntry> e) : inner_(std::move(inner)), e_(std::move(e)) {
    e_->stream = inner_.get();
  }
  ~GuardedStream() override { e_->stream = nullptr; }
  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer b) override { return inner_->read_some(b); }
  asio::awaitable<IoResult> write_some(asio::const_buffer b) override { return inner_->write_some(b); }
  asio::awaitable<std::error_code> shutdown_write() override { return inner_->shutdown_write(); }
  asio::awaitable<std::error_code> wait_readable() override { return inner_->wait_readable(); }
  bool has_ready_callback() noexcept override { return inner_->has_ready_callback(); }
  void async_wait_readable(ReadyHandler h) override { inner_->async_wait_readable(std::move(h)); }
  void close() noexcept override { inner_->close(); }
  Address local_address() const override { return inner_->local_address(); }
  Address remote_address() const override { return inner_->remote_address(); }
  bool is_datagram() const noexcept override { return inner_->is_datagram(); }
  asio::ip::tcp::socket* tcp_socket() noexcept override { return inner_->tcp_socket(); }
  const asio::any_io_executor* io_home() const noexcept override { return inner_->io_home(); }
  bool movable() const noexcept override { return inner_->movable(); }
  asio::awaitable<void> move_to(asio::any_io_executor ex) override { return inner_->move_to(std::move(ex)); }

 private:
  StreamPtr inner_;
  std::shared_ptr<ConnEntry> e_;
};

std::string format_ms(clock_type::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us < 1000) return std::to_string(us) + "µs";
  if (us < 1000000) return std::to_string(us / 1000) + "." + std::to_string((us % 1000) / 100) + "ms";
  return std::to_string(us / 1000000) + "." + std::to_string((us % 1000000) / 10000) + "s";
}

// Everything one connection needs besides its streams, on the heap so that the coroutine frame
// that lives as long as the connection stays small.
struct ConnState {
  std::shared_ptr<Service::State> st;
  std::shared_ptr<const ServiceInfo> info;
  std::shared_ptr<ConnEntry> entry = std::make_shared<ConnEntry>();
  std::list<std::shared_ptr<ConnEntry>>::iterator it;
  ConnRecord rec;
  clock_type::time_point start = clock_type::now();
};

std::shared_ptr<ConnState> begin_conn(std::shared_ptr<Service::State> st, std::shared_ptr<const ServiceInfo> info,
                                      const Stream& raw, asio::any_io_executor ex) {
  auto c = std::make_shared<ConnState>();  // shared with the relay's completion, if there is one
  c->st = std::move(st);
  c->info = std::move(info);
  c->entry->ex = std::move(ex);
  c->rec.service = c->info->name;
  c->rec.protocol = c->info->protocol;
  c->rec.client = raw.remote_address();
  c->rec.network = raw.is_datagram() ? "udp" : "tcp";
  {
    std::lock_guard lk(c->st->mu);
    c->st->conns.push_front(c->entry);
    c->it = c->st->conns.begin();
  }
  c->st->total.fetch_add(1, std::memory_order_relaxed);
  c->st->current.fetch_add(1, std::memory_order_relaxed);
  return c;
}

// A finished relay's byte counts and error, into the connection's record.
void add_relay_result(ConnRecord& rec, const BridgeResult& res) {
  rec.bytes_up += res.a_to_b;
  rec.bytes_down += res.b_to_a;
  if (res.ec) rec.ec = res.ec;
}

void end_conn(ConnState& c) {
  auto& st = *c.st;
  auto& rec = c.rec;
  st.in_bytes.fetch_add(rec.bytes_up, std::memory_order_relaxed);
  st.out_bytes.fetch_add(rec.bytes_down, std::memory_order_relaxed);
  const bool failed = (rec.ec && rec.ec != asio::error::eof) || !rec.error.empty();
  if (failed) st.errors.fetch_add(1, std::memory_order_relaxed);
  Logger& log = c.info->logger ? *c.info->logger : Logger::global();
  if (log.enabled(LogLevel::info)) {
    std::string err = rec.error;
    if (rec.ec && rec.ec != asio::error::eof) err = err.empty() ? rec.ec.message() : rec.ec.message() + ": " + err;
    log.log(LogLevel::info, "connection closed",
            {{"service", rec.service},
             {"handler", rec.protocol},
             {"network", rec.network},
             {"client", rec.client.to_string()},
             {"target", rec.target},
             {"route", rec.route},
             {"user", rec.user},
             {"up", std::to_string(rec.bytes_up)},
             {"down", std::to_string(rec.bytes_down)},
             {"duration", format_ms(clock_type::now() - c.start)},
             {"error", err}});
  }
  {
    std::lock_guard lk(st.mu);
    st.conns.erase(c.it);
    st.current.fetch_sub(1, std::memory_order_relaxed);
  }
  st.cv.notify_all();
}

// The relay runs on by itself and ends the connection: the handler's frame (and the spawn's) go
// now, so an idle relayed connection holds no coroutine frame at all. The streams stay in the
// connection's record, which the completion keeps alive.
void start_relay(std::shared_ptr<ConnState> c) {
  ConnRecord::Handoff& h = *c->rec.handoff;
  start_bridge(*h.client, *h.upstream, h.opts, [cs = std::move(c)](BridgeResult res) {
    add_relay_result(cs->rec, res);
    end_conn(*cs);
  });
}

// Closes a connection's client stream on the thread it runs on (following it if it moved).
void close_entry(std::shared_ptr<Service::State> st, std::shared_ptr<ConnEntry> e, asio::any_io_executor on) {
  asio::any_io_executor now;
  {
    std::lock_guard lk(st->mu);
    now = e->ex;
  }
  if (now != on) {
    asio::post(now, [st = std::move(st), e = std::move(e), now]() mutable {
      close_entry(std::move(st), std::move(e), now);
    });
    return;
  }
  if (e->stream) e->stream->close();
}

void park_conn(std::shared_ptr<ConnState> c);

// Serves a new connection (raw: the accepted stream) with its handler, or resumes a parked one
// (resumed), then does what the handler left: parks it again, runs the relay it handed over, or
// ends it.
asio::awaitable<void> serve_conn(std::shared_ptr<Service::State> st, HandlerPtr handler,
                                 std::shared_ptr<const ServiceInfo> info, StreamPtr raw,
                                 std::shared_ptr<ConnState> resumed) {
  std::shared_ptr<ConnState> c = std::move(resumed);
  StreamPtr stream;
  if (!c) {
    c = begin_conn(std::move(st), std::move(info), *raw, raw->get_executor());
    stream = std::make_unique<GuardedStream>(std::move(raw), c->entry);
    if (c->st->stopping) stream->close();
  }
  try {
    if (stream) {
      co_await handler->handle(std::move(stream), c->rec);
    } else {
      const bool again = co_await c->rec.parked->resume(c->rec);
      if (!again) c->rec.parked.reset();
    }
  } catch (const std::exception& e) {
    c->rec.error = e.what();
    c->rec.parked.reset();
  }
  if (c->rec.parked) {
    park_conn(std::move(c));
    co_return;
  }
  if (!c->rec.handoff) {
    end_conn(*c);
    co_return;
  }
  // An upstream whose operations hop to another thread (a stream of a mux session that lives
  // there): the client connection moves to that thread and the relay runs there, with no hop
  // per read or write.
  ConnRecord::Handoff& h = *c->rec.handoff;
  if (const asio::any_io_executor* home = h.upstream->io_home();
      home && h.client->movable() && h.upstream->movable()) {
    const asio::any_io_executor to = *home;
    // The upstream first: it may wait for a write in flight. Between the client's move and the
    // post below nothing suspends, so this frame never holds a socket of the other thread.
    co_await h.upstream->move_to(to);
    co_await h.client->move_to(to);
    {
      std::lock_guard lk(c->st->mu);
      c->entry->ex = to;  // stop() closes the connection there from now on
    }
    asio::post(to, [cs = std::move(c)]() mutable { start_relay(std::move(cs)); });
    co_return;
  }
  start_relay(std::move(c));
}

// Waits in a coroutine until a parked connection's client is readable, for at most its idle
// timeout (which closes the client stream). False when the connection is to end.
asio::awaitable<bool> parked_readable(ParkedConn& p) {
  auto w = co_await close_after(p.client(), p.idle_timeout(), p.client().wait_readable());
  co_return w && !*w;
}

asio::awaitable<void> wait_then_resume(std::shared_ptr<ConnState> c) {
  const bool readable = co_await parked_readable(*c->rec.parked);
  if (!readable) {
    c->rec.parked.reset();
    end_conn(*c);
    co_return;
  }
  co_await serve_conn(nullptr, nullptr, nullptr, nullptr, std::move(c));
}

// Waits, with no coroutine frame, until a parked connection's client is readable, then resumes
// it on a new coroutine. The idle deadline closes the client stream, which ends the wait with an
// error, as stop() does: then the connection ends.
void park_conn(std::shared_ptr<ConnState> c) {
  ParkedConn& p = *c->rec.parked;
  Stream& s = p.client();
  if (!s.has_ready_callback()) {
    // No callback-style readiness on this stream: the same wait in a coroutine.
    asio::co_spawn(s.get_executor(), wait_then_resume(std::move(c)), asio::detached);
    return;
  }
  if (p.idle_timeout().count() > 0) {
    p.idle_deadline.arm(s.get_executor(), p.idle_timeout(), [](void* sp) { static_cast<Stream*>(sp)->close(); }, &s);
  }
  s.async_wait_readable([cs = std::move(c)](std::error_code ec) mutable {
    ParkedConn& pc = *cs->rec.parked;
    pc.idle_deadline.disarm();
    if (ec || pc.idle_deadline.expired()) {
      cs->rec.parked.reset();
      end_conn(*cs);
      return;
    }
    auto ex = pc.client().get_executor();
    asio::co_spawn(ex, serve_conn(nullptr, nullptr, nullptr, nullptr, std::move(cs)), asio::detached);
  });
}

asio::awaitable<void> accept_loop(std::shared_ptr<Service::State> st, Listener* listener, std::size_t shard,
                                  HandlerPtr handler, AdmissionPtr admission,
                                  std::shared_ptr<const ServiceInfo> info) {
  Logger& log = info->logger ? *info->logger : Logger::global();
  const std::string& service = info->name;
  auto delay = std::chrono::milliseconds(5);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!st->stopping) {
    auto r = co_await listener->accept_shard(shard);
    if (!r) {
      if (st->stopping) break;
      // Temporary failures (EMFILE, ENOBUFS, ...): back off instead of spinning.
      log.warn("accept failed", {{"service", service}, {"error", r.error().message()},
                                 {"retry", std::to_string(delay.count()) + "ms"}});
      timer.expires_after(delay);
      co_await timer.async_wait(core::use_tuple);
      delay = std::min(delay * 2, std::chrono::milliseconds(1000));
      continue;
    }
    delay = std::chrono::milliseconds(5);
    StreamPtr s = std::move(*r);
    if (admission && !admission->admit(s->is_datagram() ? "udp" : "tcp", s->remote_address())) {
      log.debug("client not admitted", {{"service", service}, {"client", s->remote_address().to_string()}});
      s->close();
      continue;
    }
    auto ex = s->get_executor();
    asio::co_spawn(ex, serve_conn(st, handler, info, std::move(s), nullptr), asio::detached);
  }
}

struct AcceptLoopDone {
  std::shared_ptr<Service::State> st;
  void operator()(std::exception_ptr) const {
    {
      std::lock_guard lk(st->mu);
      --st->accept_loops;
    }
    st->cv.notify_all();
  }
};
}  // namespace

asio::awaitable<void> run_handler(Handler& handler, StreamPtr conn, ConnRecord& rec) {
  co_await handler.handle(std::move(conn), rec);
  while (rec.parked) {
    const bool readable = co_await parked_readable(*rec.parked);
    if (!readable) {
      rec.parked.reset();
      co_return;
    }
    const bool again = co_await rec.parked->resume(rec);
    if (!again) rec.parked.reset();
  }
  if (!rec.handoff) co_return;
  ConnRecord::Handoff h = std::move(*rec.handoff);
  rec.handoff.reset();
  const BridgeResult res = co_await bridge(*h.client, *h.upstream, h.opts);
  add_relay_result(rec, res);
}

Service::Service(Runtime& rt, ServiceOptions opts, ListenerPtr listener, HandlerPtr handler)
    : rt_(rt), opts_(std::move(opts)), listener_(std::move(listener)), handler_(std::move(handler)),
      state_(std::make_shared<State>()) {}

Service::~Service() {
  stop();
  wait_stopped(std::chrono::milliseconds(2000));
}

std::error_code Service::start() {
  listener_->offer_accept_threads(rt_.size());
  if (auto ec = listener_->listen()) return ec;
  const std::size_t n = listener_->accept_shards();
  {
    std::lock_guard lk(state_->mu);
    state_->accept_loops = static_cast<int>(n);
  }
  auto info = std::make_shared<const ServiceInfo>(ServiceInfo{opts_.name, opts_.protocol, opts_.logger});
  for (std::size_t i = 0; i < n; ++i) {
    asio::co_spawn(listener_->shard_executor(i),
                   accept_loop(state_, listener_.get(), i, handler_, opts_.admission, info),
                   AcceptLoopDone{state_});
  }
  return {};
}

void Service::stop() {
  std::vector<std::pair<std::shared_ptr<ConnEntry>, asio::any_io_executor>> live;
  {
    std::lock_guard lk(state_->mu);
    if (state_->stopping) return;
    state_->stopping = true;
    for (auto& e : state_->conns) live.emplace_back(e, e->ex);
  }
  listener_->close();
  for (auto& [e, ex] : live) {
    asio::post(ex, [st = state_, e = e, ex = ex]() mutable {
      close_entry(std::move(st), std::move(e), std::move(ex));
    });
  }
}

bool Service::wait_stopped(std::chrono::milliseconds max_wait) {
  std::unique_lock lk(state_->mu);
  return state_->cv.wait_for(lk, max_wait, [&] { return state_->accept_loops == 0 && state_->conns.empty(); });
}

Address Service::address() const { return listener_->address(); }

ServiceStats Service::stats() const {
  ServiceStats s;
  s.total_conns = state_->total.load();
  s.current_conns = state_->current.load();
  s.total_errs = state_->errors.load();
  s.input_bytes = state_->in_bytes.load();
  s.output_bytes = state_->out_bytes.load();
  return s;
}

}  // namespace gost
