#include "gost/rforward/rforward.hpp"

#include <algorithm>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "gost/forward/forward.hpp"

namespace gost::rforward {
namespace {

constexpr std::chrono::milliseconds kFirstRetry{1000};
constexpr std::chrono::milliseconds kMaxRetry{5000};

// State shared with close(), which may run on any thread (it is posted to the executor).
struct State {
  explicit State(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  ListenerPtr bound;  // the listener at the far end, while it is up
  Address bound_addr;
  bool closed = false;
};

class RemoteListener final : public Listener {
 public:
  RemoteListener(const ListenerArgs& a, std::string network, BindOptions opts)
      : network_(std::move(network)), addr_(a.addr), router_(a.router), logger_(a.logger),
        service_(a.service), opts_(opts), ex_(a.runtime->next_executor()),
        st_(std::make_shared<State>(ex_)) {}
  ~RemoteListener() override {
    if (st_->bound) st_->bound->close();
  }

  // Nothing is bound locally: the bind happens (and is retried) in accept().
  std::error_code listen() override { return {}; }

  asio::awaitable<Result<StreamPtr>> accept() override {
    auto st = st_;
    std::chrono::milliseconds delay{0};
    for (;;) {
      if (st->closed) co_return make_error_code(errc::closed);
      if (!st->bound) {
        auto r = co_await router_->bind(network_, addr_, opts_);
        if (st->closed) {
          if (r) (*r)->close();
          co_return make_error_code(errc::closed);
        }
        if (!r) {
          delay = delay.count() == 0 ? kFirstRetry : std::min(delay * 2, kMaxRetry);
          log().warn("bind failed, retrying",
                          {{"service", service_}, {"network", network_},
                           {"addr", addr_.to_string()}, {"error", r.error().message()},
                           {"retry", std::to_string(delay.count()) + "ms"}});
          st->timer.expires_after(delay);
          co_await st->timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
          continue;
        }
        delay = std::chrono::milliseconds(0);
        st->bound = std::move(*r);
        st->bound_addr = st->bound->address();
        log().info("bound", {{"service", service_}, {"network", network_},
                                  {"addr", st->bound_addr.to_string()}});
      }
      auto s = co_await st->bound->accept();
      if (s) co_return std::move(*s);
      // The far end went away: bind again.
      if (!st->closed)
        log().warn("bound listener ended, binding again",
                      {{"service", service_}, {"network", network_},
                       {"addr", st->bound_addr.to_string()}, {"error", s.error().message()}});
      if (st->bound) {
        st->bound->close();
        st->bound.reset();
      }
    }
  }

  Address address() const override { return st_->bound ? st_->bound_addr : addr_; }
  asio::any_io_executor get_executor() override { return ex_; }
  void close() noexcept override {
    asio::post(ex_, [st = st_] {
      st->closed = true;
      st->timer.cancel();
      if (st->bound) st->bound->close();
    });
  }

 private:
  Logger& log() { return logger_ ? *logger_ : Logger::global(); }

  std::string network_;
  Address addr_;
  RouterPtr router_;
  LoggerPtr logger_;
  std::string service_;
  BindOptions opts_;
  asio::any_io_executor ex_;
  std::shared_ptr<State> st_;
};

}  // namespace

Result<ListenerPtr, ConfigError> make_remote_listener(const ListenerArgs& a, std::string network) {
  const std::string what = "service \"" + a.service + "\": r" + network + " listener: ";
  if (!a.runtime) return config_error(what + "no runtime");
  if (!a.router) return config_error(what + "no router");
  BindOptions o;
  o.mux = network == "tcp";  // GOST's rtcp always asks for a multiplexed bind
  const Metadata& md = a.metadata;
  o.udp_ttl = md.get_duration("ttl", std::chrono::milliseconds(5000));
  if (o.udp_ttl.count() <= 0) o.udp_ttl = std::chrono::milliseconds(5000);
  auto positive = [&](const char* key, std::size_t def) {
    auto v = md.get_int(key, 0);
    return v > 0 ? static_cast<std::size_t>(v) : def;
  };
  o.udp_buffer = std::clamp<std::size_t>(positive("readBufferSize", 8192), 512, 65535);
  o.udp_queue = positive("readQueueSize", 1024);
  o.backlog = positive("backlog", 128);
  return ListenerPtr(std::make_unique<RemoteListener>(a, std::move(network), o));
}

void register_module(Registry& r) {
  r.add_listener("rtcp", [](const ListenerArgs& a) { return make_remote_listener(a, "tcp"); });
  r.add_listener("rudp", [](const ListenerArgs& a) { return make_remote_listener(a, "udp"); });
  // What arrives on the remote port goes to the service's forward target, dialed directly (the
  // chain belongs to the listener).
  r.add_handler("rtcp", [](const HandlerArgs& a) { return forward::make_forward_handler(a, "tcp"); });
  r.add_handler("rudp", [](const HandlerArgs& a) { return forward::make_forward_handler(a, "udp"); });
}

}  // namespace gost::rforward
