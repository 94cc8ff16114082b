#include "gost/forward/forward.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "core/buffer_pool.hpp"
#include "core/transports.hpp"
#include "gost/core/bridge.hpp"

namespace gost::forward {
namespace {

class ForwardHandler final : public Handler {
 public:
  ForwardHandler(const HandlerArgs& a, std::string network)
      : router_(a.router), hop_(a.forwarder), bypass_(a.bypass), network_(std::move(network)),
        ttl_(a.metadata.get_duration("ttl", std::chrono::milliseconds(0))),
        hash_host_(a.metadata.get_string("hash") == "host") {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    rec.network = network_;
    // What a TCP client sent before the upstream is dialled is read now, without waiting, and
    // written right after the connect: the target finds it there when it accepts, instead of
    // waking once for the connection and again for the bytes. Nothing is held when there is
    // nothing to read, and a client that waits for the server to speak first is not delayed.
    std::optional<core::PooledBuffer> early;
    std::size_t early_n = 0;
    if (network_ == "tcp") {
      if (auto* sock = conn->tcp_socket()) {
        early.emplace();
        const ssize_t n = ::recv(sock->native_handle(), early->data(), early->size(), MSG_DONTWAIT);
        if (n > 0) {
          early_n = static_cast<std::size_t>(n);
        } else {
          early.reset();
          if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            rec.ec = core::sys_error(errno);
            conn->close();
            co_return;
          }
        }
      }
    }
    SelectOptions sel;
    sel.network = network_;
    sel.client = rec.client;
    // Try each forward target at most once; failed targets are marked so the selector's
    // fail filter moves on to the next.
    const std::size_t attempts = std::max<std::size_t>(1, hop_->nodes.size());
    StreamPtr out;
    for (std::size_t i = 0; i < attempts && !out; ++i) {
      NodePtr node = hop_->select(sel);
      if (!node) {
        rec.ec = make_error_code(errc::no_route);
        break;
      }
      auto target = Address::parse(node->addr);
      if (!target) {
        rec.ec = target.error();
        break;
      }
      rec.target = node->addr;
      if (bypass_ && bypass_->contains(network_, node->addr)) {
        rec.ec = make_error_code(errc::bypassed);
        break;
      }
      SelectOptions csel = sel;
      csel.addr = node->addr;
      csel.host = target->host;
      if (hash_host_) csel.hash_key = target->host;
      DialInfo info;
      auto r = co_await router_->dial(network_, *target, csel, &info);
      rec.route = info.route;
      if (!r) {
        node->marker.mark();
        rec.ec = r.error();
        continue;
      }
      node->marker.reset();
      rec.ec = {};
      out = std::move(*r);
    }
    if (!out) {
      conn->close();
      co_return;
    }
    BridgeOptions bo;
    if (early_n > 0 && out->io_home()) {
      // The upstream's operations hop to another thread (a stream of a mux session there), and
      // the relay will move there: the bytes go with the client stream and the relay writes
      // them from that thread, so the handler neither hops with them nor waits for the write.
      const auto* p = early->data();
      conn = make_prefixed(std::move(conn), std::vector<unsigned char>(p, p + early_n));
      early.reset();
      early_n = 0;
      bo.a_has_data = true;
    }
    if (early_n > 0) {
      auto wec = co_await write_all(*out, asio::buffer(early->data(), early_n));
      early.reset();
      if (wec) {
        rec.ec = wec;
        out->close();
        conn->close();
        co_return;
      }
      rec.bytes_up += early_n;
    }
    if (network_ == "udp") bo.idle_timeout = ttl_;
    rec.relay(std::move(conn), std::move(out), bo);
  }

 private:
  RouterPtr router_;
  HopPtr hop_;
  BypassPtr bypass_;
  std::string network_;
  std::chrono::milliseconds ttl_;
  bool hash_host_;
};

}  // namespace

Result<HandlerPtr, ConfigError> make_forward_handler(const HandlerArgs& args, std::string network) {
  if (!args.forwarder || args.forwarder->nodes.empty()) {
    return config_error("service \"" + args.service + "\": the " + network +
                        " forward handler needs at least one forward target (forwarder.nodes)");
  }
  if (!args.router) return config_error("service \"" + args.service + "\": no router");
  return HandlerPtr(std::make_shared<ForwardHandler>(args, std::move(network)));
}

void register_module(Registry& r) {
  auto tcp = [](const HandlerArgs& a) { return make_forward_handler(a, "tcp"); };
  r.add_handler("tcp", tcp);
  r.add_handler("forward", tcp);
  r.add_handler("udp", [](const HandlerArgs& a) { return make_forward_handler(a, "udp"); });
}

}  // namespace gost::forward
